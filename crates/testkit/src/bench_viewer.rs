//! A lean viewer for load generation: ICE and DTLS go through a real `rtc` connection, but once
//! the connection is up the SRTP keys are read through a [`KeyTap`] and RTP datagrams skip the
//! `rtc` pipeline: they are decrypted with a plain SRTP context, their header and synthetic
//! payload (index, send time) are read, and only counters and latency histograms are kept.
//! STUN, DTLS and RTCP still go to the connection, so ICE consent keeps working.
//!
//! Every datagram carries the kernel's receive time (`SO_TIMESTAMPNS`), so latency and join
//! figures do not include the viewer's own reading delay. The socket is read either when it is
//! readable or, cheaper, on a timer that drains it with `recvmmsg` ([`BenchOptions`]).
//!
//! The viewer is generic over its signalling ([`ViewerSignal`]): [`LecternSubscribe`] speaks
//! lectern's protocol, [`crate::janus::JanusSubscribe`] the Janus video room's.

use std::future::Future;
use std::io::{ErrorKind, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use lectern_proto::{Answer, ClientMsg, PcKind, Ping, ServerMsg, SessionId};
use lectern_sfu::srtp::{KeyTap, SrtpError, SrtpKeys};
use nix::sys::socket::{
    recvmmsg, recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, RecvMsg,
    SockaddrIn,
};
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::sansio::Protocol;
use tokio::io::Interest;
use tokio::sync::{mpsc, watch};

use crate::endpoint::Endpoint;
use crate::hist::Histogram;
use crate::media::{self, VideoCodec};
use crate::signal::Signal;

/// What a subscribe signalling channel delivered.
#[derive(Debug)]
pub enum SignalEvent {
    /// A new offer from the server (renegotiation).
    Offer(String),
    /// The server ended the session or closed the channel.
    Ended,
    /// Anything else.
    Other,
}

/// The signalling of one receive-only connection where the server offers and the client
/// answers.
pub trait ViewerSignal: Send + 'static {
    /// Joins and returns the server's first offer.
    fn first_offer(&mut self) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// Sends the answer to the last offer; `candidate` is the client's host candidate (an SDP
    /// `candidate:` value), for signalling that wants candidates trickled.
    fn send_answer(
        &mut self,
        sdp: String,
        candidate: String,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// The next event. Must be cancel-safe: it runs in a `select!` with the media.
    fn next_event(&mut self) -> impl Future<Output = anyhow::Result<SignalEvent>> + Send;
    /// Leaves politely.
    fn leave(&mut self) -> impl Future<Output = ()> + Send;
}

/// lectern's signalling for a viewer: join with a participant key, answer `subscribe` offers,
/// ping every 10 s.
pub struct LecternSubscribe {
    ws_url: String,
    session: SessionId,
    key: String,
    name: String,
    signal: Option<Signal>,
    ping: tokio::time::Interval,
}

impl LecternSubscribe {
    pub fn new(ws_url: &str, session: SessionId, key: &str, name: &str) -> LecternSubscribe {
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        LecternSubscribe {
            ws_url: ws_url.to_string(),
            session,
            key: key.to_string(),
            name: name.to_string(),
            signal: None,
            ping,
        }
    }

    fn signal(&mut self) -> anyhow::Result<&mut Signal> {
        self.signal.as_mut().ok_or_else(|| anyhow!("not joined"))
    }
}

impl ViewerSignal for LecternSubscribe {
    async fn first_offer(&mut self) -> anyhow::Result<String> {
        let (mut signal, _) =
            Signal::join(&self.ws_url, self.session, &self.key, &self.name).await?;
        let offer = signal
            .wait_for(Duration::from_secs(30), |m| match m {
                ServerMsg::Offer(o) if o.pc == PcKind::Subscribe => Some(o.sdp.clone()),
                _ => None,
            })
            .await?;
        self.signal = Some(signal);
        self.ping.reset();
        Ok(offer)
    }

    async fn send_answer(&mut self, sdp: String, _candidate: String) -> anyhow::Result<()> {
        self.signal()?
            .send(&ClientMsg::Answer(Answer {
                pc: PcKind::Subscribe,
                sdp,
            }))
            .await
    }

    async fn next_event(&mut self) -> anyhow::Result<SignalEvent> {
        let Some(signal) = self.signal.as_mut() else {
            return Ok(SignalEvent::Ended);
        };
        tokio::select! {
            _ = self.ping.tick() => {
                signal.send(&ClientMsg::Ping(Ping { id: None })).await?;
                Ok(SignalEvent::Other)
            }
            m = signal.next_msg() => Ok(match m {
                Some(Ok(ServerMsg::Offer(o))) if o.pc == PcKind::Subscribe => SignalEvent::Offer(o.sdp),
                Some(Ok(ServerMsg::SessionEnded(_))) | None => SignalEvent::Ended,
                Some(Ok(_)) => SignalEvent::Other,
                Some(Err(e)) => bail!("signalling: {e}"),
            }),
        }
    }

    async fn leave(&mut self) {
        if let Some(s) = self.signal.as_mut() {
            let _ = s.send(&ClientMsg::Leave).await;
        }
    }
}

/// Shared switch for the measurement window: packets count into [`WindowStats`] only while it
/// is open. One per load run, shared by every viewer so all windows open at once.
#[derive(Debug, Default)]
pub struct Window(AtomicU8);

impl Window {
    pub fn new() -> Arc<Window> {
        Arc::new(Window::default())
    }
    pub fn open(&self) {
        self.0.store(1, Ordering::Relaxed);
    }
    pub fn close(&self) {
        self.0.store(2, Ordering::Relaxed);
    }
    fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 1
    }
}

