//! Janus as a comparison target: a `janus` child process with a configuration of ours (only the
//! video room plugin and the WebSocket transport), and clients for its WebSocket API.
//!
//! - [`JanusServer`] starts Janus (Debian package `janus`) on loopback and creates one room
//!   (VP8 + Opus, no bitrate cap, no periodic FIR, `notify_joining` off).
//! - [`JanusPublish`] publishes the synthetic camera into the room ([`crate::PublishSignal`]).
//! - [`JanusSubscribe`] subscribes a bench viewer to the publisher's feed, audio and video in one
//!   connection ([`crate::bench_viewer::ViewerSignal`]).
//!
//! Janus does not gather ICE candidates on loopback interfaces (it skips every interface with
//! `IFF_LOOPBACK`), so the server gets its own loopback-range address, 127.0.0.2, on an `ifb`
//! interface named [`ALIAS_IFACE`] that is not flagged as loopback, and Janus's ICE is limited
//! to that address. The same address also goes on `lo`: libnice pins each socket to the
//! interface of its address (`IP_UNICAST_IF`, first match wins, and `lo` comes first), and the
//! kernel refuses to send from a loopback address through any other interface. All media stays
//! on 127.0.0.0/8 and goes through the loopback device. Setting this up needs root (or
//! `CAP_NET_ADMIN`); it is removed again when the last [`JanusServer`] of the process stops, if
//! this process added it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use lectern_proto::PublishedMid;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::bench_viewer::{SignalEvent, ViewerSignal};
use crate::publisher::{PublishEvent, PublishSignal};

/// Where Debian installs Janus's plugins and transports.
pub const JANUS_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";
/// The interface that carries Janus's media address.
pub const ALIAS_IFACE: &str = "lectern-j0";
/// Janus's media address: loopback range, on [`ALIAS_IFACE`].
pub const JANUS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The room the bench uses.
pub const ROOM: u64 = 1234;
/// The feed id the bench publisher takes.
pub const FEED: u64 = 4242;

/// How to run Janus.
#[derive(Clone, Debug)]
pub struct JanusOptions {
    /// The `janus` binary (`LECTERN_JANUS`, else `/usr/bin/janus`).
    pub binary: PathBuf,
    /// Folder with `plugins/` and `transports/` (Debian's by default).
    pub lib_dir: PathBuf,
    /// Janus's static event loops (media threads); the bench sets the core count.
    pub event_loops: usize,
    /// Janus's `debug_level` (0–7; 2 unless `LECTERN_JANUS_DEBUG` says otherwise).
    pub debug_level: u8,
}

impl Default for JanusOptions {
    fn default() -> Self {
        Self {
            binary: std::env::var_os("LECTERN_JANUS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/usr/bin/janus")),
            lib_dir: PathBuf::from(JANUS_LIB),
            event_loops: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            debug_level: std::env::var("LECTERN_JANUS_DEBUG")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2),
        }
    }
}

/// A running Janus with one video room.
pub struct JanusServer {
    child: tokio::process::Child,
    pid: u32,
    dir: PathBuf,
    /// `ws://127.0.0.1:PORT`.
    pub ws_url: String,
    pub room: u64,
    pub event_loops: usize,
    _admin: JanusClient,
    _alias: AliasGuard,
}

