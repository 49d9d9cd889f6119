//! The `usersync-bot` command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::simulator::{SimAuth, SimSettings, Simulator, TriggerAnswerMode};
use crate::usersync::ApiFlavour;

/// Slack and Mattermost bot for the User Sync app of Atlassian Data Center products.
#[derive(Debug, Parser)]
#[command(name = "usersync-bot", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a simulator of the User Sync REST API (for development, tests and demos).
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// API flavour to speak: "2" (User Sync 2.x) or "1.9".
    #[arg(long, default_value = "2", value_parser = parse_api)]
    pub api: ApiFlavour,
    /// How long a sync takes from trigger to DONE (e.g. 20s, 2m).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub sync_duration: Duration,
    /// Start a sync of every enabled connector at this interval, as a schedule would
    /// (e.g. 5m); off when not given.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub schedule_interval: Option<Duration>,
    /// What a sync trigger answers: empty, status or text.
    #[arg(long, default_value = "empty", value_parser = parse_trigger_answer)]
    pub trigger_answer: TriggerAnswerMode,
    /// Username accepted with HTTP Basic.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Password accepted with HTTP Basic.
    #[arg(
        long,
        env = "USERSYNC_SIM_PASSWORD",
        default_value = "admin",
        hide_env_values = true
    )]
    pub password: String,
    /// Personal access token accepted as `Authorization: Bearer …`.
    #[arg(
        long,
        env = "USERSYNC_SIM_TOKEN",
        default_value = "sim-personal-access-token",
        hide_env_values = true
    )]
    pub token: String,
}

fn parse_api(s: &str) -> Result<ApiFlavour, String> {
    s.parse()
}

fn parse_trigger_answer(s: &str) -> Result<TriggerAnswerMode, String> {
    match s {
        "empty" => Ok(TriggerAnswerMode::Empty),
        "status" => Ok(TriggerAnswerMode::Status),
        "text" => Ok(TriggerAnswerMode::Text),
        other => Err(format!("{other:?} is not one of empty, status, text")),
    }
}

/// Runs the simulator until Ctrl-C.
pub async fn simulate(args: SimulateArgs) -> Result<(), Box<dyn std::error::Error>> {
    let simulator = Simulator {
        api: args.api,
        auth: SimAuth {
            username: args.username,
            password: args.password,
            token: args.token,
        },
        settings: SimSettings {
            sync_duration: args.sync_duration,
            schedule_interval: args.schedule_interval,
            trigger_answer: args.trigger_answer,
        },
    };
    let handle = simulator
        .start(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!(
        "User Sync simulator (API {}) listening on {}\n\
         try:  curl -u {}:… {}/rest/samlsso-admin/1.0/usersync/connector/\n\
         admin endpoints under {}{} (calls, faults, settings)\n\
         Ctrl-C stops it.",
        args.api.as_str(),
        handle.base_url(),
        handle.state().auth.username,
        handle.base_url().as_str().trim_end_matches('/'),
        handle.base_url().as_str().trim_end_matches('/'),
        crate::simulator::ADMIN_PREFIX,
    );
    tokio::signal::ctrl_c().await?;
    handle.stop().await;
    Ok(())
}