/// Per-SSRC counters inside the window.
#[derive(Clone, Debug, Default)]
struct StreamWindow {
    ssrc: u32,
    /// Extended sequence numbers: first seen, highest seen.
    first: i64,
    highest: i64,
    received: u64,
}

/// What a viewer saw while the [`Window`] was open.
#[derive(Clone, Debug, Default)]
pub struct WindowStats {
    pub packets: u64,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// UDP payload bytes (SRTP packets as sent).
    pub bytes: u64,
    /// Packets the sequence numbers say were sent in the window (per SSRC, highest − first + 1).
    pub expected: u64,
    /// Receive time − send stamp, µs, with the kernel's receive time (`SO_TIMESTAMPNS`): what
    /// the server and the network took, not how long the viewer took to read it.
    pub latency_us: Histogram,
    /// The same with the time the viewer read the packet (adds the generator's own delay).
    pub read_latency_us: Histogram,
    streams: Vec<StreamWindow>,
}

/// What a bench viewer has seen so far.
#[derive(Clone, Debug, Default)]
pub struct BenchStats {
    /// When signalling started, on [`media::now_ns`]'s clock.
    pub started_ns: u64,
    /// When the connection reached `connected`.
    pub connected_ns: Option<u64>,
    /// When the first media packet arrived.
    pub first_media_ns: Option<u64>,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// RTP packets read through the `rtc` pipeline before the keys were available.
    pub slow_path_packets: u64,
    pub decrypt_errors: u64,
    /// Datagrams handed to the `rtc` connection (STUN, DTLS, RTCP, RTP before the keys).
    pub rtc_datagrams: u64,
    /// Wake-ups of the socket reader, and datagrams they read: datagrams / wake-up says how
    /// well reads batch.
    pub wakeups: u64,
    pub datagrams: u64,
    /// Whether RTP is being decrypted on the fast path.
    pub fast_path: bool,
    pub window: WindowStats,
    /// Why the viewer stopped, if it did on its own.
    pub error: Option<String>,
}

impl BenchStats {
    /// Window counters with `expected` filled in from the per-SSRC sequence numbers.
    pub fn window(&self) -> WindowStats {
        let mut w = self.window.clone();
        w.expected = w
            .streams
            .iter()
            .map(|s| (s.highest - s.first + 1).max(0) as u64)
            .sum();
        w
    }
}

/// Payload type → kind, from the SDP's `m=` lines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Unknown,
    Audio,
    Video,
}