impl JanusServer {
    /// Starts Janus and creates the room. Fails with a clear message when Janus is not
    /// installed or the loopback alias cannot be set up.
    pub async fn start(opts: &JanusOptions) -> anyhow::Result<JanusServer> {
        if !opts.binary.exists() {
            bail!(
                "no janus binary at {} (install Debian package janus: apt-get install janus)",
                opts.binary.display()
            );
        }
        let plugin = opts.lib_dir.join("plugins/libjanus_videoroom.so");
        let transport = opts.lib_dir.join("transports/libjanus_websockets.so");
        for f in [&plugin, &transport] {
            if !f.exists() {
                bail!("{} is missing (install Debian package janus)", f.display());
            }
        }
        let alias = AliasGuard::acquire().await?;
        let dir = std::env::temp_dir().join(format!(
            "lectern-janus-{}-{}",
            std::process::id(),
            crate::media::now_ns()
        ));
        for sub in ["plugins", "transports", "events", "loggers", "cfg"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        std::os::unix::fs::symlink(&plugin, dir.join("plugins/libjanus_videoroom.so"))?;
        std::os::unix::fs::symlink(&transport, dir.join("transports/libjanus_websockets.so"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        write_config(&dir, port, opts)?;
        let log = std::fs::File::create(dir.join("janus.log"))?;
        let mut child = tokio::process::Command::new(&opts.binary)
            .arg("-C")
            .arg(dir.join("cfg/janus.jcfg"))
            .arg("-F")
            .arg(dir.join("cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", opts.binary.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("janus exited at once"))?;
        let ws_url = format!("ws://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut admin = loop {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("janus exited ({status}):\n{}", log_tail(&dir));
            }
            if let Ok(mut c) = JanusClient::connect(&ws_url).await {
                if c.request(json!({"janus": "info"})).await.is_ok() {
                    break c;
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("janus did not answer on {ws_url}:\n{}", log_tail(&dir));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        admin.create_session().await?;
        let handle = admin.attach().await?;
        admin
            .message(
                handle,
                json!({
                    "request": "create",
                    "room": ROOM,
                    "description": "lectern bench",
                    "is_private": false,
                    "publishers": 4,
                    "bitrate": 0,
                    "bitrate_cap": false,
                    "fir_freq": 0,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                    "notify_joining": false,
                    "record": false,
                }),
                None,
            )
            .await
            .context("creating the room")?;
        Ok(JanusServer {
            child,
            pid,
            dir,
            ws_url,
            room: ROOM,
            event_loops: opts.event_loops,
            _admin: admin,
            _alias: alias,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last lines of Janus's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir)
    }

    /// Stops Janus and removes its folder (kept when `LECTERN_JANUS_KEEP` is set).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        if std::env::var_os("LECTERN_JANUS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("janus.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn write_config(dir: &Path, ws_port: u16, opts: &JanusOptions) -> anyhow::Result<()> {
    let d = dir.display();
    std::fs::write(
        dir.join("cfg/janus.jcfg"),
        format!(
            r#"general: {{
	configs_folder = "{d}/cfg"
	plugins_folder = "{d}/plugins"
	transports_folder = "{d}/transports"
	events_folder = "{d}/events"
	loggers_folder = "{d}/loggers"
	debug_level = {level}
	debug_timestamps = true
	interface = "{ip}"
	server_name = "lectern-bench"
	session_timeout = 0
	event_loops = {loops}
}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "20000-29999"
	no_media_timer = 0
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "{ip}"
	ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
	broadcast = false
}}
"#,
            level = opts.debug_level,
            ip = JANUS_IP,
            loops = opts.event_loops,
        ),
    )?;
    std::fs::write(
        dir.join("cfg/janus.transport.websockets.jcfg"),
        format!(
            "general: {{\n\tjson = \"plain\"\n\tws = true\n\tws_port = {ws_port}\n\tws_ip = \"127.0.0.1\"\n\twss = false\n}}\nadmin: {{\n\tadmin_ws = false\n\tadmin_wss = false\n}}\n"
        ),
    )?;
    std::fs::write(
        dir.join("cfg/janus.plugin.videoroom.jcfg"),
        "general: {\n\tevents = false\n}\n",
    )?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Loopback alias

/// (users in this process, whether this process created the interface)
static ALIAS: Mutex<(usize, bool)> = Mutex::new((0, false));

struct AliasGuard;

async fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .context("running `ip` (install Debian package iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The alias is complete: [`JANUS_IP`] on [`ALIAS_IFACE`] (what Janus gathers on) and on `lo`
/// (so that libnice, which pins its sockets to the interface of their address with
/// `IP_UNICAST_IF`, finds `lo` first and its packets to 127.0.0.1 are routable).
async fn alias_present() -> bool {
    let has = |o: &str| o.contains(&format!("{JANUS_IP}/"));
    ip(&["-o", "-4", "addr", "show", "dev", ALIAS_IFACE])
        .await
        .is_ok_and(|o| has(&o))
        && ip(&["-o", "-4", "addr", "show", "dev", "lo"])
            .await
            .is_ok_and(|o| has(&o))
}

const ALIAS_HELP: &str = "Janus gathers no ICE candidates on loopback interfaces, so the bench \
gives it 127.0.0.2 on an interface of its own and on lo; that needs root. As root: \
ip link add lectern-j0 type ifb && ip addr add 127.0.0.2/32 dev lectern-j0 && \
ip link set lectern-j0 up && ip addr add 127.0.0.2/32 dev lo";

impl AliasGuard {
    async fn acquire() -> anyhow::Result<AliasGuard> {
        let first = {
            let mut a = ALIAS.lock().map_err(|_| anyhow!("poisoned"))?;
            a.0 += 1;
            a.0 == 1
        };
        let guard = AliasGuard;
        if first && !alias_present().await {
            // Start from nothing, so that a half-made alias of an interrupted run is redone.
            remove_alias();
            let ip_cidr = format!("{JANUS_IP}/32");
            let steps: [&[&str]; 4] = [
                &["link", "add", ALIAS_IFACE, "type", "ifb"],
                &["addr", "add", &ip_cidr, "dev", ALIAS_IFACE],
                &["link", "set", ALIAS_IFACE, "up"],
                &["addr", "add", &ip_cidr, "dev", "lo"],
            ];
            if let Ok(mut a) = ALIAS.lock() {
                a.1 = true;
            }
            for step in steps {
                if let Err(e) = ip(step).await {
                    bail!("{e}\n{ALIAS_HELP}");
                }
            }
        }
        Ok(guard)
    }
}

fn remove_alias() {
    let ip_cidr = format!("{JANUS_IP}/32");
    for args in [
        &["link", "del", ALIAS_IFACE][..],
        &["addr", "del", &ip_cidr, "dev", "lo"][..],
    ] {
        let _ = std::process::Command::new("ip")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for AliasGuard {
    fn drop(&mut self) {
        let Ok(mut a) = ALIAS.lock() else { return };
        a.0 = a.0.saturating_sub(1);
        if a.0 == 0 && a.1 {
            a.1 = false;
            remove_alias();
        }
    }
}

// ------------------------------------------------------------------------------------------------
// API client

/// One WebSocket to Janus's API (subprotocol `janus-protocol`) with a session on it.
pub struct JanusClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_tx: u64,
    session: Option<u64>,
}

fn janus_error(v: &Value) -> Option<String> {
    if v["janus"] == "error" {
        return Some(format!("{}", v["error"]));
    }
    let data = &v["plugindata"]["data"];
    if data.get("error").is_some() || data.get("error_code").is_some() {
        return Some(format!("{data}"));
    }
    None
}

impl JanusClient {
    pub async fn connect(url: &str) -> anyhow::Result<JanusClient> {
        let mut req = url.into_client_request()?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .with_context(|| format!("connecting to janus at {url}"))?;
        Ok(JanusClient {
            ws,
            next_tx: 1,
            session: None,
        })
    }

    /// Sends a request (adding a transaction and the session id); returns the transaction.
    pub async fn send(&mut self, mut v: Value) -> anyhow::Result<String> {
        let tx = format!("t{}", self.next_tx);
        self.next_tx += 1;
        v["transaction"] = json!(tx);
        if let Some(s) = self.session {
            v["session_id"] = json!(s);
        }
        self.ws.send(Message::text(v.to_string())).await?;
        Ok(tx)
    }

    /// The next message from Janus (cancel-safe); `None` when the socket closed.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Value>> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => continue,
                Some(Err(e)) => bail!("janus websocket: {e}"),
            }
        }
    }

    /// Sends a request and waits for its reply (not the `ack`), skipping other messages.
    pub async fn request(&mut self, v: Value) -> anyhow::Result<Value> {
        let tx = self.send(v).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let m = tokio::time::timeout_at(deadline, self.recv())
                .await
                .map_err(|_| anyhow!("janus did not answer within 30 s"))??
                .ok_or_else(|| anyhow!("janus closed the websocket"))?;
            if m["transaction"] != tx.as_str() || m["janus"] == "ack" {
                continue;
            }
            if let Some(e) = janus_error(&m) {
                bail!("janus: {e}");
            }
            return Ok(m);
        }
    }

    pub async fn create_session(&mut self) -> anyhow::Result<u64> {
        let r = self.request(json!({"janus": "create"})).await?;
        let id = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("no session id in {r}"))?;
        self.session = Some(id);
        Ok(id)
    }

    /// Attaches the video room plugin; returns the handle id.
    pub async fn attach(&mut self) -> anyhow::Result<u64> {
        let r = self
            .request(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}))
            .await?;
        r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("no handle id in {r}"))
    }

