//! `usersync-bot demo`: everything embedded — the simulator in-process, a store in a temp
//! directory, and a configuration in which the local user is admin.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::send::demo_config_path;
use crate::server::RunningBot;
use crate::simulator::{SimSettings, Simulator};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the bot listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Where the simulated product listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub simulator: SocketAddr,
    /// How long a simulated sync takes.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub sync_duration: Duration,
}

pub async fn demo(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator {
        settings: SimSettings {
            sync_duration: args.sync_duration,
            ..SimSettings::default()
        },
        ..Simulator::default()
    }
    .start(args.simulator)
    .await
    .map_err(|e| format!("cannot start the simulator on {}: {e}", args.simulator))?;

    let config_path = demo_config_path();
    let dir = config_path
        .parent()
        .ok_or("the temp directory has no parent")?
        .to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    // A fresh secret each run: it only has to match between this process and `send`.
    let secret = format!("demo-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let mm_token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let text = format!(
        r#"# Written by `usersync-bot demo`; `usersync-bot send` reads it.
listen = "{listen}"

[storage]
url = "sqlite://{db}"

[slack]
signing_secrets = ["{secret}"]
response_url_hosts = ["127.0.0.1"]

[mattermost]
command_tokens = ["{mm_token}"]
url = "http://127.0.0.1"

[[instances]]
name = "jira"
base_url = "{sim}"
username = "admin"
password = "admin"
default = true

[roles]
admin = ["slack:ULOCAL", "mattermost:ULOCAL"]
viewer = ["*"]

[jobs]
poll_interval = "2s"
"#,
        listen = args.listen,
        db = db.display(),
        sim = sim.base_url(),
    );
    std::fs::write(&config_path, text)?;
    let config = crate::config::Config::load(&config_path).map_err(|e| e.problems.join("; "))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e} (try --listen 127.0.0.1:3001)",
                args.listen
            )
        })?;
    let bot = RunningBot::start(config, listener).await?;

    println!(
        "usersync-bot demo is running.\n\
         \n  bot:        http://{bot}/slack/commands\n  product:    {sim} (simulated Jira with User Sync; admin/admin)\n  config:     {config}\n\
         \nIn another terminal, play Slack (you are slack:ULOCAL, an admin):\n\
         \n  cargo run --release -- send \"/usersync help\"\
         \n  cargo run --release -- send \"/usersync connectors\"\
         \n  cargo run --release -- send \"/usersync status azure\"\
         \n  cargo run --release -- send \"/usersync run okta\"   # posted in the channel; send waits for its outcome (a sync takes {sync} here)\
         \n  cargo run --release -- send \"/usersync results 92\"\
         \n  cargo run --release -- send --as USOMEONE \"/usersync run okta\"   # a viewer: refused\
         \n  cargo run --release -- send --platform mattermost \"/usersync status okta\"\
         \n\nCtrl-C stops it.",
        bot = bot.addr,
        sim = sim.base_url(),
        config = config_path.display(),
        sync = humantime::format_duration(args.sync_duration),
    );
    super::shutdown_signal().await;
    bot.stop().await;
    sim.stop().await;
    Ok(())
}
