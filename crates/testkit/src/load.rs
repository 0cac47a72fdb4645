//! The load generator: one synthetic publisher and N [`BenchViewer`]s over real signalling and
//! real UDP on loopback, against lectern (a `lectern serve` child process) or Janus (a `janus`
//! child process, see [`crate::janus`]), one target after the other with the same load.
//!
//! Per target: start the server, start the publisher (`video_kbps` VP8 at 30 fps with a keyframe
//! every 3 s, plus Opus every 20 ms), start viewers at `ramp` per second, wait until every viewer
//! receives audio and video, settle, then measure a steady phase of `seconds`:
//! - server CPU (user + system from /proc/PID/stat) per packet the viewers received, its share
//!   of a core, and for lectern also per packet of its own forwarded counter;
//! - packets and Mbit/s the viewers received, loss from sequence gaps;
//! - forwarding latency: the kernel's receive time at the viewer's socket (`SO_TIMESTAMPNS`)
//!   − the send stamp in the payload (one host clock), so the viewers' own reading delay is
//!   not in it; the read latency (when the viewer read it) beside it, and the generator's own
//!   CPU share and CPU per received packet, since the generator shares the machine; for lectern, the SFU's own fan-out time from `lectern_fanout_seconds`
//!   when the server exports it;
//! - join time: signalling start → first media packet at the viewer;
//! - server RSS idle (before the publisher) and loaded.
//!
//! ```text
//! cargo build --release -p lectern -p lectern-testkit
//! target/release/lectern-load --viewers 400 --seconds 20
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use lectern_proto::SessionId;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::bench_viewer::{BenchOptions, BenchViewer, LecternSubscribe, Window};
use crate::hist::Histogram;
use crate::janus::{JanusOptions, JanusPublish, JanusServer, JanusSubscribe, FEED};
use crate::{LecternPublish, Publisher, PublisherOptions};

/// Which server to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Lectern,
    Janus,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Lectern => "lectern",
            Target::Janus => "janus",
        }
    }
}

/// Settings of a load run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub viewers: usize,
    /// Viewers started per second.
    pub ramp: f64,
    /// Length of the steady phase.
    pub seconds: f64,
    pub video_kbps: u32,
    /// The `lectern` binary.
    pub server: PathBuf,
    pub janus: JanusOptions,
    /// How long to wait, after the last viewer started, for every viewer to receive media.
    pub join_timeout: Duration,
    /// Pause between "all viewers receive" and the steady phase.
    pub settle: Duration,
    /// Threads that run the viewers, each a single-threaded runtime (viewers are dealt out
    /// round robin); the publisher stays on the caller's runtime.
    pub viewer_threads: usize,
    /// How the viewers read their sockets: on a timer (default every 20 ms, see
    /// [`BenchOptions::read_interval`]) or, with `None`, on readiness.
    pub read_interval: Option<Duration>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            viewers: 20,
            ramp: 50.0,
            seconds: 10.0,
            video_kbps: 1500,
            server: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("lectern")))
                .unwrap_or_else(|| PathBuf::from("lectern")),
            janus: JanusOptions::default(),
            join_timeout: Duration::from_secs(30),
            settle: Duration::from_secs(1),
            viewer_threads: 1,
            read_interval: Some(Duration::from_millis(20)),
        }
    }
}