    /// A plugin message; returns the reply (`success` or `event`, with any `jsep`).
    pub async fn message(
        &mut self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut v = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(j) = jsep {
            v["jsep"] = j;
        }
        self.request(v).await
    }

    /// Trickles our host candidate, then the end of candidates.
    pub async fn trickle(&mut self, handle: u64, candidate: &str) -> anyhow::Result<()> {
        self.send(json!({
            "janus": "trickle",
            "handle_id": handle,
            "candidates": [
                {"candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0},
                {"completed": true},
            ],
        }))
        .await?;
        Ok(())
    }

    async fn destroy(&mut self) {
        if self.session.is_some() {
            let _ = self.send(json!({"janus": "destroy"})).await;
        }
    }
}

fn jsep_sdp(m: &Value, kind: &str) -> Option<String> {
    let j = &m["jsep"];
    (j["type"] == kind).then(|| j["sdp"].as_str().map(str::to_string))?
}

/// The bench publisher's side of the video room: `joinandconfigure` with our offer.
pub struct JanusPublish {
    client: JanusClient,
    handle: u64,
    room: u64,
    feed: u64,
    live: bool,
}

impl JanusPublish {
    /// Opens a session and attaches the plugin; [`PublishSignal::publish`] joins the room as
    /// feed `feed`.
    pub async fn connect(ws_url: &str, room: u64, feed: u64) -> anyhow::Result<JanusPublish> {
        let mut client = JanusClient::connect(ws_url).await?;
        client.create_session().await?;
        let handle = client.attach().await?;
        Ok(JanusPublish {
            client,
            handle,
            room,
            feed,
            live: false,
        })
    }
}

impl PublishSignal for JanusPublish {
    async fn publish(
        &mut self,
        sdp: String,
        _tracks: Vec<PublishedMid>,
        candidate: String,
    ) -> anyhow::Result<String> {
        let r = self
            .client
            .message(
                self.handle,
                json!({
                    "request": "joinandconfigure",
                    "room": self.room,
                    "ptype": "publisher",
                    "id": self.feed,
                    "display": "bench publisher",
                }),
                Some(json!({"type": "offer", "sdp": sdp})),
            )
            .await?;
        let answer = jsep_sdp(&r, "answer").ok_or_else(|| anyhow!("no answer in {r}"))?;
        self.client.trickle(self.handle, &candidate).await?;
        Ok(answer)
    }

