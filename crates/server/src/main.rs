//! The `lectern` binary.

#![forbid(unsafe_code)]

use clap::Parser;
use lectern::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LECTERN_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,rtc=warn,webrtc=warn")
            }),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let server = lectern::Server::start(args).await?;
            server.print_banner();
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = server.closed() => {}
            }
            tracing::info!("shutting down");
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
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
