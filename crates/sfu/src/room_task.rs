//! The task that owns one live session: its control plane ([`Room`]), every peer connection,
//! every published track and every viewer leg, all behind `&mut self`. No locks on the media
//! path; the only shared state it touches is the route table, when connections open and close.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use lectern_proto::{
    Answer, Candidate, ClientMsg, EndReason, ErrorCode, MediaKind, Offer, PcKind, PeerId,
    ProtocolError, PublishedMid, ServerMsg, ServerOffer, SessionInfo, Source, SubscribedMid,
    TrackId,
};
use lectern_room::{Notice, Room, RoomConfig};
use rand::distr::{Alphanumeric, SampleString};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc;

use crate::batch::SendBatch;
use crate::cache::PacketCache;
use crate::codec::Codec;
use crate::forward::{seq_newer, Decision, Incoming, KeyframeLimiter, Leg};
use crate::offer::check_publish_offer;
use crate::peer::{mid_of_receiver, mid_of_sender, new_peer_connection, Direction};
use crate::srtp::{KeyTap, OutHeader, Rollover, SrtpKeys, SrtpSender};
use crate::tap::{Tap, TapMsg};
use crate::{Control, Outbound, Route, SfuEvent, Shared};

/// A connection's id within its room (never reused).
pub(crate) type ConnId = u32;

/// Datagrams queued for a room before the socket reader drops.
const MEDIA_QUEUE: usize = 8192;
/// Control messages queued for a room before senders wait (or are told "busy").
const CONTROL_QUEUE: usize = 1024;
/// Frames queued for a peer's signalling connection; a peer that does not read them is dropped.
pub const OUTBOUND_QUEUE: usize = 256;
/// How often the room looks after keyframe requests and publishes counters.
const TICK: Duration = Duration::from_millis(100);
/// Datagrams held per connection while its remote description is not set yet.
const EARLY_DATAGRAMS: usize = 16;
/// Retransmission cache sizes (packets).
const VIDEO_CACHE: usize = 1024;
const AUDIO_CACHE: usize = 128;

/// A datagram (or ICE-TCP frame) for one connection of the room.
#[derive(Debug)]
pub(crate) struct MediaIn {
    pub conn: ConnId,
    pub from: SocketAddr,
    /// Whether this came over ICE-TCP rather than UDP.
    pub over_tcp: bool,
    /// The writer of the ICE-TCP connection this came over (sent with STUN checks).
    pub tcp: Option<mpsc::Sender<Bytes>>,
    pub data: BytesMut,
    pub at: Instant,
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    info: SessionInfo,
    record_from_start: bool,
) -> mpsc::Sender<Control> {
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
    let room = Room::new(
        info.clone(),
        RoomConfig {
            grace: shared.config.grace,
            record_from_start,
        },
    );
    let task = RoomTask {
        session: info.id,
        room,
        io: Io {
            shared: shared.clone(),
            tcp: HashMap::new(),
            local: shared.announce.addr,
        },
        media_tx,
        conns: HashMap::new(),
        next_conn: 1,
        members: HashMap::new(),
        tracks: HashMap::new(),
        inbound: HashMap::new(),
        timers: BinaryHeap::new(),
        counters: Counters::default(),
        evict: Vec::new(),
        stop: None,
        plan: Vec::new(),
        tap: None,
        tap_dropped: 0,
    };
    tokio::spawn(task.run(control_rx, media_rx));
    control_tx
}

/// Socket side of the room.
struct Io {
    shared: Arc<Shared>,
    /// ICE-TCP writers by remote address.
    tcp: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    /// The address announced in candidates (the local side of every transport context).
    local: SocketAddr,
}

thread_local! {
    /// Forwarded media waiting for one `sendmmsg`, per thread: the room task's and, for large
    /// fan-outs, the helper threads'. Always flushed before the work that filled it returns.
    static BATCH: RefCell<SendBatch> = RefCell::new(SendBatch::new());
}

/// What queueing packets did.
#[derive(Clone, Copy, Debug, Default)]
struct Queued {
    sent: bool,
    dropped: u64,
}

/// One viewer's share of a fan-out, decided on the room task and carried out on any thread.
#[derive(Clone, Copy, Debug)]
struct Planned {
    leg: usize,
    pt: u8,
    seq: u16,
    ts: u32,
    to: SocketAddr,
    tcp: bool,
}

impl Io {
    /// Sends everything a connection has to send. Never waits: a full socket buffer or TCP queue
    /// drops the packet (counted), so one slow viewer cannot hold up the room. Where the
    /// connection sends DTLS and SRTP(C) is where its peer is (STUN answers go to whoever asked),
    /// so that address is noted for the connection's own media egress.
    fn flush(&self, conn: &mut Conn, counters: &mut Counters) {
        while let Some(out) = conn.pc.poll_write() {
            let to = out.transport.peer_addr;
            let tcp = out.transport.transport_protocol == TransportProtocol::TCP;
            if matches!(out.message.first(), Some(20..=63 | 128..=191)) {
                conn.remote = Some((to, tcp));
                if let Some(e) = &mut conn.egress {
                    e.to = to;
                    e.tcp = tcp;
                }
            }
            if !self.send_datagram(&out.message, to, tcp) {
                counters.send_drops += 1;
            }
        }
    }

    /// Hands the batched datagrams to the kernel (never waits; refusals are counted drops).
    fn flush_batch(&self, counters: &mut Counters) {
        counters.send_drops += self.flush_thread_batch();
    }

    /// Flushes the current thread's batch; returns the datagrams dropped.
    fn flush_thread_batch(&self) -> u64 {
        BATCH.with_borrow_mut(|b| {
            if b.is_empty() {
                0
            } else {
                b.flush(&*self.shared.udp).dropped as u64
            }
        })
    }

    /// One datagram (or ICE-TCP frame) to a peer, without waiting.
    fn send_datagram(&self, data: &[u8], to: SocketAddr, tcp: bool) -> bool {
        if tcp {
            self.tcp
                .get(&to)
                .is_some_and(|w| w.try_send(Bytes::copy_from_slice(data)).is_ok())
        } else {
            self.shared.udp.try_send_to(data, to).is_ok()
        }
    }
}

#[derive(Default)]
struct Counters {
    packets_in: u64,
    forwarded: u64,
    retransmitted: u64,
    keyframe_requests: u64,
    send_drops: u64,
    slow_path: u64,
}

struct Conn {
    peer: PeerId,
    direction: Direction,
    pc: RTCPeerConnection,
    ufrag: String,
    /// The deadline currently in the timer heap for this connection.
    deadline: Option<Instant>,
    connected: bool,
    /// Where the peer is (address, over ICE-TCP), once the connection has sent it DTLS.
    remote: Option<(SocketAddr, bool)>,
    /// Subscribe connections: the SRTP key tap, and the media egress once DTLS is done.
    tap: Option<Arc<KeyTap>>,
    egress: Option<Egress>,
    /// Datagrams that arrived before the remote description was set (replayed after it).
    early: Vec<MediaIn>,
}

/// A viewer connection's own path for forwarded media: SRTP in place, then straight to the
/// socket, bypassing the connection's write pipeline.
struct Egress {
    /// The connection's keys; each leg derives its own `SrtpSender` from them (its SSRC is its
    /// own, so the legs never share a nonce), which lets legs be protected on any thread.
    keys: SrtpKeys,
    to: SocketAddr,
    tcp: bool,
}

