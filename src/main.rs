use clap::Parser;
use tracing_subscriber::EnvFilter;

use usersync_bot::cli::{self, Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
