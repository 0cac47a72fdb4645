//! A headless participant: joins, answers the server's subscribe offers, and records every RTP
//! packet it receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use lectern_proto::{
    Answer, ClientMsg, EndReason, PcKind, Ping, ServerMsg, SessionId, SessionState, Source,
    TrackId, TrackInfo,
};
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::RTCRtpReceiverId;
use rtc::sansio::Protocol;
use tokio::sync::{mpsc, watch};

use crate::endpoint::Endpoint;
use crate::media::{self, VideoCodec};
use crate::signal::Signal;

/// Settings of a headless viewer.
#[derive(Clone, Debug)]
pub struct ViewerOptions {
    pub name: String,
    /// Keep every packet (tests) or only count them (load generation).
    pub keep_packets: bool,
    /// Drop every n-th incoming video RTP datagram before decryption, as a lossy link would
    /// (0: none). Audio is spared: it is not retransmitted.
    pub drop_video_every: u32,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        Self {
            name: "Headless participant".into(),
            keep_packets: true,
            drop_video_every: 0,
        }
    }
}

/// Whether a datagram is (S)RTP video: RTP version 2, not an RTCP packet type, and a payload
/// type other than the server's Opus (111).
fn is_video_rtp(d: &[u8]) -> bool {
    d.len() > 12
        && (128..192).contains(&d[0])
        && !(64..96).contains(&(d[1] & 0x7f))
        && d[1] & 0x7f != 111
}

/// An RTP packet as a viewer received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedPacket {
    pub track: TrackId,
    pub video: bool,
    /// The video codec, from the negotiated receiver.
    pub codec: Option<VideoCodec>,
    pub seq: u16,
    pub ts: u32,
    pub index: u64,
    pub sent_ns: u64,
    pub recv_ns: u64,
    pub keyframe: bool,
}

#[derive(Default)]
struct Shared {
    packets: Mutex<Vec<ReceivedPacket>>,
    count: Mutex<HashMap<TrackId, u64>>,
    ended: Mutex<Option<EndReason>>,
    state: Mutex<Option<SessionState>>,
    reading: AtomicBool,
    first_media_ns: Mutex<Option<u64>>,
    /// The session's tracks, from `joined`, `track_published` and `track_unpublished`.
    tracks: Mutex<Vec<TrackInfo>>,
}

enum Cmd {
    KeyframeRequest(TrackId),
}

/// A running headless participant.
pub struct Viewer {
    shared: Arc<Shared>,
    cmd: mpsc::Sender<Cmd>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// When the viewer started to connect, on [`media::now_ns`]'s clock.
    pub started_ns: u64,
}

