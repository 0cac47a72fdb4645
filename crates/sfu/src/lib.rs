//! The media plane of lectern: a selective forwarding unit on webrtc-rs's sans-IO `rtc` core.
//!
//! ```text
//!   UDP socket (one port) ──▶ udp reader ─┐  demux: 5-tuple, or STUN ufrag on first contact
//!   TCP listener (same port) ─▶ tcp conns ─┤
//!                                          ▼
//!                            room task (one per live session)
//!                 owns the Room (control plane), every peer connection of the
//!                 session, the published tracks with their retransmission caches,
//!                 and every viewer leg; forwards by pure decisions (forward.rs)
//!                                          │ try_send_to (never waits on a slow viewer)
//!                                          ▼
//!                                   the same UDP socket / per-TCP-connection queues
//! ```
//!
//! Public surface: [`Sfu::bind`] opens the sockets, [`Sfu::open_room`] starts a room task and
//! returns a [`RoomHandle`] that the signalling layer feeds with [`Control`] messages.

#![forbid(unsafe_code)]

pub mod batch;
pub mod cache;
pub mod codec;
pub mod demux;
pub mod forward;
pub mod net;
pub mod offer;
pub mod peer;
mod room_task;
pub mod srtp;
pub mod tap;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lectern_proto::{
    ClientMsg, EndReason, PeerId, RecordingId, ServerMsg, SessionId, SessionInfo, TrackId,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use peer::Announce;
pub use room_task::OUTBOUND_QUEUE;
pub use tap::{Tap, TapMsg};

/// Errors of the media plane.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("webrtc: {0}")]
    Rtc(String),
}

/// Settings of the media plane.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// Where the media socket binds (port 0 picks one).
    pub bind: SocketAddr,
    /// The IP announced in ICE candidates; defaults to the bind IP, or to the first
    /// non-loopback interface address when binding to all interfaces.
    pub public_ip: Option<IpAddr>,
    /// Accept ICE over TCP (passive) on the same port number.
    pub ice_tcp: bool,
    /// How long a session stays paused without its facilitator.
    pub grace: Duration,
    /// Minimum spacing of keyframe requests to one published track.
    pub keyframe_interval: Duration,
    /// A fan-out to at least this many viewers is split across threads (0: never).
    pub fanout_split: usize,
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 7880)),
            public_ip: None,
            ice_tcp: true,
            grace: Duration::from_secs(120),
            keyframe_interval: Duration::from_millis(500),
            fanout_split: 96,
        }
    }
}

/// Counters of the whole media plane (updated by room tasks a few times a second).
#[derive(Debug, Default)]
pub struct Stats {
    /// RTP packets received from publishers.
    pub packets_in: AtomicU64,
    /// RTP packets sent to viewers (one per viewer).
    pub packets_forwarded: AtomicU64,
    /// Packets answered from a retransmission cache.
    pub retransmitted: AtomicU64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: AtomicU64,
    /// Datagrams dropped because a room's inbox was full.
    pub inbox_drops: AtomicU64,
    /// Sends that failed because a socket buffer or a TCP queue was full.
    pub send_drops: AtomicU64,
    /// Forwarded packets that went through a connection's own write path because its SRTP
    /// egress could not be set up (expected: none).
    pub slow_path_sends: AtomicU64,
    /// Packets a recorder could not take because its queue was full.
    pub recorder_drops: AtomicU64,
    /// How long one incoming packet's fan-out to all its viewers takes.
    pub fanout: Histogram,
}

/// Upper bounds of [`Histogram`] buckets, in microseconds.
pub const HISTOGRAM_BOUNDS_US: [u64; 12] =
    [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000];

/// A lock-free latency histogram with fixed buckets (one relaxed atomic add per record).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Counts per bucket of [`HISTOGRAM_BOUNDS_US`], the last one for anything above.
    buckets: [AtomicU64; HISTOGRAM_BOUNDS_US.len() + 1],
    sum_ns: AtomicU64,
}

