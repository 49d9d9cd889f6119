//! The integration tests, one binary: a bot on a random port, simulators of the User Sync
//! API, and fake Slack and Mattermost servers that record what a person would read.

// A failed set-up step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

mod support;

mod architecture;
mod audit;
mod canary;
mod changes;
mod cli;
mod client_against_simulator;
mod directory;
mod faults;
mod health;
mod history;
mod injection;
mod jobs;
mod kill;
mod locks;
mod mattermost;
mod metrics;
mod notify;
mod post_once;
mod postgres;
mod properties;
mod replicas;
mod shutdown;
mod simulator_http;
mod slack_commands;
mod slack_verification;
mod snapshots;
mod socket_mode;
mod store_faults;
mod undeliverable;
mod unprivileged;