struct Member {
    out: mpsc::Sender<Outbound>,
    publish: Option<ConnId>,
    subscribe: Option<ConnId>,
    /// The sending tracks of the last accepted publish offer.
    published: Vec<PublishedMid>,
    /// Viewer side: one sender per track this member receives.
    senders: HashMap<TrackId, RTCRtpSenderId>,
    /// A subscribe offer is out and unanswered.
    negotiating: bool,
    /// The subscribe connection needs a new offer.
    dirty: bool,
    /// Whether the member receives media (false for a publish-only ingest such as WHIP: no
    /// viewer legs, no subscribe offers).
    receives_media: bool,
    /// `joined` was sent: broadcasts reach this member only from then on (so `joined` is its
    /// first frame even when its join replaces another connection).
    joined: bool,
}

/// Where a published track's media currently comes from.
struct Upstream {
    conn: ConnId,
    receiver: RTCRtpReceiverId,
    ssrc: u32,
}

/// One published track and its viewers.
struct Publication {
    source: Source,
    publisher: PeerId,
    /// A muted microphone: its packets are dropped on arrival (set by the room's `Mute`).
    muted: bool,
    codec: Codec,
    rtc_codec: RTCRtpCodec,
    upstream: Option<Upstream>,
    /// Increments each time the upstream source changes.
    epoch: u32,
    cache: PacketCache,
    keyframes: KeyframeLimiter,
    /// Where the newest keyframe starts, so a late joiner can start from it.
    last_keyframe: Option<CachedKeyframe>,
    /// The newest sequence number of the current epoch.
    latest_seq: Option<u16>,
    viewers: Vec<ViewerLeg>,
}

#[derive(Clone, Copy, Debug)]
struct CachedKeyframe {
    epoch: u32,
    seq: u16,
    at: Instant,
}

struct ViewerLeg {
    peer: PeerId,
    conn: ConnId,
    sender: RTCRtpSenderId,
    ssrc: u32,
    /// Payload type on this viewer's connection, known once its negotiation completes.
    payload_type: Option<u8>,
    leg: Leg,
    /// This leg's SRTP sender, from its connection's keys once it is up.
    srtp: Option<SrtpSender>,
    /// SRTP rollover counter of this leg's SSRC.
    roc: Rollover,
    /// Sent so far, for sender reports.
    packets: u32,
    octets: u32,
}