/// A snapshot of a [`Histogram`]: cumulative counts by upper bound (µs; `None` is +Inf).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    pub cumulative: Vec<(Option<u64>, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let us = d.as_micros() as u64;
        let i = HISTOGRAM_BOUNDS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(HISTOGRAM_BOUNDS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Ordering::Relaxed);
            cumulative.push((HISTOGRAM_BOUNDS_US.get(i).copied(), total));
        }
        HistogramSnapshot {
            cumulative,
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count: total,
        }
    }
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub packets_in: u64,
    pub packets_forwarded: u64,
    pub retransmitted: u64,
    pub keyframe_requests: u64,
    pub inbox_drops: u64,
    pub send_drops: u64,
    pub slow_path_sends: u64,
    pub recorder_drops: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            packets_in: g(&self.packets_in),
            packets_forwarded: g(&self.packets_forwarded),
            retransmitted: g(&self.retransmitted),
            keyframe_requests: g(&self.keyframe_requests),
            inbox_drops: g(&self.inbox_drops),
            send_drops: g(&self.send_drops),
            slow_path_sends: g(&self.slow_path_sends),
            recorder_drops: g(&self.recorder_drops),
        }
    }
}

/// What the signalling layer sends a room task.
#[derive(Debug)]
pub enum Control {
    /// A peer whose key was checked joins; frames for it go to `out`.
    Join {
        peer: PeerId,
        admission: Box<lectern_room::Admission>,
        out: mpsc::Sender<Outbound>,
    },
    /// A frame from a joined peer.
    Signal { peer: PeerId, msg: ClientMsg },
    /// The peer's signalling connection is gone.
    Gone { peer: PeerId },
    /// The peer stops publishing on purpose (a WHIP `DELETE`): its tracks are removed, not
    /// paused as when a connection drops. Usually followed by [`Control::Gone`].
    Unpublish { peer: PeerId },
    /// The recorder asked for with [`SfuEvent::RecordingRequested`] runs and reads `tap`.
    RecorderStarted {
        recording: RecordingId,
        since_ms: u64,
        tap: Tap,
    },
    /// The recorder could not start, or failed while running.
    RecorderFailed {
        recording: Option<RecordingId>,
        message: String,
    },
    /// The recorder lost packets of a video track and needs a keyframe to go on.
    RecorderKeyframe { track: TrackId },
    /// The server is shutting down.
    Shutdown,
    /// End the session for everyone (an administrator cancelled it).
    End(EndReason),
}

/// What a room task sends a peer's signalling connection.
#[derive(Debug)]
pub enum Outbound {
    Frame(ServerMsg),
    /// Close the connection with this WebSocket close code.
    Close {
        code: u16,
        reason: String,
    },
}

/// Events of the media plane for the server.
#[derive(Debug)]
pub enum SfuEvent {
    /// A room task finished: the session ended (for this reason), or, with `None`, the server
    /// is shutting down and the session is only interrupted.
    RoomClosed {
        session: SessionId,
        ended: Option<EndReason>,
    },
    /// The facilitator (or the record-from-start setting) asks for a recording: the server
    /// sets up a recorder and answers with [`Control::RecorderStarted`] or
    /// [`Control::RecorderFailed`].
    RecordingRequested { session: SessionId },
    /// The facilitator removed someone with `revoke`: their invite must stop working.
    RevokeInvite { session: SessionId, invite: String },
    /// Something happened in the discussion or on stage (chat, a question, a hand, …), sent
    /// whether or not the session is recorded: `kind` and its JSON `data` (bounded: a few
    /// hundred bytes), at `at_ms` (ms since the UNIX epoch). The same events go on a running
    /// recording's timeline.
    SessionEvent {
        session: SessionId,
        kind: &'static str,
        data: String,
        at_ms: u64,
    },
}

