//! Load generator: one synthetic publisher and N lean viewers over real signalling and real UDP
//! on loopback, against lectern (a `lectern serve` child process) and Janus (a `janus` child
//! process, Debian package `janus`), one after the other with the same load; prints both
//! side by side with lectern/Janus ratios.
//!
//! ```text
//! cargo build --release -p lectern -p lectern-testkit
//! target/release/lectern-load --viewers 400 --seconds 20
//! target/release/lectern-load --target lectern --viewers 200 --ramp 50 --json
//! ```
//!
//! Flags: `--target lectern|janus|both` (default both), `--viewers N` (20), `--ramp V` viewers
//! started per second (50), `--seconds S` steady phase (10), `--video-kbps K` (1500),
//! `--json` (one object `{"lectern": {...}, "janus": {...}, "ratios": {...}}`),
//! `--server PATH` (default: `lectern` beside this binary), `--janus PATH` (`$LECTERN_JANUS` or `/usr/bin/janus`),
//! `--janus-loops N` (Janus media threads, default the core count), `--viewer-threads N`
//! (threads for the viewers, 1), `--read-interval-ms MS` (viewers read their sockets on a timer
//! every MS, 20 by default; 0 = on readiness), `--join-timeout S` (30).
//!
//! Janus gathers no ICE candidates on loopback interfaces, so its run adds 127.0.0.2 on an `ifb`
//! interface (`lectern-j0`) and on `lo`, and removes both afterwards: run as root (see
//! `lectern_testkit::janus`). What each figure means: `lectern_testkit::load`. `LECTERN_LOG`
//! sets the generator's own log filter; `LECTERN_JANUS_DEBUG` Janus's debug level and
//! `LECTERN_JANUS_KEEP=1` keeps Janus's folder (configuration and log) in the temp dir.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail};
use lectern_testkit::load::{self, LoadOptions, Target};

const USAGE: &str =
    "lectern-load [--target lectern|janus|both] [--viewers N] [--ramp VIEWERS_PER_S] \
[--seconds S] [--video-kbps K] [--json] [--server PATH] [--janus PATH] [--janus-loops N] [--viewer-threads N] [--read-interval-ms MS] [--join-timeout S]";

fn parse_args() -> anyhow::Result<(Vec<Target>, LoadOptions, bool)> {
    let mut opts = LoadOptions::default();
    let mut targets = vec![Target::Lectern, Target::Janus];
    let mut json = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => {
                targets = match value()?.as_str() {
                    "lectern" => vec![Target::Lectern],
                    "janus" => vec![Target::Janus],
                    "both" => vec![Target::Lectern, Target::Janus],
                    other => bail!("unknown target {other} (lectern, janus or both)"),
                }
            }
            "--viewers" => opts.viewers = value()?.parse()?,
            "--ramp" => opts.ramp = value()?.parse()?,
            "--seconds" => opts.seconds = value()?.parse()?,
            "--video-kbps" => opts.video_kbps = value()?.parse()?,
            "--server" => opts.server = PathBuf::from(value()?),
            "--janus" => opts.janus.binary = PathBuf::from(value()?),
            "--viewer-threads" => opts.viewer_threads = value()?.parse()?,
            "--read-interval-ms" => {
                let ms: f64 = value()?.parse()?;
                opts.read_interval = (ms > 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
            }
            "--janus-loops" => opts.janus.event_loops = value()?.parse()?,
            "--join-timeout" => opts.join_timeout = Duration::from_secs_f64(value()?.parse()?),
            "--json" => json = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if opts.ramp <= 0.0 {
        bail!("--ramp must be positive");
    }
    Ok((targets, opts, json))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Ok(filter) = std::env::var("LECTERN_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let (targets, opts, json) = parse_args()?;
    let (lectern, janus) = load::run(&targets, &opts).await?;
    if json {
        println!(
            "{}",
            load::combined_json_text(lectern.as_ref(), janus.as_ref())
        );
    } else {
        print!("{}", load::table(lectern.as_ref(), janus.as_ref()));
    }
    Ok(())
}