fn kinds_of(sdp: &str) -> [Kind; 128] {
    let mut kinds = [Kind::Unknown; 128];
    for line in sdp.lines() {
        let Some(m) = line.strip_prefix("m=") else {
            continue;
        };
        let mut parts = m.split_whitespace();
        let kind = match parts.next() {
            Some("audio") => Kind::Audio,
            Some("video") => Kind::Video,
            _ => continue,
        };
        for pt in parts.skip(2).filter_map(|p| p.trim().parse::<usize>().ok()) {
            if pt < 128 {
                kinds[pt] = kind;
            }
        }
    }
    kinds
}

/// SRTP (not SRTCP): RTP version 2 and a payload type outside RTCP's 64..96 (with the marker
/// bit folded in, RFC 5761).
fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && (128..=191).contains(&d[0]) && !(64..96).contains(&(d[1] & 0x7f))
}

/// Where the payload starts in a plaintext RTP packet.
fn payload_offset(p: &[u8]) -> Option<usize> {
    let cc = (p.first()? & 0x0f) as usize;
    let mut off = 12 + 4 * cc;
    if p[0] & 0x10 != 0 {
        let len = u16::from_be_bytes([*p.get(off + 2)?, *p.get(off + 3)?]) as usize;
        off += 4 + 4 * len;
    }
    (off <= p.len()).then_some(off)
}

/// Counts one plaintext RTP packet.
/// Counts one plaintext RTP packet that the kernel received at `recv_ns` and the viewer read at
/// `read_ns` (both on [`media::now_ns`]'s clock).
fn count(
    stats: &mut BenchStats,
    kinds: &[Kind; 128],
    window: bool,
    p: &[u8],
    wire_len: usize,
    recv_ns: u64,
    read_ns: u64,
) {
    stats.first_media_ns.get_or_insert(recv_ns);
    let kind = kinds[(p[1] & 0x7f) as usize];
    match kind {
        Kind::Video => stats.video_packets += 1,
        Kind::Audio => stats.audio_packets += 1,
        Kind::Unknown => {}
    }
    if !window {
        return;
    }
    let w = &mut stats.window;
    w.packets += 1;
    w.bytes += wire_len as u64;
    match kind {
        Kind::Video => w.video_packets += 1,
        Kind::Audio => w.audio_packets += 1,
        Kind::Unknown => {}
    }
    let seq = u16::from_be_bytes([p[2], p[3]]);
    let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
    let s = match w.streams.iter_mut().position(|s| s.ssrc == ssrc) {
        Some(i) => &mut w.streams[i],
        None => {
            w.streams.push(StreamWindow {
                ssrc,
                first: i64::from(seq),
                highest: i64::from(seq),
                received: 0,
            });
            w.streams.last_mut().expect("just pushed")
        }
    };
    // Extend the 16-bit sequence number around the highest one seen.
    let delta = i64::from(seq.wrapping_sub(s.highest as u16) as i16);
    let ext = s.highest + delta;
    s.highest = s.highest.max(ext);
    s.first = s.first.min(ext);
    s.received += 1;
    let video = match kind {
        Kind::Video => Some(VideoCodec::Vp8),
        _ => None,
    };
    if kind != Kind::Unknown {
        if let Some((_, sent_ns, _)) =
            payload_offset(p).and_then(|o| media::read_payload(video, &p[o..]))
        {
            if sent_ns > 0 && sent_ns <= recv_ns {
                w.latency_us.record((recv_ns - sent_ns) / 1000);
            }
            if sent_ns > 0 && sent_ns <= read_ns {
                w.read_latency_us.record((read_ns - sent_ns) / 1000);
            }
        }
    }
}

/// How a bench viewer reads its socket.
#[derive(Clone, Copy, Debug, Default)]
pub struct BenchOptions {
    /// `None`: read when the socket is readable (a wake-up per datagram burst). `Some(t)`: read
    /// on a timer every `t` (every 2 ms until the fast path is up), draining the socket with
    /// `recvmmsg`; the socket is then not registered with the runtime at all. Fewer wake-ups
    /// and system calls; the kernel's receive times keep the latency and join figures exact,
    /// only the read latency grows by up to `t`.
    pub read_interval: Option<Duration>,
}