/// The figures of one target. Every field is always present in the JSON; figures a target
/// cannot give are `null`.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    pub target: Target,
    pub viewers: u64,
    /// Viewers that received audio and video before the steady phase.
    pub viewers_receiving: u64,
    pub steady_seconds: f64,
    pub video_kbps: u64,
    /// Janus's static event loops (media threads); lectern: null.
    pub janus_event_loops: Option<u64>,
    /// Packets the publisher sent in the steady phase.
    pub publisher_packets: u64,
    /// RTP packets the viewers received (and decrypted) in the steady phase: the forwarded
    /// packets, counted the same way for every target.
    pub received_packets: u64,
    pub received_video_packets: u64,
    pub received_audio_packets: u64,
    pub received_pps: f64,
    /// SRTP bytes the viewers received, as Mbit/s.
    pub received_mbps: f64,
    /// lectern's own `lectern_rtp_packets_forwarded_total` over the steady phase.
    pub server_counted_packets: Option<u64>,
    pub server_counted_pps: Option<f64>,
    /// lectern's `lectern_send_drops_total` and `lectern_inbox_drops_total` over the steady
    /// phase, when it exports them.
    pub server_send_drops: Option<u64>,
    pub server_inbox_drops: Option<u64>,
    pub server_cpu_seconds: f64,
    /// Server CPU time / wall time (1.0 = one core busy).
    pub server_cpu_share: f64,
    /// Server CPU µs per packet the viewers received.
    pub server_cpu_us_per_packet: f64,
    /// Server CPU µs per packet of the server's own counter (lectern).
    pub server_cpu_us_per_counted_packet: Option<f64>,
    /// Kernel receive time at the viewer's socket (`SO_TIMESTAMPNS`) − send stamp in the
    /// payload: publisher's send path + server + loopback, not the viewer's reading delay.
    pub latency_us_p50: u64,
    pub latency_us_p99: u64,
    pub latency_us_max: u64,
    /// The time the viewer read the packet − send stamp (adds the generator's own queueing).
    pub read_latency_us_p50: u64,
    pub read_latency_us_p99: u64,
    /// The viewers' read interval (null: on readiness).
    pub read_interval_ms: Option<f64>,
    /// The SFU's own fan-out time (lectern's `lectern_fanout_seconds`, when exported).
    pub fanout_us_p50: Option<f64>,
    pub fanout_us_p99: Option<f64>,
    /// The load generator's own CPU (publisher + viewers) in the steady phase.
    pub generator_cpu_share: f64,
    pub generator_cpu_us_per_packet: f64,
    /// Signalling start → first media packet.
    pub join_ms_p50: f64,
    pub join_ms_p95: f64,
    pub join_ms_max: f64,
    /// Packets the sequence numbers say were sent to the viewers in the steady phase.
    pub expected_packets: u64,
    pub lost_packets: u64,
    /// lost / expected.
    pub loss: f64,
    pub decrypt_errors: u64,
    /// Over the whole run: datagrams the viewers handed to their `rtc` connections (STUN,
    /// DTLS, RTCP), and datagrams per socket wake-up.
    pub rtc_datagrams: u64,
    pub datagrams_per_wakeup: f64,
    /// The kernel's UDP counters over the steady phase (whole machine, so only meaningful when
    /// nothing else runs): datagrams dropped because a receive buffer was full (viewers falling
    /// behind) or a send buffer was full (the server sending faster than the kernel drains).
    pub udp_rcvbuf_errors: u64,
    pub udp_sndbuf_errors: u64,
    pub server_rss_kib_idle: u64,
    pub server_rss_kib_loaded: u64,
    pub server_rss_kib_per_viewer: f64,
    /// Viewers that stopped with an error, and the first error.
    pub viewer_errors: u64,
    pub first_viewer_error: Option<String>,
    /// Whether the publisher was still publishing at the end, and why not.
    pub publisher_error: Option<String>,
}

impl TargetReport {
    /// The report as a JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// lectern / Janus for every numeric figure both targets have (null where Janus's is 0).
pub fn ratios(lectern: &TargetReport, janus: &TargetReport) -> Value {
    let (l, j) = (lectern.to_json(), janus.to_json());
    let mut out = serde_json::Map::new();
    if let (Some(l), Some(j)) = (l.as_object(), j.as_object()) {
        for (k, lv) in l {
            if matches!(k.as_str(), "viewers" | "video_kbps" | "steady_seconds") {
                continue;
            }
            if let (Some(a), Some(b)) = (lv.as_f64(), j.get(k).and_then(Value::as_f64)) {
                out.insert(k.clone(), if b != 0.0 { json!(a / b) } else { Value::Null });
            }
        }
    }
    Value::Object(out)
}

/// One JSON object: `{"lectern": {...}, "janus": {...}, "ratios": {...}}` (missing targets
/// and ratios are left out).
pub fn combined_json(lectern: Option<&TargetReport>, janus: Option<&TargetReport>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(l) = lectern {
        out.insert("lectern".into(), l.to_json());
    }
    if let Some(j) = janus {
        out.insert("janus".into(), j.to_json());
    }
    if let (Some(l), Some(j)) = (lectern, janus) {
        out.insert("ratios".into(), ratios(l, j));
    }
    Value::Object(out)
}

/// [`combined_json`] as text with the keys in the order lectern, janus, ratios.
pub fn combined_json_text(lectern: Option<&TargetReport>, janus: Option<&TargetReport>) -> String {
    let all = combined_json(lectern, janus);
    let parts: Vec<String> = ["lectern", "janus", "ratios"]
        .into_iter()
        .filter_map(|k| all.get(k).map(|v| format!("\"{k}\":{v}")))
        .collect();
    format!("{{{}}}", parts.join(","))
}

// ------------------------------------------------------------------------------------------------
// Processes

/// User + system CPU time of a process (all threads), from /proc.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    cpu_time_of(&format!("/proc/{pid}/stat"))
}