    async fn next_event(&mut self) -> anyhow::Result<PublishEvent> {
        Ok(match self.client.recv().await? {
            None => PublishEvent::Ended,
            Some(m) if m["janus"] == "hangup" || m["janus"] == "detached" => PublishEvent::Ended,
            Some(m) => {
                // Subscribers can join once Janus has the publisher's DTLS up.
                if m["janus"] == "webrtcup" {
                    self.live = true;
                }
                PublishEvent::Other
            }
        })
    }

    fn announces_tracks(&self) -> bool {
        false
    }

    fn is_live(&self) -> bool {
        self.live
    }

    async fn leave(&mut self) {
        let _ = self
            .client
            .send(
                json!({"janus": "message", "handle_id": self.handle, "body": {"request": "leave"}}),
            )
            .await;
        self.client.destroy().await;
    }
}

/// A bench viewer's side of the video room: `join` as subscriber to one feed (audio and video
/// in one connection), answer with `start`.
pub struct JanusSubscribe {
    ws_url: String,
    room: u64,
    feed: u64,
    conn: Option<(JanusClient, u64)>,
}

impl JanusSubscribe {
    pub fn new(ws_url: &str, room: u64, feed: u64) -> JanusSubscribe {
        JanusSubscribe {
            ws_url: ws_url.to_string(),
            room,
            feed,
            conn: None,
        }
    }

    fn conn(&mut self) -> anyhow::Result<&mut (JanusClient, u64)> {
        self.conn.as_mut().ok_or_else(|| anyhow!("not joined"))
    }
}

impl ViewerSignal for JanusSubscribe {
    async fn first_offer(&mut self) -> anyhow::Result<String> {
        let mut client = JanusClient::connect(&self.ws_url).await?;
        client.create_session().await?;
        let handle = client.attach().await?;
        let r = client
            .message(
                handle,
                json!({
                    "request": "join",
                    "room": self.room,
                    "ptype": "subscriber",
                    "streams": [{"feed": self.feed}],
                }),
                None,
            )
            .await?;
        let offer = jsep_sdp(&r, "offer").ok_or_else(|| anyhow!("no offer in {r}"))?;
        self.conn = Some((client, handle));
        Ok(offer)
    }

    async fn send_answer(&mut self, sdp: String, candidate: String) -> anyhow::Result<()> {
        let (client, handle) = self.conn()?;
        let handle = *handle;
        client
            .message(
                handle,
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": sdp})),
            )
            .await?;
        client.trickle(handle, &candidate).await
    }

    async fn next_event(&mut self) -> anyhow::Result<SignalEvent> {
        let Some((client, _)) = self.conn.as_mut() else {
            return Ok(SignalEvent::Ended);
        };
        Ok(match client.recv().await? {
            None => SignalEvent::Ended,
            Some(m) => match jsep_sdp(&m, "offer") {
                Some(sdp) => SignalEvent::Offer(sdp),
                None if m["janus"] == "hangup" || m["janus"] == "detached" => SignalEvent::Ended,
                None => SignalEvent::Other,
            },
        })
    }

    async fn leave(&mut self) {
        if let Some((client, handle)) = self.conn.as_mut() {
            let h = *handle;
            let _ = client
                .send(json!({"janus": "message", "handle_id": h, "body": {"request": "leave"}}))
                .await;
            client.destroy().await;
        }
    }
}
