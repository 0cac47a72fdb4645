//! Load generator: starts a `lectern serve` process on loopback, connects one headless
//! publisher and N headless viewers through the real signalling and media path, and reports the
//! server's CPU time per forwarded packet, forwarding latency and join time.
//!
//! ```text
//! cargo build --release -p lectern -p lectern-testkit
//! target/release/lectern-load --viewers 20 --seconds 10
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use lectern_proto::{SessionId, Source};
use lectern_testkit::{Publisher, PublisherOptions, Viewer, ViewerOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

struct Args {
    server: PathBuf,
    viewers: usize,
    seconds: u64,
    video_kbps: u32,
    json: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        server: std::env::current_exe()?
            .parent()
            .map(|d| d.join("lectern"))
            .unwrap_or_else(|| PathBuf::from("lectern")),
        viewers: 20,
        seconds: 10,
        video_kbps: 1500,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => a.server = PathBuf::from(value()?),
            "--viewers" => a.viewers = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--video-kbps" => a.video_kbps = value()?.parse()?,
            "--json" => a.json = true,
            "--help" | "-h" => {
                println!("lectern-load [--server PATH] [--viewers N] [--seconds S] [--video-kbps K] [--json]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// User + system CPU time of a process, from /proc.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().ok_or_else(|| anyhow!("bad stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: u64 = f.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    // Clock ticks are 100 Hz on Linux.
    Ok(Duration::from_millis((utime + stime) * 10))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn forwarded(http: &str) -> anyhow::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(http).await?;
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    body.lines()
        .find_map(|l| l.strip_prefix("lectern_rtp_packets_forwarded_total "))
        .ok_or_else(|| anyhow!("no counter in /metrics"))?
        .trim()
        .parse()
        .map_err(Into::into)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if !args.server.exists() {
        bail!(
            "no server binary at {} (build it: cargo build --release -p lectern)",
            args.server.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("lectern-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut child = tokio::process::Command::new(&args.server)
        .args(["serve", "--http", "127.0.0.1:0", "--media", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&dir)
        .env("LECTERN_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server")?;
    let pid = child.id().ok_or_else(|| anyhow!("server exited"))?;
    let mut lines = BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("stdout"))?).lines();
    let (mut http, mut session, mut fkey, mut pkey) = (None, None, None, None);
    while let Some(line) =
        tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await??
    {
        let line = line.trim();
        if let Some(u) = line.strip_prefix("web:") {
            http = Some(
                u.trim()
                    .trim_start_matches("http://")
                    .replace("localhost", "127.0.0.1"),
            );
        }
        for (prefix, slot) in [("facilitator:", &mut fkey), ("participant:", &mut pkey)] {
            if let Some(link) = line.strip_prefix(prefix) {
                let (path, key) = link
                    .trim()
                    .split_once("#k=")
                    .ok_or_else(|| anyhow!("bad link"))?;
                *slot = Some(key.to_string());
                session = Some(
                    path.rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .parse::<SessionId>()?,
                );
            }
        }
        if http.is_some() && fkey.is_some() && pkey.is_some() {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (http, session, fkey, pkey) = (
        http.ok_or_else(|| anyhow!("no web address printed"))?,
        session.ok_or_else(|| anyhow!("no session printed"))?,
        fkey.ok_or_else(|| anyhow!("no facilitator link"))?,
        pkey.ok_or_else(|| anyhow!("no participant link"))?,
    );
    let ws = format!("ws://{http}/ws");
    let rss_idle = rss_kib(pid);

    let publisher = Publisher::start(
        &ws,
        session,
        &fkey,
        PublisherOptions {
            video_kbps: args.video_kbps,
            ..Default::default()
        },
    )
    .await?;
    let cam = publisher
        .track(Source::Camera)
        .ok_or_else(|| anyhow!("no camera track"))?;
    let mut viewers = Vec::new();
    for i in 0..args.viewers {
        viewers.push(
            Viewer::join(
                &ws,
                session,
                &pkey,
                ViewerOptions {
                    name: format!("viewer {i}"),
                    keep_packets: true,
                    ..Default::default()
                },
            )
            .await?,
        );
    }
    for v in &viewers {
        v.wait_for_packets(cam, 1, Duration::from_secs(30)).await?;
    }
    let mut joins: Vec<u64> = viewers
        .iter()
        .filter_map(|v| v.first_media_ns().map(|t| (t - v.started_ns) / 1000))
        .collect();
    joins.sort_unstable();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let cpu0 = cpu_time(pid)?;
    let fwd0 = forwarded(&http).await?;
    let t0 = Instant::now();
    let steady_from = lectern_testkit::media::now_ns();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let cpu1 = cpu_time(pid)?;
    let fwd1 = forwarded(&http).await?;
    let wall = t0.elapsed();
    let steady_to = lectern_testkit::media::now_ns();
    let rss = rss_kib(pid);

    let mut lat: Vec<u64> = viewers
        .iter()
        .flat_map(|v| v.received())
        .filter(|r| r.sent_ns >= steady_from && r.sent_ns < steady_to && r.index != u64::MAX)
        .map(|r| r.recv_ns.saturating_sub(r.sent_ns) / 1000)
        .collect();
    lat.sort_unstable();
    let packets = fwd1 - fwd0;
    let cpu = cpu1 - cpu0;
    let us_per_packet = cpu.as_secs_f64() * 1e6 / packets.max(1) as f64;
    let pps = packets as f64 / wall.as_secs_f64();
    let report = serde_json::json!({
        "viewers": args.viewers,
        "seconds": wall.as_secs_f64(),
        "video_kbps": args.video_kbps,
        "forwarded_packets": packets,
        "forwarded_pps": pps,
        "server_cpu_seconds": cpu.as_secs_f64(),
        "server_cpu_us_per_packet": us_per_packet,
        "server_cpu_share_of_core": cpu.as_secs_f64() / wall.as_secs_f64(),
        "latency_us_p50": percentile(&lat, 0.5),
        "latency_us_p99": percentile(&lat, 0.99),
        "join_to_first_packet_ms_p50": percentile(&joins, 0.5) as f64 / 1000.0,
        "join_to_first_packet_ms_p95": percentile(&joins, 0.95) as f64 / 1000.0,
        "server_rss_kib_idle": rss_idle,
        "server_rss_kib": rss,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("viewers                      {}", args.viewers);
        println!("steady phase                 {:.1} s", wall.as_secs_f64());
        println!("forwarded                    {packets} packets ({pps:.0}/s)");
        println!(
            "server CPU                   {:.3} s ({:.1}% of a core)",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
        println!("server CPU per packet        {us_per_packet:.2} µs");
        println!(
            "latency p50 / p99            {} / {} µs (includes the load generator)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
        println!(
            "join → first packet p50/p95  {:.0} / {:.0} ms",
            percentile(&joins, 0.5) as f64 / 1000.0,
            percentile(&joins, 0.95) as f64 / 1000.0
        );
        println!(
            "server RSS                   {} KiB idle, {} KiB loaded",
            rss_idle, rss
        );
        println!("{report}");
    }
    publisher.stop().await?;
    for v in viewers {
        v.stop().await?;
    }
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