/// This process's CPU time.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    cpu_time_of("/proc/self/stat")
}

fn cpu_time_of(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().ok_or_else(|| anyhow!("bad stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: u64 = f.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    // USER_HZ is 100 on Linux.
    Ok(Duration::from_millis((utime + stime) * 10))
}

/// Resident set size of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// (RcvbufErrors, SndbufErrors) from /proc/net/snmp.
pub fn udp_buffer_errors() -> (u64, u64) {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return (0, 0);
    };
    let get = |name: &str| -> u64 {
        names
            .split_whitespace()
            .position(|n| n == name)
            .and_then(|i| values.split_whitespace().nth(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("RcvbufErrors"), get("SndbufErrors"))
}

/// A `lectern serve` child process on loopback ports chosen by the OS, with the demo session
/// it prints.
pub struct LecternProcess {
    child: tokio::process::Child,
    pid: u32,
    dir: PathBuf,
    /// `127.0.0.1:PORT` of the web server.
    pub http: String,
    pub session: SessionId,
    pub facilitator_key: String,
    pub participant_key: String,
}

impl LecternProcess {
    pub async fn start(binary: &std::path::Path) -> anyhow::Result<LecternProcess> {
        let dir = std::env::temp_dir().join(format!(
            "lectern-load-{}-{}",
            std::process::id(),
            crate::media::now_ns()
        ));
        Self::start_in(binary, &dir, &[]).await
    }

    /// Starts the server with its data in `dir` (kept from an earlier run, if any) and extra
    /// `serve` flags.
    pub async fn start_in(
        binary: &std::path::Path,
        dir: &std::path::Path,
        extra: &[&str],
    ) -> anyhow::Result<LecternProcess> {
        if !binary.exists() {
            bail!(
                "no server binary at {} (build it: cargo build --release -p lectern)",
                binary.display()
            );
        }
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--http", "127.0.0.1:0", "--media", "127.0.0.1:0"])
            .args(extra)
            .arg("--data-dir")
            .arg(&dir)
            .env("LECTERN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("server exited"))?;
        let mut lines =
            BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("stdout"))?).lines();
        let (mut http, mut session, mut fkey, mut pkey) = (None, None, None, None);
        while let Some(line) =
            tokio::time::timeout(Duration::from_secs(15), lines.next_line()).await??
        {
            let line = line.trim();
            if let Some(u) = line.strip_prefix("web:") {
                http = Some(
                    u.trim()
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .replace("localhost", "127.0.0.1"),
                );
            }
            for (prefix, slot) in [("facilitator:", &mut fkey), ("participant:", &mut pkey)] {
                if let Some(link) = line.strip_prefix(prefix) {
                    let (path, key) = link
                        .trim()
                        .split_once("#k=")
                        .ok_or_else(|| anyhow!("bad link {link}"))?;
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
        Ok(LecternProcess {
            child,
            pid,
            dir,
            http: http.ok_or_else(|| anyhow!("no web address printed"))?,
            session: session.ok_or_else(|| anyhow!("no session printed"))?,
            facilitator_key: fkey.ok_or_else(|| anyhow!("no facilitator link"))?,
            participant_key: pkey.ok_or_else(|| anyhow!("no participant link"))?,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http)
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&self.http).await?;
        s.write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.http
            )
            .as_bytes(),
        )
        .await?;
        let mut body = String::new();
        s.read_to_string(&mut body).await?;
        Ok(body)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Kills the server with SIGKILL (no chance to clean up) and keeps its data folder.
    pub async fn kill(mut self) -> PathBuf {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
        self.dir.clone()
    }

    /// The data folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// A counter's value in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let v = rest.strip_prefix(' ')?;
        v.trim().parse().ok()
    })
}

/// A Prometheus histogram's cumulative buckets: (upper bound, count), ascending.
pub fn histogram_buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    let mut out: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (labels, value) = rest.split_once('}')?;
            let le = labels.split(',').find_map(|kv| {
                let v = kv.trim().strip_prefix("le=")?.trim_matches('"');
                if v == "+Inf" {
                    Some(f64::INFINITY)
                } else {
                    v.parse().ok()
                }
            })?;
            Some((le, value.trim().parse().ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The `p` quantile of the observations between two snapshots of a histogram's buckets, by
/// linear interpolation inside the bucket (as Prometheus's `histogram_quantile`). `None` when
/// the histogram is absent or saw nothing.
pub fn histogram_quantile(before: &[(f64, f64)], after: &[(f64, f64)], p: f64) -> Option<f64> {
    if after.is_empty() {
        return None;
    }
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, c)| {
            let c0 = before
                .iter()
                .find(|b| b.0 == le)
                .map(|b| b.1)
                .unwrap_or(0.0);
            (le, (c - c0).max(0.0))
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = p * total;
    let mut prev = (0.0, 0.0);
    for &(le, c) in &delta {
        if c >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let in_bucket = c - prev.1;
            let frac = if in_bucket > 0.0 {
                (rank - prev.1) / in_bucket
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, c);
    }
    Some(prev.0)
}

// One per run: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Server {
    Lectern(LecternProcess),
    Janus(JanusServer),
}

impl Server {
    fn pid(&self) -> u32 {
        match self {
            Server::Lectern(l) => l.pid(),
            Server::Janus(j) => j.pid(),
        }
    }

    async fn metrics(&self) -> Option<String> {
        match self {
            Server::Lectern(l) => l.metrics().await.ok(),
            Server::Janus(_) => None,
        }
    }

    async fn stop(self) {
        match self {
            Server::Lectern(l) => l.stop().await,
            Server::Janus(j) => j.stop().await,
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs one target and returns its figures.
pub async fn run_target(target: Target, opts: &LoadOptions) -> anyhow::Result<TargetReport> {
    let server = match target {
        Target::Lectern => Server::Lectern(LecternProcess::start(&opts.server).await?),
        Target::Janus => Server::Janus(JanusServer::start(&opts.janus).await?),
    };
    let result = drive(target, &server, opts).await;
    let result = match (&server, result) {
        (Server::Janus(j), Err(e)) => Err(e.context(format!("janus log:\n{}", j.log_tail()))),
        (_, r) => r,
    };
    server.stop().await;
    result
}

async fn drive(
    target: Target,
    server: &Server,
    opts: &LoadOptions,
) -> anyhow::Result<TargetReport> {
    let pid = server.pid();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(pid);
    let pub_opts = PublisherOptions {
        video_kbps: opts.video_kbps,
        fps: 30,
        keyframe_every: Duration::from_secs(3),
        audio: true,
        ..Default::default()
    };
    let publisher = match server {
        Server::Lectern(l) => {
            let signal = LecternPublish::join(&l.ws_url(), l.session, &l.facilitator_key).await?;
            Publisher::start_with(signal, pub_opts).await?
        }
        Server::Janus(j) => {
            let signal = JanusPublish::connect(&j.ws_url, j.room, FEED).await?;
            Publisher::start_with(signal, pub_opts).await?
        }
    };

    // Ramp up.
    let shards = Shards::new(opts.viewer_threads.max(1))?;
    let window = Window::new();
    let bench = BenchOptions {
        read_interval: opts.read_interval,
    };
    let mut viewers = Vec::with_capacity(opts.viewers);
    let ramp_start = Instant::now();
    for i in 0..opts.viewers {
        let v = match server {
            Server::Lectern(l) => BenchViewer::start_on(
                shards.pick(i),
                LecternSubscribe::new(
                    &l.ws_url(),
                    l.session,
                    &l.participant_key,
                    &format!("viewer {i}"),
                ),
                window.clone(),
                bench,
            ),
            Server::Janus(j) => BenchViewer::start_on(
                shards.pick(i),
                JanusSubscribe::new(&j.ws_url, j.room, FEED),
                window.clone(),
                bench,
            ),
        };
        viewers.push(v);
        let next = ramp_start + Duration::from_secs_f64((i + 1) as f64 / opts.ramp.max(0.001));
        tokio::time::sleep_until(next.into()).await;
    }
    // Wait until every viewer receives audio and video.
    let deadline = Instant::now() + opts.join_timeout;
    loop {
        let waiting = viewers
            .iter()
            .filter(|v| !v.receiving() && !v.finished())
            .count();
        if waiting == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let viewers_receiving = viewers.iter().filter(|v| v.receiving()).count() as u64;
    tokio::time::sleep(opts.settle).await;

    // Steady phase.
    let m0 = server.metrics().await;
    let sent0 = publisher.sent_count();
    let cpu0 = cpu_time(pid)?;
    let gen0 = own_cpu_time()?;
    let udp0 = udp_buffer_errors();
    let t0 = Instant::now();
    window.open();
    tokio::time::sleep(Duration::from_secs_f64(opts.seconds)).await;
    window.close();
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_time(pid)?;
    let gen1 = own_cpu_time()?;
    let udp1 = udp_buffer_errors();
    let sent1 = publisher.sent_count();
    let m1 = server.metrics().await;
    let rss_loaded = rss_kib(pid);
    let publisher_error = publisher
        .finished()
        .then(|| "publisher stopped".to_string());

    // Collect.
    let mut latency = Histogram::default();
    let mut read_latency = Histogram::default();
    let (mut packets, mut video, mut audio, mut bytes, mut expected, mut decrypt_errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut joins = Vec::new();
    let mut viewer_errors = 0;
    let (mut rtc_datagrams, mut datagrams, mut wakeups) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    for v in &viewers {
        let s = v.stats();
        let w = s.window();
        packets += w.packets;
        video += w.video_packets;
        audio += w.audio_packets;
        bytes += w.bytes;
        expected += w.expected;
        decrypt_errors += s.decrypt_errors;
        rtc_datagrams += s.rtc_datagrams;
        datagrams += s.datagrams;
        wakeups += s.wakeups;
        latency.merge(&w.latency_us);
        read_latency.merge(&w.read_latency_us);
        if let Some(f) = s.first_media_ns {
            joins.push(f.saturating_sub(s.started_ns) / 1000);
        }
        if let Some(e) = s.error {
            viewer_errors += 1;
            first_error.get_or_insert(e);
        }
    }
    joins.sort_unstable();
    let lost = expected.saturating_sub(packets);
    let server_cpu = (cpu1 - cpu0).as_secs_f64();
    let gen_cpu = (gen1 - gen0).as_secs_f64();
    let delta = |name: &str| -> Option<u64> {
        let (a, b) = (metric(m0.as_deref()?, name)?, metric(m1.as_deref()?, name)?);
        Some((b - a).max(0.0) as u64)
    };
    let counted = delta("lectern_rtp_packets_forwarded_total");
    let fanout = |p: f64| -> Option<f64> {
        let name = "lectern_fanout_seconds";
        let before = histogram_buckets(m0.as_deref()?, name);
        let after = histogram_buckets(m1.as_deref()?, name);
        histogram_quantile(&before, &after, p).map(|s| s * 1e6)
    };
    let report = TargetReport {
        target,
        viewers: opts.viewers as u64,
        viewers_receiving,
        steady_seconds: wall,
        video_kbps: u64::from(opts.video_kbps),
        janus_event_loops: match server {
            Server::Janus(j) => Some(j.event_loops as u64),
            Server::Lectern(_) => None,
        },
        publisher_packets: (sent1 - sent0) as u64,
        received_packets: packets,
        received_video_packets: video,
        received_audio_packets: audio,
        received_pps: packets as f64 / wall,
        received_mbps: bytes as f64 * 8.0 / wall / 1e6,
        server_counted_packets: counted,
        server_counted_pps: counted.map(|c| c as f64 / wall),
        server_send_drops: delta("lectern_send_drops_total"),
        server_inbox_drops: delta("lectern_inbox_drops_total"),
        server_cpu_seconds: server_cpu,
        server_cpu_share: server_cpu / wall,
        server_cpu_us_per_packet: server_cpu * 1e6 / packets.max(1) as f64,
        server_cpu_us_per_counted_packet: counted.map(|c| server_cpu * 1e6 / c.max(1) as f64),
        latency_us_p50: latency.percentile(0.5),
        latency_us_p99: latency.percentile(0.99),
        latency_us_max: latency.max(),
        read_latency_us_p50: read_latency.percentile(0.5),
        read_latency_us_p99: read_latency.percentile(0.99),
        read_interval_ms: opts.read_interval.map(|d| d.as_secs_f64() * 1000.0),
        fanout_us_p50: fanout(0.5),
        fanout_us_p99: fanout(0.99),
        generator_cpu_share: gen_cpu / wall,
        generator_cpu_us_per_packet: gen_cpu * 1e6 / packets.max(1) as f64,
        join_ms_p50: percentile(&joins, 0.5) as f64 / 1000.0,
        join_ms_p95: percentile(&joins, 0.95) as f64 / 1000.0,
        join_ms_max: joins.last().copied().unwrap_or(0) as f64 / 1000.0,
        expected_packets: expected,
        lost_packets: lost,
        loss: lost as f64 / expected.max(1) as f64,
        decrypt_errors,
        rtc_datagrams,
        datagrams_per_wakeup: datagrams as f64 / wakeups.max(1) as f64,
        udp_rcvbuf_errors: udp1.0.saturating_sub(udp0.0),
        udp_sndbuf_errors: udp1.1.saturating_sub(udp0.1),
        server_rss_kib_idle: rss_idle,
        server_rss_kib_loaded: rss_loaded,
        server_rss_kib_per_viewer: rss_loaded.saturating_sub(rss_idle) as f64
            / opts.viewers.max(1) as f64,
        viewer_errors,
        first_viewer_error: first_error,
        publisher_error,
    };

    // Tear down.
    let stops = viewers.into_iter().map(|v| v.stop());
    futures_util::future::join_all(stops).await;
    let stopped = publisher.stop().await;
    shards.stop();
    let mut report = report;
    if let (Some(_), Err(e)) = (&report.publisher_error, stopped) {
        report.publisher_error = Some(format!("{e:#}"));
    }
    Ok(report)
}

/// Single-threaded runtimes on threads of their own, for the viewers.
struct Shards {
    handles: Vec<tokio::runtime::Handle>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Shards {
    fn new(n: usize) -> anyhow::Result<Shards> {
        let mut s = Shards {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            s.handles.push(rt.handle().clone());
            s.stops.push(tx);
            s.threads.push(
                std::thread::Builder::new()
                    .name(format!("viewers-{i}"))
                    .spawn(move || {
                        let _ = rt.block_on(rx);
                        rt.shutdown_timeout(Duration::from_secs(1));
                    })?,
            );
        }
        Ok(s)
    }

    fn pick(&self, i: usize) -> &tokio::runtime::Handle {
        &self.handles[i % self.handles.len()]
    }

    fn stop(self) {
        drop(self.stops);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Runs the targets one after the other with the same load.
pub async fn run(
    targets: &[Target],
    opts: &LoadOptions,
) -> anyhow::Result<(Option<TargetReport>, Option<TargetReport>)> {
    let (mut l, mut j) = (None, None);
    for &t in targets {
        let r = run_target(t, opts)
            .await
            .with_context(|| format!("{} run", t.name()))?;
        match t {
            Target::Lectern => l = Some(r),
            Target::Janus => j = Some(r),
        }
    }
    Ok((l, j))
}

/// A plain-text table of one or two reports, with lectern/Janus ratios when both ran.
pub fn table(lectern: Option<&TargetReport>, janus: Option<&TargetReport>) -> String {
    let reports: Vec<&TargetReport> = [lectern, janus].into_iter().flatten().collect();
    let Some(first) = reports.first() else {
        return String::new();
    };
    let json: Vec<Value> = reports.iter().map(|r| r.to_json()).collect();
    let ratio = match (lectern, janus) {
        (Some(l), Some(j)) => Some(ratios(l, j)),
        _ => None,
    };
    let rows: &[(&str, &str)] = &[
        ("viewers receiving", "viewers_receiving"),
        ("steady phase (s)", "steady_seconds"),
        ("publisher packets", "publisher_packets"),
        ("packets received", "received_packets"),
        ("  video / audio", "received_video_packets"),
        ("", "received_audio_packets"),
        ("received packets/s", "received_pps"),
        ("received Mbit/s", "received_mbps"),
        ("server's own counter", "server_counted_packets"),
        ("server send drops", "server_send_drops"),
        ("server inbox drops", "server_inbox_drops"),
        ("server CPU share of a core", "server_cpu_share"),
        ("server CPU µs/packet", "server_cpu_us_per_packet"),
        ("  per counted packet", "server_cpu_us_per_counted_packet"),
        ("latency p50 (µs)", "latency_us_p50"),
        ("latency p99 (µs)", "latency_us_p99"),
        ("latency max (µs)", "latency_us_max"),
        ("read latency p50 (µs)", "read_latency_us_p50"),
        ("read latency p99 (µs)", "read_latency_us_p99"),
        ("SFU fan-out p50 (µs)", "fanout_us_p50"),
        ("SFU fan-out p99 (µs)", "fanout_us_p99"),
        ("generator CPU share", "generator_cpu_share"),
        ("generator CPU µs/packet", "generator_cpu_us_per_packet"),
        ("join p50 (ms)", "join_ms_p50"),
        ("join p95 (ms)", "join_ms_p95"),
        ("join max (ms)", "join_ms_max"),
        ("loss", "loss"),
        ("lost / expected", "lost_packets"),
        ("", "expected_packets"),
        ("decrypt errors", "decrypt_errors"),
        ("datagrams to rtc (whole run)", "rtc_datagrams"),
        ("datagrams per wake-up", "datagrams_per_wakeup"),
        ("UDP rcvbuf drops (kernel)", "udp_rcvbuf_errors"),
        ("UDP sndbuf drops (kernel)", "udp_sndbuf_errors"),
        ("server RSS idle (KiB)", "server_rss_kib_idle"),
        ("server RSS loaded (KiB)", "server_rss_kib_loaded"),
        ("server RSS per viewer (KiB)", "server_rss_kib_per_viewer"),
        ("viewer errors", "viewer_errors"),
    ];
    let fmt = |v: &Value| -> String {
        match v {
            Value::Null => "-".into(),
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(0.0);
                if f.abs() >= 100.0 {
                    format!("{f:.0}")
                } else if f.abs() >= 1.0 {
                    format!("{f:.2}")
                } else {
                    format!("{f:.4}")
                }
            }
            other => other.to_string(),
        }
    };
    let mut out = format!(
        "{} viewers, {} kbit/s video, {:.1} s steady phase\n{:<30}",
        first.viewers, first.video_kbps, first.steady_seconds, ""
    );
    for r in &reports {
        out.push_str(&format!("{:>14}", r.target.name()));
    }
    if ratio.is_some() {
        out.push_str(&format!("{:>14}", "lectern/janus"));
    }
    out.push('\n');
    for (label, key) in rows {
        out.push_str(&format!("{label:<30}"));
        for j in &json {
            out.push_str(&format!("{:>14}", fmt(&j[*key])));
        }
        if let Some(r) = &ratio {
            out.push_str(&format!("{:>14}", fmt(&r[*key])));
        }
        out.push('\n');
    }
    for r in &reports {
        if let Some(e) = &r.first_viewer_error {
            out.push_str(&format!("{}: first viewer error: {e}\n", r.target.name()));
        }
        if let Some(e) = &r.publisher_error {
            out.push_str(&format!("{}: publisher: {e}\n", r.target.name()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_histogram_quantiles() {
        let before = "lectern_fanout_seconds_bucket{le=\"0.00001\"} 10\n\
                      lectern_fanout_seconds_bucket{le=\"0.0001\"} 10\n\
                      lectern_fanout_seconds_bucket{le=\"+Inf\"} 10\n";
        let after = "# TYPE lectern_fanout_seconds histogram\n\
                     lectern_fanout_seconds_bucket{le=\"0.00001\"} 60\n\
                     lectern_fanout_seconds_bucket{le=\"0.0001\"} 110\n\
                     lectern_fanout_seconds_bucket{le=\"+Inf\"} 110\n\
                     lectern_fanout_seconds_sum 0.01\nlectern_fanout_seconds_count 110\n";
        let b = histogram_buckets(before, "lectern_fanout_seconds");
        let a = histogram_buckets(after, "lectern_fanout_seconds");
        assert_eq!(a.len(), 3);
        let p50 = histogram_quantile(&b, &a, 0.5).unwrap();
        assert!((p50 - 0.00001).abs() < 1e-12, "{p50}");
        let p99 = histogram_quantile(&b, &a, 0.99).unwrap();
        assert!(p99 > 0.00009 && p99 <= 0.0001, "{p99}");
        assert!(histogram_quantile(&b, &[], 0.5).is_none());
        assert!(histogram_quantile(&a, &a, 0.5).is_none(), "nothing new");
        assert_eq!(
            metric(
                "x_total 5\nlectern_rtp_packets_forwarded_total 42\n",
                "lectern_rtp_packets_forwarded_total"
            ),
            Some(42.0)
        );
    }
}
