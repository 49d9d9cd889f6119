//! usersync-bot: a Slack and Mattermost bot for the User Sync app of Atlassian Data Center
//! products.
//!
//! - [`usersync`]: the typed client of the User Sync REST API.
//! - [`simulator`]: a stateful fake of that API, for development, tests and the demo.
//! - [`cli`]: the command line of the `usersync-bot` binary.

pub mod cli;
pub mod simulator;
pub mod usersync;
