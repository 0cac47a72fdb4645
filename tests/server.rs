//! `lectern` as a child process for the end-to-end tests: the same command line as the server
//! binary (`serve` and its flags), built with the test crate so that its path is known to the
//! tests (`CARGO_BIN_EXE_lectern-e2e-server`).

#![forbid(unsafe_code)]

use clap::Parser;
use lectern::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LECTERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let server = lectern::Server::start(args).await?;
            server.print_banner();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = server.closed() => {}
            }
            server.shutdown().await;
            Ok(())
        }
        Command::Links(args) => lectern::print_links(&args),
        Command::Export(args) => lectern::export_recording(&args).await,
        Command::Course(cmd) => lectern::admin::course(&cmd),
        Command::Session(cmd) => lectern::admin::session(&cmd),
        Command::Invite(cmd) => lectern::admin::invite(&cmd),
    }
}