/// A running bench viewer.
pub struct BenchViewer {
    shared: Arc<Mutex<BenchStats>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl BenchViewer {
    /// Starts a viewer in its own task: signalling, ICE and DTLS, then counting.
    pub fn start<S: ViewerSignal>(signal: S, window: Arc<Window>) -> BenchViewer {
        Self::start_on(
            &tokio::runtime::Handle::current(),
            signal,
            window,
            BenchOptions::default(),
        )
    }

    /// Like [`BenchViewer::start`], on a given runtime (the load generator keeps viewers on
    /// single-threaded runtimes of their own: no wake-ups across threads per packet).
    pub fn start_on<S: ViewerSignal>(
        rt: &tokio::runtime::Handle,
        signal: S,
        window: Arc<Window>,
        opts: BenchOptions,
    ) -> BenchViewer {
        let shared = Arc::new(Mutex::new(BenchStats {
            started_ns: media::now_ns(),
            ..Default::default()
        }));
        let (stop, stop_rx) = watch::channel(false);
        let s = shared.clone();
        let task = rt.spawn(async move {
            if let Err(e) = run(signal, s.clone(), window, opts, stop_rx).await {
                if let Ok(mut st) = s.lock() {
                    st.error = Some(format!("{e:#}"));
                }
            }
        });
        BenchViewer { shared, stop, task }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> BenchStats {
        self.shared.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether audio and video have both arrived.
    pub fn receiving(&self) -> bool {
        self.shared
            .lock()
            .map(|s| s.video_packets > 0 && s.audio_packets > 0)
            .unwrap_or(false)
    }

    /// Whether the task ended (error or end of session).
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Datagrams handled per wake-up before yielding to other viewers.
const BATCH: usize = 16;

async fn run<S: ViewerSignal>(
    mut signal: S,
    shared: Arc<Mutex<BenchStats>>,
    window: Arc<Window>,
    opts: BenchOptions,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let tap = KeyTap::new()?;
    // A plain non-blocking socket: in timer mode no reactor watches it (no epoll event per
    // datagram); in readiness mode `ready` registers its descriptor (it must drop first).
    let mut ep = Endpoint::std_with_crypto(Some(tap.clone())).await?;
    setsockopt(&ep.socket, sockopt::ReceiveTimestampns, &true)?;
    let fd = ep.socket.as_raw_fd();
    let mut reader = Reader::new(if opts.read_interval.is_some() {
        BATCH
    } else {
        1
    });
    let ready = match opts.read_interval {
        // A duplicate descriptor of the same socket, registered with the runtime: its readiness
        // wakes the loop, which reads through `fd`.
        None => Some(tokio::net::UdpSocket::from_std(ep.socket.try_clone()?)?),
        Some(_) => None,
    };
    // Until the fast path is up, read every 2 ms so that ICE and DTLS are not slowed down (the
    // join time counts them), then every `read_interval`.
    let ticker = |t: Duration| {
        // Spread the viewers' ticks over the period.
        let phase = t.mul_f64(rand::random::<f64>());
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + phase, t);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        i
    };
    let mut tick = opts
        .read_interval
        .map(|t| ticker(t.min(Duration::from_millis(2))));
    let offer = signal.first_offer().await?;
    let mut kinds = kinds_of(&offer);
    let sdp = answer(&mut ep, offer)?;
    let candidate = ep.candidate()?;
    signal.send_answer(sdp, candidate.clone()).await?;
    // Signalling runs in a task of its own: polling a WebSocket stream is not free (tungstenite
    // prepares a large read buffer on every poll), so the media loop only polls a channel.
    let (events_tx, mut events) = mpsc::channel::<anyhow::Result<SignalEvent>>(4);
    let (answers, answers_rx) = mpsc::channel::<String>(4);
    let signalling = tokio::spawn(signal_task(signal, events_tx, answers_rx, candidate));

    let mut srtp: Option<rtc::srtp::context::Context> = None;
    let mut connected = false;
    let sleep = tokio::time::sleep(Duration::from_millis(1));
    tokio::pin!(sleep);
    // The connection's timers only move when it handled something, so its next deadline is
    // asked for only then (asking is not free), and the sleep is re-armed only when it moves.
    let mut armed = None::<tokio::time::Instant>;
    let mut touched = true;
    let result = loop {
        if touched || armed.is_none() {
            let deadline = tokio::time::Instant::now() + ep.sleep_for(Duration::from_millis(100));
            if armed.is_none_or(|a| a != deadline) {
                sleep.as_mut().reset(deadline);
                armed = Some(deadline);
            }
        }
        let mut to_rtc = false;
        tokio::select! {
            biased;
            r = async {
                match (tick.as_mut(), ready.as_ref()) {
                    (Some(t), _) => {
                        t.tick().await;
                        Ok(None)
                    }
                    (None, Some(r)) => r.readable().await.map(|()| Some(r)),
                    (None, None) => std::future::pending().await,
                }
            } => {
                let guard = match r {
                    Ok(g) => g,
                    Err(e) => break Err(e.into()),
                };
                let in_window = window.is_open();
                let mut stats = None;
                let mut read = 0u64;
                let mut to_conn = 0u64;
                // Readiness mode reads one datagram per call and yields after BATCH; timer mode
                // drains the socket with `recvmmsg`.
                let mut calls = 0;
                loop {
                    if guard.is_some() && calls == BATCH {
                        break;
                    }
                    calls += 1;
                    let got = match guard {
                        // `try_io` clears the runtime's readiness when the read would block.
                        Some(sock) => sock.try_io(Interest::READABLE, || reader.read(fd)),
                        None => reader.read(fd),
                    };
                    let got = match got {
                        Ok(k) => k,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    };
                    let read_ns = media::now_ns();
                    for i in 0..got {
                    let (n, from, kernel_ns) = reader.meta[i];
                    let recv_ns = if kernel_ns > 0 { kernel_ns.min(read_ns) } else { read_ns };
                    let d = &reader.bufs[i][..n];
                    read += 1;
                    match srtp.as_mut() {
                        Some(ctx) if is_rtp(d) => {
                            let st = match stats.as_mut() {
                                Some(s) => s,
                                None => stats.insert(shared.lock().map_err(|_| anyhow!("poisoned"))?),
                            };
                            match ctx.decrypt_rtp(d) {
                                Ok(p) => count(st, &kinds, in_window, &p, n, recv_ns, read_ns),
                                Err(_) => st.decrypt_errors += 1,
                            }
                        }
                        _ => {
                            ep.handle_datagram(d, from, Instant::now());
                            to_rtc = true;
                            to_conn += 1;
                        }
                    }
                    }
                    if guard.is_none() && got < reader.bufs.len() {
                        // A short batch: the socket is (nearly) empty; the next tick reads on.
                        break;
                    }
                }
                let mut st = match stats {
                    Some(s) => s,
                    None => shared.lock().map_err(|_| anyhow!("poisoned"))?,
                };
                st.wakeups += 1;
                st.datagrams += read;
                st.rtc_datagrams += to_conn;
            }
            e = events.recv() => match e {
                Some(Ok(SignalEvent::Offer(sdp))) => {
                    kinds = kinds_of(&sdp);
                    let sdp = answer(&mut ep, sdp)?;
                    let _ = answers.send(sdp).await;
                    to_rtc = true;
                }
                Some(Ok(SignalEvent::Ended)) | None => break Ok(()),
                Some(Ok(SignalEvent::Other)) => {}
                Some(Err(e)) => break Err(e),
            },
            _ = &mut sleep => {
                armed = None;
                ep.on_timer();
                to_rtc = true;
            }
            _ = stop.changed() => break Ok(()),
        }
        touched = to_rtc;
        if !to_rtc {
            continue;
        }
        while let Some(e) = ep.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = e {
                connected = s == RTCPeerConnectionState::Connected;
                if connected {
                    if let Ok(mut st) = shared.lock() {
                        st.connected_ns.get_or_insert(media::now_ns());
                    }
                }
                if s == RTCPeerConnectionState::Failed {
                    bail!("connection failed");
                }
            }
        }
        if connected && srtp.is_none() {
            match SrtpKeys::from_connection(&mut ep.pc, &tap, Instant::now()) {
                Ok(keys) => {
                    srtp = Some(keys.remote_context()?);
                    if let Some(t) = opts.read_interval {
                        tick = Some(ticker(t));
                    }
                    if let Ok(mut st) = shared.lock() {
                        st.fast_path = true;
                    }
                }
                Err(SrtpError::NotReady) => {}
                Err(e) => bail!("no SRTP keys for the fast path: {e}"),
            }
        }
        while let Some(m) = ep.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, p) = m.message {
                // Before the keys: count what the connection decrypted (a re-marshalled
                // header is enough for the counters).
                let mut raw = Vec::with_capacity(12 + p.payload.len());
                raw.extend_from_slice(&[0x80, p.header.payload_type & 0x7f]);
                raw.extend_from_slice(&p.header.sequence_number.to_be_bytes());
                raw.extend_from_slice(&p.header.timestamp.to_be_bytes());
                raw.extend_from_slice(&p.header.ssrc.to_be_bytes());
                raw.extend_from_slice(&p.payload);
                if let Ok(mut st) = shared.lock() {
                    st.slow_path_packets += 1;
                    let n = raw.len();
                    let t = media::instant_ns(m.now);
                    count(&mut st, &kinds, window.is_open(), &raw, n, t, t);
                }
            }
        }
    };
    drop(answers);
    let _ = tokio::time::timeout(Duration::from_secs(2), signalling).await;
    let _ = ep.pc.close();
    ep.flush();
    result
}

