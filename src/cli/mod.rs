//! The `usersync-bot` command line.

mod demo;
mod healthcheck;
mod send;

pub use demo::{demo, DemoArgs};
pub use healthcheck::{healthcheck, readyz_url, HealthcheckArgs, HEALTHCHECK_TIMEOUT};
pub use send::{send, to_terminal, SendArgs};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::simulator::{SimAuth, SimSettings, Simulator, TriggerAnswerMode};
use crate::usersync::ApiFlavour;

/// Slack and Mattermost bot for the User Sync app of Atlassian Data Center products.
#[derive(Debug, Parser)]
#[command(name = "usersync-bot", version, about, long_about = None)]
pub struct Cli {
    /// Log lines as text for people, or as JSON lines for a log pipeline.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "USERSYNC_BOT_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start everything embedded (simulated product, temp store, local admin) to try the bot.
    Demo(DemoArgs),
    /// Play Slack: send a signed slash command to a running bot and print the replies.
    Send(SendArgs),
    /// Serve the bot: Slack slash commands on POST /slack/commands.
    Serve(ConfigArgs),
    /// Validate a configuration file without serving; lists every problem.
    CheckConfig(ConfigArgs),
    /// Run a simulator of the User Sync REST API (for development, tests and demos).
    Simulate(SimulateArgs),
    /// Ask the running bot's /readyz (for a container HEALTHCHECK): exit 0 when ready.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML; `${VAR}` is taken from the environment).
    #[arg(long, env = "USERSYNC_BOT_CONFIG", default_value = crate::config::DEFAULT_CONFIG_FILE)]
    pub config: PathBuf,
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

/// Loads the configuration, or says everything wrong with it.
fn load_config(
    path: &std::path::Path,
) -> Result<crate::config::Config, Box<dyn std::error::Error>> {
    crate::config::Config::load(path).map_err(|e| {
        let list: Vec<String> = e.problems.iter().map(|p| format!("  - {p}")).collect();
        format!("{} has problems:\n{}", path.display(), list.join("\n")).into()
    })
}

/// `check-config`: the file is valid and its store can be reached, with a schema this
/// binary knows. The storage URL is shown without its password.
pub async fn check_config(args: ConfigArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = load_config(&args.config)?;
    crate::store::check(&config.storage_url).await?;
    let metrics = config
        .metrics_listen
        .map(|m| format!(", metrics_listen {m}"))
        .unwrap_or_default();
    // The app token's shape was checked with the file; it is never shown.
    let socket = match &config.slack {
        Some(slack) if slack.socket_mode() => {
            let http = if slack.signing_secrets.is_empty() {
                "HTTP endpoints off"
            } else {
                "HTTP endpoints on"
            };
            format!(", slack socket mode (app token set, {http})")
        }
        _ => String::new(),
    };
    println!(
        "{} is valid: listen {}{metrics}{socket}, {} instance(s) ({}), storage {}",
        args.config.display(),
        config.listen,
        config.instances.len(),
        config
            .instances
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        crate::store::redact_url(&config.storage_url)
    );
    Ok(())
}

/// `serve`: runs the bot until Ctrl-C or SIGTERM.
pub async fn serve(args: ConfigArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = load_config(&args.config)?;
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bot = crate::server::RunningBot::start(config, listener).await?;
    tracing::info!(addr = %bot.addr, "usersync-bot serving Slack commands on POST /slack/commands");
    if let Some(metrics) = bot.metrics_addr {
        tracing::info!(addr = %metrics, "/healthz, /readyz and /metrics served here");
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    bot.stop().await;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