impl Viewer {
    /// Joins with a participant key; media is negotiated in the background.
    pub async fn join(
        ws_url: &str,
        session: SessionId,
        key: &str,
        opts: ViewerOptions,
    ) -> anyhow::Result<Viewer> {
        let started_ns = media::now_ns();
        let (signal, joined) = Signal::join(ws_url, session, key, &opts.name).await?;
        let shared = Arc::new(Shared {
            reading: AtomicBool::new(true),
            state: Mutex::new(Some(joined.session.state)),
            tracks: Mutex::new(joined.tracks.clone()),
            ..Default::default()
        });
        let (cmd, cmd_rx) = mpsc::channel(64);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(signal, opts, shared.clone(), cmd_rx, stop_rx));
        Ok(Viewer {
            shared,
            cmd,
            stop,
            task,
            started_ns,
        })
    }

    /// Packets received so far (empty unless `keep_packets`).
    pub fn received(&self) -> Vec<ReceivedPacket> {
        self.shared
            .packets
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Packets received on a track.
    pub fn count(&self, track: TrackId) -> u64 {
        self.shared
            .count
            .lock()
            .ok()
            .and_then(|c| c.get(&track).copied())
            .unwrap_or(0)
    }

    /// Packets received on all tracks.
    pub fn total(&self) -> u64 {
        self.shared
            .count
            .lock()
            .map(|c| c.values().sum())
            .unwrap_or(0)
    }

    /// When the first media packet arrived, on [`media::now_ns`]'s clock.
    pub fn first_media_ns(&self) -> Option<u64> {
        self.shared.first_media_ns.lock().ok().and_then(|t| *t)
    }

    /// Waits until `track` has delivered at least `n` packets.
    pub async fn wait_for_packets(
        &self,
        track: TrackId,
        n: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.count(track) < n {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {n} packets on {track} within {timeout:?}",
                    self.count(track)
                );
            }
            if self.task.is_finished() {
                bail!("viewer stopped");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Sends a PLI for a track.
    pub fn request_keyframe(&self, track: TrackId) {
        let _ = self.cmd.try_send(Cmd::KeyframeRequest(track));
    }

    /// Stops (or resumes) reading the socket, like a viewer on a stalled link.
    pub fn set_reading(&self, reading: bool) {
        self.shared.reading.store(reading, Ordering::Relaxed);
    }

    /// Why the session ended, once the server said so.
    pub fn ended(&self) -> Option<EndReason> {
        self.shared.ended.lock().ok().and_then(|e| *e)
    }

    /// The session's tracks as the server announced them.
    pub fn tracks(&self) -> Vec<TrackInfo> {
        self.shared
            .tracks
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    /// Waits until a track of `source` is announced; returns its id.
    pub async fn wait_for_track(
        &self,
        source: Source,
        timeout: Duration,
    ) -> anyhow::Result<TrackId> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = self.tracks().iter().find(|t| t.source == source) {
                return Ok(t.id);
            }
            if Instant::now() > deadline {
                bail!("no {source:?} track within {timeout:?}");
            }
            if self.task.is_finished() {
                bail!("viewer stopped");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `track` is unpublished.
    pub async fn wait_for_track_gone(
        &self,
        track: TrackId,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.tracks().iter().any(|t| t.id == track) {
            if Instant::now() > deadline {
                bail!("track {track} still published after {timeout:?}");
            }
            if self.task.is_finished() {
                bail!("viewer stopped");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The last session state the server announced.
    pub fn session_state(&self) -> Option<SessionState> {
        self.shared.state.lock().ok().and_then(|s| *s)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await?
    }
}

async fn run(
    mut signal: Signal,
    opts: ViewerOptions,
    shared: Arc<Shared>,
    mut cmd: mpsc::Receiver<Cmd>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut ep = Endpoint::new(false, None).await?;
    let mut buf = vec![0u8; 2048];
    // mid → track, from the server's offers; rtc track id → (track, video), from OnTrack.
    let mut mids: HashMap<String, TrackId> = HashMap::new();
    let mut tracks: HashMap<String, (TrackId, Option<VideoCodec>)> = HashMap::new();
    let mut receivers: HashMap<TrackId, (RTCRtpReceiverId, u32)> = HashMap::new();
    let mut video_datagrams = 0u32;
    // Like every client, ping every 10 s so a viewer that only watches is not dropped as idle.
    let mut ping = tokio::time::interval(Duration::from_secs(10));
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.reset();
    loop {
        let reading = shared.reading.load(Ordering::Relaxed);
        let wake = ep.sleep_for(Duration::from_millis(20));
        tokio::select! {
            _ = stop.changed() => break,
            _ = ping.tick() => {
                signal.send(&ClientMsg::Ping(Ping { id: None })).await?;
            }
            r = ep.socket.recv_from(&mut buf), if reading => {
                let (n, from) = r?;
                let data = buf[..n].to_vec();
                if opts.drop_video_every > 0 && is_video_rtp(&data) {
                    video_datagrams += 1;
                    if video_datagrams % opts.drop_video_every == 0 {
                        continue;
                    }
                }
                ep.handle_datagram(&data, from, Instant::now());
            }
            m = signal.next_msg() => match m {
                Some(Ok(ServerMsg::Offer(o))) => {
                    if o.pc != PcKind::Subscribe {
                        bail!("offer for {:?}", o.pc);
                    }
                    for t in &o.tracks {
                        mids.insert(t.mid.clone(), t.track);
                    }
                    let desc = RTCSessionDescription::offer(o.sdp).map_err(|e| anyhow!("{e}"))?;
                    ep.pc.set_remote_description(Instant::now(), desc).map_err(|e| anyhow!("{e}"))?;
                    let answer = ep.pc.create_answer(None).map_err(|e| anyhow!("{e}"))?;
                    ep.pc.set_local_description(Instant::now(), answer.clone()).map_err(|e| anyhow!("{e}"))?;
                    ep.flush();
                    signal.send(&ClientMsg::Answer(Answer { pc: PcKind::Subscribe, sdp: answer.sdp })).await?;
                }
                Some(Ok(ServerMsg::SessionEnded(e))) => {
                    if let Ok(mut x) = shared.ended.lock() { *x = Some(e.reason); }
                    if let Ok(mut x) = shared.state.lock() { *x = Some(SessionState::Ended); }
                }
                Some(Ok(ServerMsg::TrackPublished(p))) => {
                    if let Ok(mut all) = shared.tracks.lock() {
                        all.retain(|t| t.id != p.track.id);
                        all.push(p.track);
                    }
                }
                Some(Ok(ServerMsg::TrackUnpublished(u))) => {
                    if let Ok(mut all) = shared.tracks.lock() { all.retain(|t| t.id != u.track); }
                }
                Some(Ok(ServerMsg::SessionState(s))) => {
                    if let Ok(mut x) = shared.state.lock() { *x = Some(s.state); }
                }
                Some(Ok(ServerMsg::Error(e))) => tracing::warn!("viewer got error {} {}", e.code, e.message),
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("signalling: {e}"),
                None => break,
            },
            c = cmd.recv() => {
                if let Some(Cmd::KeyframeRequest(track)) = c {
                    if let Some((rid, ssrc)) = receivers.get(&track).copied() {
                        if let Some(mut r) = ep.pc.rtp_receiver(rid) {
                            let _ = r.write_rtcp(Instant::now(), vec![Box::new(PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc })]);
                        }
                        ep.flush();
                    }
                }
            }
            _ = tokio::time::sleep(wake) => ep.on_timer(),
        }
        while let Some(e) = ep.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) = e {
                let mid = lectern_sfu::peer::mid_of_receiver(&mut ep.pc, init.receiver_id);
                if let Some(track) = mid.and_then(|m| mids.get(&m).copied()) {
                    let mime = ep
                        .pc
                        .rtp_receiver(init.receiver_id)
                        .and_then(|r| r.track().codec(init.ssrc).map(|c| c.mime_type.clone()))
                        .unwrap_or_default();
                    let video = [VideoCodec::Vp8, VideoCodec::Vp9, VideoCodec::H264]
                        .into_iter()
                        .find(|c| c.mime().eq_ignore_ascii_case(&mime));
                    tracks.insert(init.track_id.clone(), (track, video));
                    receivers.insert(track, (init.receiver_id, init.ssrc));
                }
            }
        }
        while let Some(m) = ep.pc.poll_read() {
            let RTCMessage::RtpPacket(rtc_track, p) = m.message else {
                continue;
            };
            let Some(&(track, video)) = tracks.get(&rtc_track) else {
                continue;
            };
            let recv_ns = media::instant_ns(m.now);
            if let Ok(mut f) = shared.first_media_ns.lock() {
                f.get_or_insert(recv_ns);
            }
            if let Ok(mut c) = shared.count.lock() {
                *c.entry(track).or_default() += 1;
            }
            if opts.keep_packets {
                let (index, sent_ns, keyframe) =
                    media::read_payload(video, &p.payload).unwrap_or((u64::MAX, 0, false));
                if let Ok(mut all) = shared.packets.lock() {
                    all.push(ReceivedPacket {
                        track,
                        video: video.is_some(),
                        codec: video,
                        seq: p.header.sequence_number,
                        ts: p.header.timestamp,
                        index,
                        sent_ns,
                        recv_ns,
                        keyframe,
                    });
                }
            }
        }
    }
    let _ = signal.send(&ClientMsg::Leave).await;
    let _ = ep.pc.close();
    ep.flush();
    Ok(())
}