/// Forwards signalling events to the media loop and its answers to the server; leaves when the
/// media loop drops its answer channel.
async fn signal_task<S: ViewerSignal>(
    mut signal: S,
    events: mpsc::Sender<anyhow::Result<SignalEvent>>,
    mut answers: mpsc::Receiver<String>,
    candidate: String,
) {
    loop {
        tokio::select! {
            a = answers.recv() => match a {
                Some(sdp) => {
                    if let Err(e) = signal.send_answer(sdp, candidate.clone()).await {
                        let _ = events.send(Err(e)).await;
                        return;
                    }
                }
                None => break,
            },
            e = signal.next_event() => {
                let end = !matches!(e, Ok(SignalEvent::Offer(_)) | Ok(SignalEvent::Other));
                if matches!(e, Ok(SignalEvent::Other)) {
                    continue;
                }
                if events.send(e).await.is_err() || end {
                    break;
                }
            }
        }
    }
    signal.leave().await;
}

/// `now_ns()` − realtime, to put the kernel's receive times (`CLOCK_REALTIME`) on
/// [`media::now_ns`]'s clock.
fn realtime_offset() -> i128 {
    static OFFSET: OnceLock<i128> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        i128::from(media::now_ns()) - real
    })
}

fn kernel_ns(m: &RecvMsg<'_, '_, SockaddrIn>) -> u64 {
    if let Ok(cmsgs) = m.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(t) = c {
                let real = i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec());
                return (real + realtime_offset()).max(0) as u64;
            }
        }
    }
    0
}