/// A running room task.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub session: SessionId,
    control: mpsc::Sender<Control>,
}

impl RoomHandle {
    /// Sends a control message, waiting while the room's queue is full.
    pub async fn send(&self, c: Control) -> bool {
        self.control.send(c).await.is_ok()
    }

    /// Sends without waiting; `false` when the room is busy or gone.
    pub fn try_send(&self, c: Control) -> Result<(), Control> {
        self.control.try_send(c).map_err(|e| e.into_inner())
    }

    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }
}

/// Where a datagram from the demultiplexer goes.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub media: mpsc::Sender<room_task::MediaIn>,
    pub conn: room_task::ConnId,
}

/// State shared by the socket tasks and the room tasks. Only touched on first contact and when
/// connections open or close, never per packet.
#[derive(Debug)]
pub(crate) struct Shared {
    pub udp: Arc<UdpSocket>,
    pub routes: RwLock<HashMap<String, Route>>,
    pub announce: Announce,
    pub config: SfuConfig,
    pub stats: Stats,
    pub events: mpsc::UnboundedSender<SfuEvent>,
}

impl Shared {
    pub fn route(&self, ufrag: &str) -> Option<Route> {
        self.routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(ufrag)
            .cloned()
    }
}

/// Binds the UDP socket and, for ICE-TCP, a TCP listener on the same port number. With port 0
/// the OS picks a UDP port whose TCP twin may be taken (by any outgoing connection); then another
/// port is tried.
async fn bind_media_port(
    config: &SfuConfig,
) -> Result<(UdpSocket, Option<tokio::net::TcpListener>), SfuError> {
    let attempts = if config.bind.port() == 0 { 20 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = net::udp_socket(config.bind)?;
        if !config.ice_tcp {
            return Ok((udp, None));
        }
        match tokio::net::TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, Some(tcp))),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last_error
        .unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse))
        .into())
}

/// The media plane: sockets plus the rooms running on them.
#[derive(Clone, Debug)]
pub struct Sfu {
    shared: Arc<Shared>,
}

impl Sfu {
    /// Binds the media port (UDP, and TCP on the same number when enabled) and starts the
    /// socket tasks. Returns the SFU and the stream of its events.
    pub async fn bind(
        config: SfuConfig,
    ) -> Result<(Sfu, mpsc::UnboundedReceiver<SfuEvent>), SfuError> {
        let (udp, tcp) = bind_media_port(&config).await?;
        let udp = Arc::new(udp);
        let local = udp.local_addr()?;
        let ip = match config.public_ip {
            Some(ip) => ip,
            None if local.ip().is_unspecified() => net::default_ip(),
            None => local.ip(),
        };
        let announce = Announce {
            addr: SocketAddr::new(ip, local.port()),
            tcp: tcp.is_some(),
        };
        let (events, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            udp,
            routes: RwLock::new(HashMap::new()),
            announce,
            config,
            stats: Stats::default(),
            events,
        });
        tokio::spawn(net::udp_reader(shared.clone()));
        if let Some(listener) = tcp {
            tokio::spawn(net::tcp_acceptor(shared.clone(), listener));
        }
        Ok((Sfu { shared }, events_rx))
    }

    /// The local address of the media socket.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.udp.local_addr()
    }

    /// The address announced in candidates.
    pub fn announced(&self) -> SocketAddr {
        self.shared.announce.addr
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The fan-out time histogram.
    pub fn fanout(&self) -> HistogramSnapshot {
        self.shared.stats.fanout.snapshot()
    }

    /// Starts the task of a live session; with `record_from_start` it asks for a recorder as
    /// soon as the session first goes live.
    pub fn open_room(&self, info: SessionInfo, record_from_start: bool) -> RoomHandle {
        let session = info.id;
        let control = room_task::spawn(self.shared.clone(), info, record_from_start);
        RoomHandle { session, control }
    }
}