impl ViewerLeg {
    /// Sends `packet` to this viewer with its own SSRC, payload type, sequence number and
    /// timestamp: the header is written and the payload copied once into `scratch`, protected
    /// in place and handed to the socket. Without an egress (its keys could not be read) the
    /// connection's own write path is used.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        io: &mut Io,
        counters: &mut Counters,
        conn: &mut Conn,
        packet: &rtp::Packet,
        payload_type: u8,
        seq: u16,
        ts: u32,
        now: Instant,
    ) -> bool {
        let Some(egress) = &conn.egress else {
            let payload = &packet.payload[..];
            self.packets = self.packets.wrapping_add(1);
            self.octets = self.octets.wrapping_add(payload.len() as u32);
            let mut out = packet.clone();
            out.header.ssrc = self.ssrc;
            out.header.payload_type = payload_type;
            out.header.sequence_number = seq;
            out.header.timestamp = ts;
            counters.slow_path += 1;
            let sent = conn
                .pc
                .rtp_sender(self.sender)
                .is_some_and(|mut sender| sender.write_rtp(now, out).is_ok());
            io.flush(conn, counters);
            return sent;
        };
        if !self.ensure_srtp(egress) {
            return false;
        }
        let (to, tcp) = (egress.to, egress.tcp);
        let out = self.seal_into_batch(io, packet, payload_type, seq, ts, to, tcp);
        counters.send_drops += out.dropped;
        out.sent
    }

    /// Gives the leg its own SRTP sender from its connection's keys (once).
    fn ensure_srtp(&mut self, egress: &Egress) -> bool {
        if self.srtp.is_none() {
            match egress.keys.sender() {
                Ok(s) => self.srtp = Some(s),
                Err(e) => {
                    tracing::warn!("SRTP sender for a leg: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// Writes, protects and queues one packet for this viewer in the current thread's batch
    /// (flushing it when full). Needs nothing but the leg itself, so legs of one room can be
    /// served by several threads at once.
    #[allow(clippy::too_many_arguments)]
    fn seal_into_batch(
        &mut self,
        io: &Io,
        packet: &rtp::Packet,
        payload_type: u8,
        seq: u16,
        ts: u32,
        to: SocketAddr,
        tcp: bool,
    ) -> Queued {
        let Some(srtp) = &mut self.srtp else {
            return Queued::default();
        };
        let payload = &packet.payload[..];
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload.len() as u32);
        let header = OutHeader {
            marker: packet.header.marker,
            payload_type,
            seq,
            ts,
            ssrc: self.ssrc,
        };
        let roc = self.roc.roc_for(seq);
        BATCH.with_borrow_mut(|batch| {
            let mut out = Queued::default();
            if batch.is_full() {
                out.dropped += batch.flush(&*io.shared.udp).dropped as u64;
            }
            let buf = batch.slot();
            match srtp.seal_rtp(buf, &header, payload, roc) {
                Ok(n) if tcp => {
                    let frame = Bytes::copy_from_slice(&buf[..n]);
                    out.sent = io.tcp.get(&to).is_some_and(|w| w.try_send(frame).is_ok());
                }
                Ok(n) => {
                    batch.push(n, to);
                    out.sent = true;
                }
                Err(e) => {
                    // Only a packet too big for a datagram slot gets here (a publisher's
                    // oversized packet); it is dropped for every viewer.
                    tracing::trace!("SRTP protect: {e}");
                    out.dropped += 1;
                }
            }
            out
        })
    }

    /// The publisher's sender report, as this viewer sees the stream: its SSRC, its timestamps
    /// (the same wall clock keeps audio and video of one publisher in sync), its counts.
    fn sender_report(&self, epoch: u32, from: &SenderReport) -> Option<SenderReport> {
        let (_, rtp_time) = self.leg.rewrite(epoch, 0, from.rtp_time)?;
        Some(SenderReport {
            ssrc: self.ssrc,
            ntp_time: from.ntp_time,
            rtp_time,
            packet_count: self.packets,
            octet_count: self.octets,
            ..Default::default()
        })
    }
}

struct RoomTask {
    session: lectern_proto::SessionId,
    room: Room,
    io: Io,
    media_tx: mpsc::Sender<MediaIn>,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    members: HashMap<PeerId, Member>,
    tracks: HashMap<TrackId, Publication>,
    /// (publish connection) → [(rtc track id, our track id)]: at most three entries each, so a
    /// linear search by `&str` beats hashing a `String` per packet.
    inbound: HashMap<ConnId, Vec<(String, TrackId)>>,
    timers: BinaryHeap<Reverse<(Instant, ConnId)>>,
    counters: Counters,
    /// Peers to remove once the current notices are out (they stopped reading).
    evict: Vec<PeerId>,
    stop: Option<Stop>,
    /// The current fan-out's planned sends (reused).
    plan: Vec<Planned>,
    /// The recorder's queue while recording.
    tap: Option<Tap>,
    /// Recorder drops already counted in the stats.
    tap_dropped: u64,
}

/// Why a room task stops.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// The session is over; everyone was told.
    Ended(EndReason),
    /// The server shuts down; the session is interrupted, not ended, and clients reconnect.
    Shutdown,
}

impl RoomTask {
    async fn run(
        mut self,
        mut control: mpsc::Receiver<Control>,
        mut media: mpsc::Receiver<MediaIn>,
    ) {
        let mut next_tick = Instant::now() + TICK;
        let sleep = tokio::time::sleep_until(next_tick.into());
        let mut sleep: Pin<Box<tokio::time::Sleep>> = Box::pin(sleep);
        let mut armed = next_tick;
        while self.stop.is_none() {
            // Timers run on every turn, not only when the queues are empty, so a busy room still
            // retransmits DTLS, sends reports and asks for keyframes on time.
            let now = Instant::now();
            self.on_timers(now);
            if now >= next_tick {
                self.on_tick(now);
                next_tick = now + TICK;
            }
            let deadline = self.next_deadline(next_tick);
            if deadline != armed {
                sleep.as_mut().reset(deadline.into());
                armed = deadline;
            }
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(c) => self.on_control(Instant::now(), c),
                    None => self.stop = Some(Stop::Shutdown),
                },
                m = media.recv() => {
                    if let Some(m) = m {
                        self.on_media(m);
                        // Drain what is already queued before looking at timers again.
                        for _ in 0..64 {
                            match media.try_recv() {
                                Ok(m) => self.on_media(m),
                                Err(_) => break,
                            }
                        }
                    }
                }
                _ = sleep.as_mut() => {}
            }
        }
        self.close_all();
    }

    fn next_deadline(&mut self, tick: Instant) -> Instant {
        let mut d = tick;
        if let Some(Reverse((t, _))) = self.timers.peek() {
            d = d.min(*t);
        }
        if let Some(t) = self.room.poll_timeout() {
            d = d.min(t);
        }
        d
    }

    // ------------------------------------------------------------------------------------------
    // Control

    fn on_control(&mut self, now: Instant, c: Control) {
        match c {
            Control::Join {
                peer,
                admission,
                out,
            } => {
                self.members.insert(
                    peer,
                    Member {
                        out,
                        publish: None,
                        subscribe: None,
                        published: Vec::new(),
                        senders: HashMap::new(),
                        negotiating: false,
                        dirty: false,
                        receives_media: admission.receives_media,
                        joined: false,
                    },
                );
                self.room.join(now, peer, *admission);
                self.apply_notices(now);
                if self.members.contains_key(&peer) {
                    self.subscribe_to_existing(now, peer);
                }
            }
            Control::Signal { peer, msg } => {
                if !self.members.contains_key(&peer) {
                    return;
                }
                if let Err(e) = self.on_signal(now, peer, msg) {
                    self.send(peer, ServerMsg::Error(e.into()));
                }
                self.apply_notices(now);
            }
            Control::Gone { peer } => {
                self.remove_member(now, peer);
                self.apply_notices(now);
            }
            Control::Unpublish { peer } => {
                let published = self
                    .members
                    .get_mut(&peer)
                    .map(|m| std::mem::take(&mut m.published))
                    .unwrap_or_default();
                for p in published {
                    self.room.unpublish(peer, p.source);
                }
                self.apply_notices(now);
            }
            Control::RecorderStarted {
                recording,
                since_ms,
                mut tap,
            } => {
                if self.tap.is_some() || self.stop.is_some() {
                    // A second recorder for one room (start, stop, start in quick succession):
                    // only the first one records.
                    tap.send(TapMsg::Stop);
                    return;
                }
                self.tap = Some(tap);
                self.room.recorder_started(recording, since_ms);
                self.apply_notices(now);
                if self.tap.is_some() {
                    self.announce_tracks_to_recorder(now);
                }
            }
            Control::RecorderFailed { recording, message } => {
                tracing::error!("session {}: recording failed: {message}", self.session);
                self.stop_recorder();
                self.room.recorder_failed(recording, message);
                self.apply_notices(now);
            }
            Control::RecorderKeyframe { track } => self.request_keyframe(track, now),
            Control::Shutdown => self.stop = Some(Stop::Shutdown),
            Control::End(reason) => {
                self.room.end(reason);
                self.apply_notices(now);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Recorder

    /// A recorder that just attached learns every track that has a source, and gets keyframes
    /// to start its files on.
    fn announce_tracks_to_recorder(&mut self, now: Instant) {
        let ids: Vec<TrackId> = self
            .tracks
            .iter()
            .filter(|(_, p)| p.upstream.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.announce_track_to_recorder(id);
            self.request_keyframe(id, now);
        }
    }

    fn announce_track_to_recorder(&mut self, track: TrackId) {
        let (Some(tap), Some(p)) = (self.tap.as_mut(), self.tracks.get(&track)) else {
            return;
        };
        let name = self
            .room
            .name_of(p.publisher)
            .unwrap_or_default()
            .to_string();
        let ok = tap.send(TapMsg::Track {
            track,
            source: p.source,
            publisher: p.publisher,
            name,
            codec: p.codec,
            clock_rate: p.rtc_codec.clock_rate,
            channels: p.rtc_codec.channels,
        });
        if !ok {
            self.recorder_gone();
        }
    }

    fn tell_recorder(&mut self, m: TapMsg) {
        if let Some(tap) = self.tap.as_mut() {
            if !tap.send(m) {
                self.recorder_gone();
            }
        }
    }

    /// The recorder's end of the queue is gone without being stopped: it failed (and reports
    /// why through the server).
    fn recorder_gone(&mut self) {
        if let Some(tap) = self.tap.take() {
            self.count_recorder_drops(&tap);
        }
    }

    fn stop_recorder(&mut self) {
        if let Some(mut tap) = self.tap.take() {
            tap.send(TapMsg::Stop);
            self.count_recorder_drops(&tap);
        }
    }

    /// Adds the drops of a tap that was just taken to the stats (the tick adds them while it
    /// runs).
    fn count_recorder_drops(&mut self, tap: &Tap) {
        let new = tap.dropped().saturating_sub(self.tap_dropped);
        self.io
            .shared
            .stats
            .recorder_drops
            .fetch_add(new, Ordering::Relaxed);
        self.tap_dropped = 0;
    }

    fn on_signal(
        &mut self,
        now: Instant,
        peer: PeerId,
        msg: ClientMsg,
    ) -> Result<(), ProtocolError> {
        match msg {
            ClientMsg::Join(_) => Err(ProtocolError::new(
                ErrorCode::AlreadyJoined,
                "this connection has already joined",
            )),
            ClientMsg::Ping(p) => {
                self.send(peer, ServerMsg::Pong(p));
                Ok(())
            }
            ClientMsg::Offer(offer) => self.on_publish_offer(now, peer, offer),
            ClientMsg::Answer(answer) => self.on_subscribe_answer(now, peer, answer),
            ClientMsg::Candidate(c) => self.on_candidate(peer, c),
            ClientMsg::EndSession => self.room.end_by(peer),
            ClientMsg::StartRecording => self.room.request_recording(peer, true),
            ClientMsg::StopRecording => self.room.request_recording(peer, false),
            ClientMsg::AddChapter(c) => self.room.add_chapter(peer, &c.title),
            ClientMsg::Chat(t) => self.room.chat(now, wall_ms(), peer, &t.text),
            ClientMsg::Ask(t) => self.room.ask(now, wall_ms(), peer, &t.text),
            ClientMsg::Vote(v) => self.room.vote(now, peer, v.question, v.up),
            ClientMsg::MarkQuestion(m) => self.room.mark_question(peer, m.question, m.state),
            ClientMsg::RaiseHand => self.room.raise_hand(now, peer),
            ClientMsg::LowerHand(l) => self.room.lower_hand(now, peer, l.peer),
            ClientMsg::SetStage(s) => self.room.set_stage(peer, s.peer, s.on),
            ClientMsg::Mute(m) => self.room.mute(peer, m.peer, m.muted),
            ClientMsg::Remove(r) => self.room.remove(peer, r.peer, r.revoke),
            ClientMsg::Leave => {
                self.remove_member(now, peer);
                Ok(())
            }
        }
    }

    fn on_publish_offer(
        &mut self,
        now: Instant,
        peer: PeerId,
        offer: Offer,
    ) -> Result<(), ProtocolError> {
        if offer.pc != PcKind::Publish {
            return Err(ProtocolError::new(
                ErrorCode::BadSdp,
                "the server makes the offers on the subscribe connection",
            ));
        }
        self.room.check_publish(peer)?;
        // Everything is checked before anything changes.
        let sending = check_publish_offer(&offer.sdp, &offer.tracks)?;
        for t in &sending {
            self.room.check_source(peer, t.source)?;
        }
        let desc = RTCSessionDescription::offer(offer.sdp)
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, e.to_string()))?;

        let conn_id = match self.members.get(&peer).and_then(|m| m.publish) {
            Some(id) => id,
            None => {
                let id = self.new_conn(now, peer, Direction::Inbound)?;
                if let Some(m) = self.members.get_mut(&peer) {
                    m.publish = Some(id);
                }
                id
            }
        };
        let conn = self.conns.get_mut(&conn_id).ok_or_else(internal)?;
        conn.pc
            .set_remote_description(now, desc)
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, e.to_string()))?;
        let answer = conn
            .pc
            .create_answer(None)
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, e.to_string()))?;
        conn.pc
            .set_local_description(now, answer.clone())
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, e.to_string()))?;
        self.io.flush(conn, &mut self.counters);
        self.schedule(conn_id);

        // Sources no longer sent are unpublished; new ones are published on their first packet.
        let before = self
            .members
            .get_mut(&peer)
            .map(|m| std::mem::replace(&mut m.published, sending.clone()))
            .unwrap_or_default();
        for gone in before
            .iter()
            .filter(|b| !sending.iter().any(|s| s.source == b.source))
        {
            self.room.unpublish(peer, gone.source);
        }
        self.send(
            peer,
            ServerMsg::Answer(Answer {
                pc: PcKind::Publish,
                sdp: answer.sdp,
            }),
        );
        Ok(())
    }

    fn on_subscribe_answer(
        &mut self,
        now: Instant,
        peer: PeerId,
        answer: Answer,
    ) -> Result<(), ProtocolError> {
        let member = self.members.get(&peer).ok_or_else(internal)?;
        if answer.pc != PcKind::Subscribe || !member.negotiating {
            return Err(ProtocolError::new(
                ErrorCode::BadSdp,
                "no subscribe offer is waiting for an answer",
            ));
        }
        let conn_id = member.subscribe.ok_or_else(internal)?;
        let desc = RTCSessionDescription::answer(answer.sdp)
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, e.to_string()))?;
        let conn = self.conns.get_mut(&conn_id).ok_or_else(internal)?;
        conn.pc
            .set_remote_description(now, desc)
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, e.to_string()))?;
        self.io.flush(conn, &mut self.counters);
        let early = std::mem::take(&mut conn.early);
        self.schedule(conn_id);
        for m in early {
            self.on_media(MediaIn { at: now, ..m });
        }
        if let Some(m) = self.members.get_mut(&peer) {
            m.negotiating = false;
        }
        self.resolve_payload_types(peer);
        self.negotiate(now, peer);
        Ok(())
    }

    fn on_candidate(&mut self, peer: PeerId, c: Candidate) -> Result<(), ProtocolError> {
        let Some(candidate) = c.candidate else {
            return Ok(());
        };
        let member = self.members.get(&peer).ok_or_else(internal)?;
        let conn_id = match c.pc {
            PcKind::Publish => member.publish,
            PcKind::Subscribe => member.subscribe,
        };
        // Candidates before the connection exists are harmless: the server is ICE-lite and
        // learns the browser's addresses from its checks.
        let Some(conn) = conn_id.and_then(|id| self.conns.get_mut(&id)) else {
            return Ok(());
        };
        if candidate.candidate.is_empty() {
            return Ok(());
        }
        conn.pc
            .add_remote_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_m_line_index,
                username_fragment: candidate.username_fragment,
                ..Default::default()
            })
            .map_err(|e| ProtocolError::new(ErrorCode::BadSdp, format!("candidate: {e}")))
    }

    fn new_conn(
        &mut self,
        now: Instant,
        peer: PeerId,
        direction: Direction,
    ) -> Result<ConnId, ProtocolError> {
        let ufrag = Alphanumeric.sample_string(&mut rand::rng(), 16);
        let pwd = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let (pc, tap) = new_peer_connection(now, direction, &ufrag, &pwd, &self.io.shared.announce)
            .map_err(|e| {
                tracing::error!("creating a peer connection: {e}");
                internal()
            })?;
        let id = self.next_conn;
        self.next_conn += 1;
        self.io
            .shared
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                ufrag.clone(),
                Route {
                    media: self.media_tx.clone(),
                    conn: id,
                },
            );
        self.conns.insert(
            id,
            Conn {
                peer,
                direction,
                pc,
                ufrag,
                deadline: None,
                connected: false,
                remote: None,
                tap,
                egress: None,
                early: Vec::new(),
            },
        );
        Ok(id)
    }

    fn close_conn(&mut self, id: ConnId) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = conn.pc.close();
            self.io.flush(&mut conn, &mut self.counters);
            self.io
                .shared
                .routes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&conn.ufrag);
        }
        self.inbound.remove(&id);
    }

    /// A member left the stage: its publish connection closes (its tracks are gone already);
    /// it publishes on a new one if brought back.
    fn close_publish(&mut self, peer: PeerId) {
        let Some(member) = self.members.get_mut(&peer) else {
            return;
        };
        member.published.clear();
        let Some(id) = member.publish.take() else {
            return;
        };
        for p in self.tracks.values_mut() {
            if p.upstream.as_ref().is_some_and(|u| u.conn == id) {
                p.upstream = None;
            }
        }
        self.close_conn(id);
    }

    fn remove_member(&mut self, now: Instant, peer: PeerId) {
        let Some(member) = self.members.remove(&peer) else {
            return;
        };
        for p in self.tracks.values_mut() {
            p.viewers.retain(|l| l.peer != peer);
        }
        if let Some(id) = member.publish {
            for p in self.tracks.values_mut() {
                if p.upstream.as_ref().is_some_and(|u| u.conn == id) {
                    p.upstream = None;
                }
            }
            self.close_conn(id);
        }
        if let Some(id) = member.subscribe {
            self.close_conn(id);
        }
        self.room.leave_at(now, peer);
    }

    // ------------------------------------------------------------------------------------------
    // Notices of the control plane

    fn apply_notices(&mut self, now: Instant) {
        loop {
            self.apply_room_notices(now);
            let Some(peer) = self.evict.pop() else { break };
            // Dropping the member's queue ends its signalling connection.
            self.remove_member(now, peer);
        }
    }

    fn apply_room_notices(&mut self, now: Instant) {
        while let Some(n) = self.room.poll_notice() {
            match n {
                Notice::Send { to, msg } => {
                    if matches!(msg, ServerMsg::Joined(_)) {
                        if let Some(m) = self.members.get_mut(&to) {
                            m.joined = true;
                        }
                    }
                    self.send(to, msg)
                }
                Notice::Broadcast { except, msg } => {
                    let peers: Vec<PeerId> = self
                        .members
                        .iter()
                        .filter(|(p, m)| m.joined && Some(**p) != except)
                        .map(|(p, _)| *p)
                        .collect();
                    for p in peers {
                        self.send(p, msg.clone());
                    }
                }
                Notice::TrackAdded { track } => {
                    let viewers: Vec<PeerId> = self.members.keys().copied().collect();
                    for v in viewers {
                        self.add_leg(now, v, track);
                    }
                }
                Notice::TrackPaused { track } => {
                    if let Some(p) = self.tracks.get_mut(&track) {
                        p.upstream = None;
                    }
                    self.tell_recorder(TapMsg::TrackEnded { track });
                }
                Notice::TrackResumed { .. } => {}
                Notice::TrackRemoved { track } => {
                    self.tell_recorder(TapMsg::TrackEnded { track });
                    self.remove_track(now, track);
                }
                Notice::StartRecorder => {
                    let _ = self.io.shared.events.send(SfuEvent::RecordingRequested {
                        session: self.session,
                    });
                }
                Notice::StopRecorder => self.stop_recorder(),
                Notice::RecordEvent { kind, data } => {
                    let at = std::time::SystemTime::now();
                    let _ = self.io.shared.events.send(SfuEvent::SessionEvent {
                        session: self.session,
                        kind,
                        data: data.clone(),
                        at_ms: unix_ms(at),
                    });
                    self.tell_recorder(TapMsg::Event { kind, data, at });
                }
                Notice::ClosePublish { peer } => self.close_publish(peer),
                Notice::Mute { peer, muted } => {
                    for p in self.tracks.values_mut() {
                        if p.publisher == peer && p.source == Source::Microphone {
                            p.muted = muted;
                        }
                    }
                }
                Notice::RevokeInvite { invite } => {
                    let _ = self.io.shared.events.send(SfuEvent::RevokeInvite {
                        session: self.session,
                        invite,
                    });
                }
                Notice::Disconnect { peer, error } => {
                    let code = error.code.close_code().unwrap_or(1000);
                    let reason = error.code.as_str().to_string();
                    self.send(peer, ServerMsg::Error(error.into()));
                    if let Some(m) = self.members.get(&peer) {
                        let _ = m.out.try_send(Outbound::Close { code, reason });
                    }
                    self.remove_member(now, peer);
                }
                Notice::Ended { reason } => self.stop = Some(Stop::Ended(reason)),
            }
        }
    }

    fn send(&mut self, to: PeerId, msg: ServerMsg) {
        let Some(m) = self.members.get(&to) else {
            return;
        };
        if m.out.try_send(Outbound::Frame(msg)).is_err() && !self.evict.contains(&to) {
            // A client that does not read its signalling frames cannot follow the session; it
            // is removed (which closes its socket) rather than letting its queue grow.
            tracing::warn!("peer {to} does not read its signalling; disconnecting");
            self.evict.push(to);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Viewer legs and subscribe negotiation

    /// A new member receives every track that already exists.
    fn subscribe_to_existing(&mut self, now: Instant, peer: PeerId) {
        let ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        for id in ids {
            self.add_leg(now, peer, id);
        }
    }

    fn add_leg(&mut self, now: Instant, viewer: PeerId, track: TrackId) {
        if !self.tracks.contains_key(&track) || !self.room.receives(viewer, track) {
            // A publisher never receives its own tracks; a publish-only member (an ingest)
            // receives nothing.
            return;
        }
        let Some(member) = self.members.get(&viewer) else {
            return;
        };
        if member.senders.contains_key(&track) {
            return;
        }
        let conn_id = match member.subscribe {
            Some(id) => id,
            None => match self.new_conn(now, viewer, Direction::Outbound) {
                Ok(id) => {
                    if let Some(m) = self.members.get_mut(&viewer) {
                        m.subscribe = Some(id);
                    }
                    id
                }
                Err(_) => return,
            },
        };
        let Some(p) = self.tracks.get_mut(&track) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let ssrc = rand::random::<u32>();
        let kind = match p.source.kind() {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        };
        // Camera and microphone share a stream so browsers keep them in lip sync.
        let stream = match p.source {
            Source::Camera | Source::Microphone => format!("{}-av", p.publisher),
            Source::Screen => format!("{}-screen", p.publisher),
        };
        let t = MediaStreamTrack::new(
            stream,
            track.to_string(),
            format!("{:?}", p.source).to_lowercase(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: p.rtc_codec.clone(),
                active: true,
                ..Default::default()
            }],
        );
        let sender = match conn.pc.add_track(t) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("add_track for {viewer}: {e}");
                return;
            }
        };
        p.viewers.push(ViewerLeg {
            peer: viewer,
            conn: conn_id,
            sender,
            ssrc,
            payload_type: None,
            leg: Leg::new(p.codec.is_video(), p.rtc_codec.clock_rate),
            srtp: None,
            roc: Rollover::default(),
            packets: 0,
            octets: 0,
        });
        if let Some(m) = self.members.get_mut(&viewer) {
            m.senders.insert(track, sender);
            m.dirty = true;
        }
        self.negotiate(now, viewer);
    }

    fn remove_track(&mut self, now: Instant, track: TrackId) {
        let Some(p) = self.tracks.remove(&track) else {
            return;
        };
        for list in self.inbound.values_mut() {
            list.retain(|(_, t)| *t != track);
        }
        for leg in p.viewers {
            if let Some(conn) = self.conns.get_mut(&leg.conn) {
                let _ = conn.pc.remove_track(leg.sender);
            }
            if let Some(m) = self.members.get_mut(&leg.peer) {
                m.senders.remove(&track);
                m.dirty = true;
            }
            self.negotiate(now, leg.peer);
        }
    }

    /// Sends a subscribe offer if one is needed and none is outstanding.
    fn negotiate(&mut self, now: Instant, peer: PeerId) {
        if self.stop.is_some() {
            return;
        }
        let Some(m) = self.members.get_mut(&peer) else {
            return;
        };
        if m.negotiating || !m.dirty {
            return;
        }
        let Some(conn_id) = m.subscribe else { return };
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let offer = match conn.pc.create_offer(None) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!("subscribe offer for {peer}: {e}");
                return;
            }
        };
        if let Err(e) = conn.pc.set_local_description(now, offer.clone()) {
            tracing::warn!("subscribe offer for {peer}: {e}");
            return;
        }
        let mut tracks = Vec::new();
        for (&track, &sender) in &m.senders {
            if let Some(mid) = mid_of_sender(&mut conn.pc, sender) {
                tracks.push(SubscribedMid { mid, track });
            }
        }
        m.negotiating = true;
        m.dirty = false;
        self.io.flush(conn, &mut self.counters);
        self.schedule(conn_id);
        self.send(
            peer,
            ServerMsg::Offer(ServerOffer {
                pc: PcKind::Subscribe,
                sdp: offer.sdp,
                tracks,
            }),
        );
    }

    /// After a subscribe negotiation, learns each leg's payload type on that connection.
    fn resolve_payload_types(&mut self, peer: PeerId) {
        for p in self.tracks.values_mut() {
            for leg in p.viewers.iter_mut().filter(|l| l.peer == peer) {
                let Some(conn) = self.conns.get_mut(&leg.conn) else {
                    continue;
                };
                let Some(mut sender) = conn.pc.rtp_sender(leg.sender) else {
                    continue;
                };
                leg.payload_type = sender
                    .get_parameters()
                    .rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| {
                        c.rtp_codec
                            .mime_type
                            .eq_ignore_ascii_case(&p.rtc_codec.mime_type)
                    })
                    .map(|c| c.payload_type);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Media

    fn on_media(&mut self, mut m: MediaIn) {
        if let Some(tcp) = m.tcp.take() {
            self.io.tcp.insert(m.from, tcp);
        }
        let Some(conn) = self.conns.get_mut(&m.conn) else {
            return;
        };
        if conn.pc.remote_description().is_none() {
            // A viewer starts its connectivity checks as soon as it has our offer, so its first
            // STUN request can arrive before its answer has come through signalling; without
            // the answer the request would go unanswered and the viewer would retry only after
            // its check interval (~200 ms). Held here and handled once the answer is applied.
            if conn.early.len() < EARLY_DATAGRAMS {
                conn.early.push(m);
            }
            return;
        }
        let protocol = if m.over_tcp {
            TransportProtocol::TCP
        } else {
            TransportProtocol::UDP
        };
        if let Err(e) = conn.pc.handle_read(TaggedBytesMut {
            now: m.at,
            transport: TransportContext {
                local_addr: self.io.local,
                peer_addr: m.from,
                ecn: None,
                transport_protocol: protocol,
            },
            message: m.data,
        }) {
            tracing::trace!("conn {}: {e}", m.conn);
        }
        self.drain(m.conn, m.at);
    }

    /// Everything a connection produced after input: writes, events, media.
    fn drain(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        self.io.flush(conn, &mut self.counters);
        let mut events = Vec::new();
        while let Some(e) = conn.pc.poll_event() {
            events.push(e);
        }
        let direction = conn.direction;
        for e in events {
            self.on_event(id, now, e);
        }
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            let Some(msg) = conn.pc.poll_read() else {
                break;
            };
            match msg.message {
                RTCMessage::RtpPacket(track, packet) if direction == Direction::Inbound => {
                    self.forward(id, &track, packet, msg.now);
                }
                RTCMessage::RtcpPacket(track, packets) => {
                    self.on_rtcp(id, direction, &track, packets, msg.now);
                }
                _ => {}
            }
        }
        self.schedule(id);
    }

    fn on_event(&mut self, id: ConnId, now: Instant, e: RTCPeerConnectionEvent) {
        match e {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                tracing::debug!("conn {id} ({:?}) {state}", conn.direction);
                let peer = conn.peer;
                if conn.direction == Direction::Inbound
                    && matches!(
                        state,
                        RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                    )
                    && self.members.get(&peer).is_some_and(|m| !m.receives_media)
                {
                    // A publish-only member (WHIP) has no socket of its own that could drop:
                    // its media connection failing is its connection dropping. Its tracks
                    // pause, as for a browser whose socket drops.
                    if let Some(m) = self.members.get(&peer) {
                        let _ = m.out.try_send(Outbound::Close {
                            code: 1001,
                            reason: "media connection lost".into(),
                        });
                    }
                    self.remove_member(now, peer);
                    self.apply_notices(now);
                    return;
                }
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                conn.connected = state == RTCPeerConnectionState::Connected;
                if conn.connected && conn.direction == Direction::Outbound && conn.egress.is_none()
                {
                    conn.egress = open_egress(conn, now);
                }
                if conn.connected && conn.direction == Direction::Outbound {
                    // A viewer is ready: ask now for the keyframe it waits for, rather than at
                    // the next tick.
                    let waiting: Vec<TrackId> = self
                        .tracks
                        .iter()
                        .filter(|(_, p)| {
                            p.viewers
                                .iter()
                                .any(|l| l.conn == id && l.leg.wants_keyframe(p.epoch))
                        })
                        .map(|(t, _)| *t)
                        .collect();
                    for t in waiting {
                        if self.start_from_cache(t, now) {
                            self.request_keyframe(t, now);
                        }
                    }
                }
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                self.on_track_open(id, now, init.receiver_id, init.track_id, init.ssrc);
            }
            _ => {}
        }
    }

    /// The first packet of a new inbound stream: publish (or resume) its track.
    fn on_track_open(
        &mut self,
        id: ConnId,
        now: Instant,
        receiver: RTCRtpReceiverId,
        rtc_track: String,
        ssrc: u32,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let peer = conn.peer;
        let Some(mid) = mid_of_receiver(&mut conn.pc, receiver) else {
            return;
        };
        let Some(codec_params) = conn
            .pc
            .rtp_receiver(receiver)
            .and_then(|r| r.track().codec(ssrc).cloned())
        else {
            return;
        };
        let Some(codec) = Codec::from_mime(&codec_params.mime_type) else {
            return;
        };
        let Some(source) = self
            .members
            .get(&peer)
            .and_then(|m| m.published.iter().find(|t| t.mid == mid))
            .map(|t| t.source)
        else {
            tracing::debug!("conn {id}: media on mid {mid} that no track names; ignored");
            return;
        };
        let track = match self.room.publish(peer, source) {
            Ok(t) => t,
            Err(e) => {
                self.send(peer, ServerMsg::Error(e.into()));
                return;
            }
        };
        let upstream = Upstream {
            conn: id,
            receiver,
            ssrc,
        };
        match self.tracks.get_mut(&track) {
            Some(p) => {
                if p.codec != codec {
                    // Viewers negotiated another codec; they need new legs.
                    tracing::info!("track {track} changed codec to {codec:?}; renegotiating");
                    self.remove_track(now, track);
                    self.insert_publication(track, source, peer, codec, codec_params, upstream);
                    self.room_add_legs(now, track);
                } else {
                    p.upstream = Some(upstream);
                    p.muted = source == Source::Microphone && self.room.is_muted(peer);
                    p.publisher = peer;
                    p.epoch += 1;
                    p.latest_seq = None;
                }
            }
            None => self.insert_publication(track, source, peer, codec, codec_params, upstream),
        }
        let list = self.inbound.entry(id).or_default();
        list.retain(|(_, t)| *t != track);
        list.push((rtc_track, track));
        self.announce_track_to_recorder(track);
        if self.tap.is_some() {
            self.request_keyframe(track, now);
        }
        self.apply_notices(now);
    }

    fn insert_publication(
        &mut self,
        track: TrackId,
        source: Source,
        publisher: PeerId,
        codec: Codec,
        rtc_codec: RTCRtpCodec,
        upstream: Upstream,
    ) {
        let muted = source == Source::Microphone && self.room.is_muted(publisher);
        self.tracks.insert(
            track,
            Publication {
                source,
                publisher,
                muted,
                codec,
                rtc_codec,
                upstream: Some(upstream),
                epoch: 0,
                cache: PacketCache::new(if codec.is_video() {
                    VIDEO_CACHE
                } else {
                    AUDIO_CACHE
                }),
                keyframes: KeyframeLimiter::new(self.io.shared.config.keyframe_interval),
                last_keyframe: None,
                latest_seq: None,
                viewers: Vec::new(),
            },
        );
    }

    fn room_add_legs(&mut self, now: Instant, track: TrackId) {
        let viewers: Vec<PeerId> = self.members.keys().copied().collect();
        for v in viewers {
            self.add_leg(now, v, track);
        }
    }

    /// The hot path: one packet from a publisher to every viewer of its track.
    fn forward(&mut self, conn: ConnId, rtc_track: &str, mut packet: rtp::Packet, now: Instant) {
        let Some(track) = self
            .inbound
            .get(&conn)
            .and_then(|l| l.iter().find(|(t, _)| t == rtc_track))
            .map(|(_, t)| *t)
        else {
            return;
        };
        let Some(p) = self.tracks.get_mut(&track) else {
            return;
        };
        if p.upstream.as_ref().is_none_or(|u| u.conn != conn) {
            return;
        }
        self.counters.packets_in += 1;
        if p.muted {
            // A muted stage microphone: neither forwarded nor recorded.
            return;
        }
        let started = Instant::now();
        // Header extension ids are negotiated per connection; the publisher's mean nothing to a
        // viewer. They are dropped once here, for all viewers.
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.extensions_padding = 0;
        packet.header.padding = false;
        let incoming = Incoming {
            epoch: p.epoch,
            seq: packet.header.sequence_number,
            ts: packet.header.timestamp,
            keyframe_start: p.codec.is_keyframe_start(&packet.payload),
            arrival: now,
        };
        p.cache.insert(p.epoch, &packet);
        if let Some(tap) = self.tap.as_mut() {
            let ok = tap.send(TapMsg::Rtp {
                track,
                seq: incoming.seq,
                ts: incoming.ts,
                marker: packet.header.marker,
                payload: packet.payload.clone(),
                at: now,
            });
            if !ok {
                self.tap = None;
            }
        }
        if incoming.keyframe_start && p.codec.is_video() {
            p.last_keyframe = Some(CachedKeyframe {
                epoch: p.epoch,
                seq: incoming.seq,
                at: now,
            });
        }
        if p.latest_seq.is_none_or(|l| seq_newer(incoming.seq, l)) {
            p.latest_seq = Some(incoming.seq);
        }
        // Decisions are taken here, in order; the sealing and sending of the planned packets
        // (the expensive part) may then be split across threads.
        self.plan.clear();
        for (i, leg) in p.viewers.iter_mut().enumerate() {
            let Some(pt) = leg.payload_type else { continue };
            // A leg must not start (bind to a keyframe) before its viewer can receive.
            let Some(c) = self.conns.get_mut(&leg.conn).filter(|c| c.connected) else {
                continue;
            };
            let Decision::Forward { seq, ts } = leg.leg.decide(&incoming) else {
                continue;
            };
            match &c.egress {
                Some(e) if leg.ensure_srtp(e) => self.plan.push(Planned {
                    leg: i,
                    pt,
                    seq,
                    ts,
                    to: e.to,
                    tcp: e.tcp,
                }),
                Some(_) => {}
                None => {
                    let out = &mut self.io;
                    if leg.send(out, &mut self.counters, c, &packet, pt, seq, ts, now) {
                        self.counters.forwarded += 1;
                    }
                }
            }
        }
        let split = self.io.shared.config.fanout_split;
        let done = fan_out(&self.io, &mut p.viewers, &self.plan, &packet, split);
        self.counters.forwarded += done.sent;
        self.counters.send_drops += done.dropped;
        self.io.flush_batch(&mut self.counters);
        self.io.shared.stats.fanout.record(started.elapsed());
    }

    fn on_rtcp(
        &mut self,
        conn: ConnId,
        direction: Direction,
        track: &str,
        packets: Vec<Box<dyn rtc::rtcp::Packet>>,
        now: Instant,
    ) {
        if direction == Direction::Inbound {
            for p in &packets {
                if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                    self.relay_sender_report(conn, sr, now);
                }
            }
            return;
        }
        let Ok(track) = track.parse::<TrackId>() else {
            return;
        };
        let mut wants_keyframe = false;
        let mut nacked: Vec<u16> = Vec::new();
        for p in &packets {
            let any = p.as_any();
            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                wants_keyframe = true;
            } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                for pair in &nack.nacks {
                    nacked.extend(pair.packet_list());
                }
            }
        }
        if wants_keyframe {
            self.request_keyframe(track, now);
        }
        if !nacked.is_empty() {
            self.retransmit(conn, track, &nacked, now);
        }
    }

    /// A publisher's sender report, passed on to every viewer of the stream with that viewer's
    /// SSRC, timestamps and counts, so browsers can keep its audio and video in sync. It goes
    /// through the viewer connection's RTCP path (its own SRTCP index); a second a stream.
    fn relay_sender_report(&mut self, conn: ConnId, sr: &SenderReport, now: Instant) {
        let Some((&track, p)) = self.tracks.iter_mut().find(|(_, p)| {
            p.upstream
                .as_ref()
                .is_some_and(|u| u.conn == conn && u.ssrc == sr.ssrc)
        }) else {
            return;
        };
        if let Some(tap) = self.tap.as_mut() {
            let ok = tap.send(TapMsg::SenderReport {
                track,
                ntp: sr.ntp_time,
                rtp: sr.rtp_time,
                at: std::time::SystemTime::now(),
            });
            if !ok {
                self.tap = None;
            }
        }
        for leg in &p.viewers {
            let Some(report) = leg.sender_report(p.epoch, sr) else {
                continue;
            };
            let Some(c) = self.conns.get_mut(&leg.conn).filter(|c| c.connected) else {
                continue;
            };
            if let Some(mut sender) = c.pc.rtp_sender(leg.sender) {
                let _ = sender.write_rtcp(now, vec![Box::new(report)]);
            }
            self.io.flush(c, &mut self.counters);
        }
    }

    /// Answers a viewer's NACK from the track's shared cache.
    fn retransmit(&mut self, conn: ConnId, track: TrackId, seqs: &[u16], now: Instant) {
        let Some(p) = self.tracks.get_mut(&track) else {
            return;
        };
        let Some(leg) = p.viewers.iter_mut().find(|l| l.conn == conn) else {
            return;
        };
        let Some(pt) = leg.payload_type else { return };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        for &out_seq in seqs {
            let Some((epoch, seq)) = leg.leg.upstream_seq(out_seq) else {
                continue;
            };
            let Some(cached) = p.cache.get(epoch, seq) else {
                continue;
            };
            let Some((seq, ts)) = leg.leg.rewrite(epoch, seq, cached.header.timestamp) else {
                continue;
            };
            if leg.send(
                &mut self.io,
                &mut self.counters,
                c,
                cached,
                pt,
                seq,
                ts,
                now,
            ) {
                self.counters.retransmitted += 1;
            }
        }
        self.io.flush_batch(&mut self.counters);
    }

    /// Starts the ready legs of `track` that wait for a keyframe from the newest one in the
    /// cache, when it is recent (younger than the keyframe request interval) and every packet
    /// since is still held: the viewer gets the keyframe and everything after it in one burst,
    /// so it decodes cleanly at once instead of waiting for a new keyframe. Returns whether a
    /// ready leg still waits, i.e. whether the publisher must be asked for a keyframe.
    fn start_from_cache(&mut self, track: TrackId, now: Instant) -> bool {
        let fresh_for = self.io.shared.config.keyframe_interval;
        let Some(p) = self.tracks.get_mut(&track) else {
            return false;
        };
        let (epoch, codec) = (p.epoch, p.codec);
        let run = match (p.last_keyframe, p.latest_seq) {
            (Some(k), Some(latest))
                if k.epoch == epoch && now.saturating_duration_since(k.at) <= fresh_for =>
            {
                p.cache.run(epoch, k.seq, latest)
            }
            _ => None,
        };
        let mut still_waiting = false;
        for leg in &mut p.viewers {
            let Some(pt) = leg.payload_type else { continue };
            if !leg.leg.wants_keyframe(epoch) {
                continue;
            }
            let Some(c) = self.conns.get_mut(&leg.conn).filter(|c| c.connected) else {
                continue;
            };
            for packet in run.iter().flatten() {
                let incoming = Incoming {
                    epoch,
                    seq: packet.header.sequence_number,
                    ts: packet.header.timestamp,
                    keyframe_start: codec.is_keyframe_start(&packet.payload),
                    arrival: now,
                };
                if let Decision::Forward { seq, ts } = leg.leg.decide(&incoming) {
                    let out = &mut self.io;
                    if leg.send(out, &mut self.counters, c, packet, pt, seq, ts, now) {
                        self.counters.forwarded += 1;
                    }
                }
            }
            self.io.flush_batch(&mut self.counters);
            still_waiting |= leg.leg.wants_keyframe(epoch);
        }
        still_waiting
    }

    /// Asks a track's publisher for a keyframe, at most once per interval.
    fn request_keyframe(&mut self, track: TrackId, now: Instant) {
        let Some(p) = self.tracks.get_mut(&track) else {
            return;
        };
        if !p.codec.is_video() {
            return;
        }
        let Some(up) = &p.upstream else { return };
        if !p.keyframes.allow(now) {
            return;
        }
        let Some(c) = self.conns.get_mut(&up.conn) else {
            return;
        };
        if let Some(mut receiver) = c.pc.rtp_receiver(up.receiver) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: up.ssrc,
            };
            if receiver.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                self.counters.keyframe_requests += 1;
            }
        }
        self.io.flush(c, &mut self.counters);
    }

    // ------------------------------------------------------------------------------------------
    // Timers

    fn schedule(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let next = conn.pc.poll_timeout();
        if next != conn.deadline {
            conn.deadline = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, id)));
            }
        }
    }

    fn on_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            if conn.deadline != Some(t) {
                continue; // superseded
            }
            conn.deadline = None;
            if let Err(e) = conn.pc.handle_timeout(now) {
                tracing::trace!("conn {id} timeout: {e}");
            }
            self.drain(id, now);
        }
        if self.room.poll_timeout().is_some_and(|t| t <= now) {
            self.room.handle_timeout(now);
            self.apply_notices(now);
        }
    }

    fn on_tick(&mut self, now: Instant) {
        // Keyframes for legs that wait for one (new viewers, a republished source), once their
        // connection is up so the keyframe is not lost.
        let waiting: Vec<TrackId> = self
            .tracks
            .iter()
            .filter(|(_, p)| {
                p.upstream.is_some()
                    && p.viewers.iter().any(|l| {
                        l.payload_type.is_some()
                            && l.leg.wants_keyframe(p.epoch)
                            && self.conns.get(&l.conn).is_some_and(|c| c.connected)
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        for t in waiting {
            if self.start_from_cache(t, now) {
                self.request_keyframe(t, now);
            }
        }
        self.publish_counters();
    }

    fn publish_counters(&mut self) {
        let s = &self.io.shared.stats;
        let c = std::mem::take(&mut self.counters);
        s.packets_in.fetch_add(c.packets_in, Ordering::Relaxed);
        s.packets_forwarded
            .fetch_add(c.forwarded, Ordering::Relaxed);
        s.retransmitted
            .fetch_add(c.retransmitted, Ordering::Relaxed);
        s.keyframe_requests
            .fetch_add(c.keyframe_requests, Ordering::Relaxed);
        s.send_drops.fetch_add(c.send_drops, Ordering::Relaxed);
        s.slow_path_sends.fetch_add(c.slow_path, Ordering::Relaxed);
        if let Some(tap) = &self.tap {
            s.recorder_drops
                .fetch_add(tap.dropped() - self.tap_dropped, Ordering::Relaxed);
            self.tap_dropped = tap.dropped();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Ending

    fn close_all(&mut self) {
        self.stop_recorder();
        let (code, reason) = match self.stop {
            Some(Stop::Shutdown) => (1001, "server shutting down"),
            _ => (1000, "session ended"),
        };
        for m in self.members.values() {
            let _ = m.out.try_send(Outbound::Close {
                code,
                reason: reason.into(),
            });
        }
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_conn(id);
        }
        self.publish_counters();
        let ended = match self.stop {
            Some(Stop::Ended(reason)) => Some(reason),
            _ => None,
        };
        let _ = self.io.shared.events.send(SfuEvent::RoomClosed {
            session: self.session,
            ended,
        });
    }
}

/// What a fan-out did.
#[derive(Clone, Copy, Debug, Default)]
struct FanOut {
    sent: u64,
    dropped: u64,
}

/// Seals and sends the planned packets (`plan` is in leg order). A large fan-out is split in
/// two halves of the legs, the second served by another thread of the pool while this one does
/// the first, recursively; each thread fills and flushes its own batch.
fn fan_out(
    io: &Io,
    legs: &mut [ViewerLeg],
    plan: &[Planned],
    packet: &rtp::Packet,
    split: usize,
) -> FanOut {
    fan_out_from(io, legs, 0, plan, packet, split)
}

fn fan_out_from(
    io: &Io,
    legs: &mut [ViewerLeg],
    base: usize,
    plan: &[Planned],
    packet: &rtp::Packet,
    split: usize,
) -> FanOut {
    if split > 0 && plan.len() >= split.max(2) {
        let half = plan.len() / 2;
        let split_leg = plan[half].leg - base;
        let (plan_a, plan_b) = plan.split_at(half);
        let (legs_a, legs_b) = legs.split_at_mut(split_leg);
        let (a, b) = rayon::join(
            || fan_out_from(io, legs_a, base, plan_a, packet, split),
            || fan_out_from(io, legs_b, base + split_leg, plan_b, packet, split),
        );
        return FanOut {
            sent: a.sent + b.sent,
            dropped: a.dropped + b.dropped,
        };
    }
    let mut out = FanOut::default();
    for p in plan {
        let Some(leg) = legs.get_mut(p.leg - base) else {
            continue;
        };
        let q = leg.seal_into_batch(io, packet, p.pt, p.seq, p.ts, p.to, p.tcp);
        out.sent += u64::from(q.sent);
        out.dropped += q.dropped;
    }
    out.dropped += io.flush_thread_batch();
    out
}

/// The egress of a subscribe connection whose DTLS handshake is done: its SRTP keys from the
/// tap, and where its peer is. `None` (logged) leaves the connection on its own write path.
fn open_egress(conn: &mut Conn, now: Instant) -> Option<Egress> {
    let tap = conn.tap.as_ref()?;
    let (to, tcp) = conn.remote?;
    match SrtpKeys::from_connection(&mut conn.pc, tap, now) {
        Ok(keys) => Some(Egress { keys, to, tcp }),
        Err(e) => {
            tracing::warn!("no SRTP egress for a viewer, using the slow path: {e}");
            None
        }
    }
}

/// Milliseconds since the UNIX epoch.
fn unix_ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The wall clock now, for the room's timestamps (chat, questions).
fn wall_ms() -> u64 {
    unix_ms(std::time::SystemTime::now())
}

fn internal() -> ProtocolError {
    ProtocolError::new(ErrorCode::Internal, "internal error")
}