fn from_addr(a: Option<SockaddrIn>) -> SocketAddr {
    a.map(|a| SocketAddr::V4(a.into()))
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Reads datagrams with their kernel receive times into buffers it keeps: one per call
/// (`recvmsg`) or up to a batch per call (`recvmmsg`).
struct Reader {
    bufs: Vec<Vec<u8>>,
    /// (length, sender, kernel receive time) of what the last call read.
    meta: Vec<(usize, SocketAddr, u64)>,
    cmsg: Vec<u8>,
    batch: bool,
}

impl Reader {
    fn new(batch: usize) -> Reader {
        let cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        Reader {
            bufs: (0..batch.max(1)).map(|_| vec![0u8; 2048]).collect(),
            meta: Vec::with_capacity(batch.max(1)),
            batch: batch > 1,
            cmsg,
        }
    }

    /// Reads what is there (non-blocking); `WouldBlock` when nothing is.
    fn read(&mut self, fd: RawFd) -> std::io::Result<usize> {
        self.meta.clear();
        if !self.batch {
            let r = recv_stamped(fd, &mut self.bufs[0], &mut self.cmsg)?;
            self.meta.push(r);
        } else {
            {
                // Headers hold raw pointers (not `Send`), so they live only for the call.
                let mut headers = MultiHeaders::<SockaddrIn>::preallocate(
                    self.bufs.len(),
                    Some(self.cmsg.clone()),
                );
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                    self.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                let res = recvmmsg(
                    fd,
                    &mut headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                )
                .map_err(std::io::Error::from)?;
                for m in res {
                    self.meta
                        .push((m.bytes, from_addr(m.address), kernel_ns(&m)));
                }
                if self.meta.is_empty() {
                    return Err(ErrorKind::WouldBlock.into());
                }
            }
        }
        Ok(self.meta.len())
    }
}

/// One datagram, non-blocking, with the kernel's receive time on [`media::now_ns`]'s clock
/// (0 if the kernel gave none).
fn recv_stamped(
    fd: RawFd,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, u64)> {
    let mut iov = [IoSliceMut::new(buf)];
    let m = recvmsg::<SockaddrIn>(fd, &mut iov, Some(cmsg), MsgFlags::MSG_DONTWAIT)
        .map_err(std::io::Error::from)?;
    Ok((m.bytes, from_addr(m.address), kernel_ns(&m)))
}

fn answer(ep: &mut Endpoint<std::net::UdpSocket>, offer: String) -> anyhow::Result<String> {
    let desc = RTCSessionDescription::offer(offer).map_err(|e| anyhow!("{e}"))?;
    ep.pc
        .set_remote_description(Instant::now(), desc)
        .map_err(|e| anyhow!("{e}"))?;
    let answer = ep.pc.create_answer(None).map_err(|e| anyhow!("{e}"))?;
    ep.pc
        .set_local_description(Instant::now(), answer.clone())
        .map_err(|e| anyhow!("{e}"))?;
    ep.flush();
    Ok(answer.sdp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_parses() {
        assert!(is_rtp(&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert!(is_rtp(&[0x90, 0x80 | 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert!(!is_rtp(&[0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1]), "SR");
        assert!(!is_rtp(&[0x81, 201, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1]), "RR");
        assert!(!is_rtp(&[0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "STUN");
        assert!(!is_rtp(&[22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "DTLS");
        let mut p = vec![0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]);
        p.extend_from_slice(&media::vp8_payload(9, true, true, 40));
        let off = payload_offset(&p).unwrap();
        assert_eq!(off, 20);
        assert_eq!(
            media::read_payload(Some(VideoCodec::Vp8), &p[off..])
                .unwrap()
                .0,
            9
        );
        let kinds = kinds_of(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n",
        );
        assert_eq!(kinds[111], Kind::Audio);
        assert_eq!(kinds[97], Kind::Video);
        assert_eq!(kinds[100], Kind::Unknown);
    }

    #[test]
    fn window_counts_gaps_and_latency() {
        let kinds = kinds_of("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n");
        let mut st = BenchStats::default();
        for seq in [65534u16, 65535, 1, 2] {
            let mut p = vec![0x80, 96];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
            p.extend_from_slice(&media::vp8_payload(1, true, false, 40));
            let recv = media::now_ns() + 10_000_000;
            count(&mut st, &kinds, true, &p, p.len(), recv, recv + 10_000_000);
        }
        let w = st.window();
        assert_eq!(w.packets, 4);
        assert_eq!(w.video_packets, 4);
        assert_eq!(w.expected, 5, "0 was lost across the wrap");
        assert_eq!(w.latency_us.count(), 4);
        assert_eq!(w.read_latency_us.count(), 4);
        assert!(w.read_latency_us.percentile(0.5) > w.latency_us.percentile(0.5));
    }
}
