//! usersync-bot: a Slack and Mattermost bot for the User Sync app of Atlassian Data Center
//! products.
//!
//! A request flows: platform adapter ([`chat`], verifies) → [`dispatch`] (parse with
//! [`command`], decide with [`authz`], run a [`handlers`] function, audit to [`store`]) →
//! a neutral [`message`] → the platform's renderer. [`usersync`] is the client of the
//! product's API; [`simulator`] is a fake of that API for development, tests and the demo.

pub mod app;
pub mod authz;
pub mod chat;
pub mod cli;
pub mod command;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod handlers;
pub mod jobs;
pub mod message;
pub mod notify;
pub mod post_once;
pub mod reply;
pub mod revisions;
pub mod server;
pub mod signing;
pub mod simulator;
pub mod store;
pub mod usersync;
