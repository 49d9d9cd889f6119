use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use usersync_bot::cli::{self, Cli, Command, LogFormat};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: a log file or journald gets no escape codes (and
        // each request's span is cheaper to record without them).
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // One JSON object a line, with the fields of the spans it happened in (a request's
        // trigger id among them).
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let result = match cli.command {
        Command::Demo(args) => cli::demo(args).await,
        Command::Send(args) => cli::send(args).await,
        Command::Serve(args) => cli::serve(args).await,
        Command::CheckConfig(args) => cli::check_config(args).await,
        Command::Simulate(args) => cli::simulate(args).await,
        Command::Healthcheck(args) => return cli::healthcheck(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
