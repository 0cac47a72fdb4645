//! A headless publisher: joins (as the facilitator, or over the connection of a participant on
//! stage), publishes a camera (synthetic VP8) and a microphone (synthetic Opus), and counts the
//! keyframe requests it receives.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use lectern_proto::{
    ClientMsg, Offer, PcKind, Ping, PublishedMid, ServerMsg, SessionId, Source, TrackId,
};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use tokio::sync::watch;

use crate::endpoint::Endpoint;
use crate::media;
use crate::signal::Signal;

/// How the synthetic camera behaves.
#[derive(Clone, Debug)]
pub struct PublisherOptions {
    pub video_kbps: u32,
    pub fps: u32,
    pub keyframe_every: Duration,
    pub max_packet: usize,
    pub audio: bool,
    /// The only video codec offered.
    pub video_codec: media::VideoCodec,
    /// Real encoded media (VP8 frames, Opus packets), sent in a loop instead of synthetic
    /// payloads. A keyframe request skips ahead to the next keyframe.
    pub encoded: Option<Arc<EncodedMedia>>,
    /// Synthetic frames and audio packets carry their number in their size (video:
    /// `1000 + 4 × (n mod 251)` bytes recorded, audio `60 + n mod 400`), so a recording can be
    /// matched to what was sent.
    pub sized: bool,
    /// Write RTCP sender reports of our own, mapping RTP time to the capture clock, instead of
    /// the interceptor's (which maps it to send times).
    pub own_sender_reports: bool,
    /// Audio packets leave this long after their capture (a path that delays audio only).
    pub audio_delay: Duration,
    /// Fraction of RTP datagrams lost on the way out (after the retransmission buffer, so the
    /// server's NACKs can repair them).
    pub loss: f64,
}

/// Encoded media for [`PublisherOptions::encoded`].
#[derive(Clone, Debug, Default)]
pub struct EncodedMedia {
    /// VP8 frames: (keyframe, data).
    pub video: Vec<(bool, Vec<u8>)>,
    pub fps: u32,
    /// Opus packets of 20 ms.
    pub audio: Vec<Vec<u8>>,
}

/// A frame the publisher sent, with its capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentFrame {
    pub video: bool,
    /// Frame (or audio packet) number, from 0.
    pub number: u64,
    /// Capture time on the wall clock, in µs since the UNIX epoch.
    pub capture_unix_us: u64,
    /// Bytes a recorder stores for it (the payloads without the VP8 descriptor).
    pub size: usize,
    pub keyframe: bool,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        Self {
            video_kbps: 600,
            fps: 30,
            keyframe_every: Duration::from_secs(3),
            max_packet: 1100,
            audio: true,
            video_codec: media::VideoCodec::Vp8,
            encoded: None,
            sized: false,
            own_sender_reports: false,
            audio_delay: Duration::ZERO,
            loss: 0.0,
        }
    }
}

/// A packet the publisher sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentPacket {
    pub video: bool,
    pub index: u64,
    pub seq: u16,
    pub ts: u32,
    pub keyframe: bool,
}

#[derive(Default)]
struct Shared {
    sent: Mutex<Vec<SentPacket>>,
    lost: AtomicU64,
    frames: Mutex<Vec<SentFrame>>,
    keyframe_requests: AtomicU64,
    paused: AtomicBool,
    tracks: Mutex<HashMap<Source, TrackId>>,
}

/// A running headless facilitator.
pub struct Publisher {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// What the publisher's signalling reports while media flows.
#[derive(Debug)]
pub enum PublishEvent {
    /// The server announced a published track.
    TrackPublished(Source, TrackId),
    /// The session ended or the channel closed.
    Ended,
    /// Anything else.
    Other,
}

/// The signalling of a publishing connection (the client offers, the server answers), so the
/// same synthetic camera can publish to lectern or to another SFU.
pub trait PublishSignal: Send + 'static {
    /// Sends the offer (with which mid carries which source) and returns the server's answer.
    /// `candidate` is the client's host candidate, for signalling that wants it trickled.
    fn publish(
        &mut self,
        sdp: String,
        tracks: Vec<PublishedMid>,
        candidate: String,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// The next event. Must be cancel-safe: it runs in a `select!` with the media.
    fn next_event(&mut self) -> impl Future<Output = anyhow::Result<PublishEvent>> + Send;
    /// Whether the server announces tracks ([`PublishEvent::TrackPublished`]); if so, the
    /// publisher is ready only once every source was announced.
    fn announces_tracks(&self) -> bool {
        true
    }
    /// Whether the server says the publication is live (for servers that say so after the
    /// connection is up, e.g. Janus's `webrtcup`); the publisher is ready only then.
    fn is_live(&self) -> bool {
        true
    }
    /// Leaves politely.
    fn leave(&mut self) -> impl Future<Output = ()> + Send;
}

/// lectern's signalling for the facilitator's publish connection. Pings every 10 s, as the
/// protocol asks (the server closes connections that send nothing for 30 s).
pub struct LecternPublish {
    signal: Signal,
    ping: tokio::time::Interval,
}

impl LecternPublish {
    /// Joins with the facilitator key.
    pub async fn join(ws_url: &str, session: SessionId, key: &str) -> anyhow::Result<Self> {
        let (signal, _joined) = Signal::join(ws_url, session, key, "Headless facilitator").await?;
        Ok(LecternPublish::over(signal))
    }

    /// Publishes over a connection that has joined already (a participant brought on stage).
    pub fn over(signal: Signal) -> Self {
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        LecternPublish { signal, ping }
    }
}

impl PublishSignal for LecternPublish {
    async fn publish(
        &mut self,
        sdp: String,
        tracks: Vec<PublishedMid>,
        _candidate: String,
    ) -> anyhow::Result<String> {
        self.signal
            .send(&ClientMsg::Offer(Offer {
                pc: PcKind::Publish,
                sdp,
                tracks,
            }))
            .await?;
        self.signal
            .wait_for(Duration::from_secs(10), |m| match m {
                ServerMsg::Answer(a) => Some(Ok(a.sdp.clone())),
                ServerMsg::Error(e) => {
                    Some(Err(anyhow!("offer refused: {} {}", e.code, e.message)))
                }
                _ => None,
            })
            .await?
    }

    async fn next_event(&mut self) -> anyhow::Result<PublishEvent> {
        let m = tokio::select! {
            _ = self.ping.tick() => {
                self.signal.send(&ClientMsg::Ping(Ping { id: None })).await?;
                return Ok(PublishEvent::Other);
            }
            m = self.signal.next_msg() => m,
        };
        Ok(match m {
            Some(Ok(ServerMsg::TrackPublished(t))) => {
                PublishEvent::TrackPublished(t.track.source, t.track.id)
            }
            Some(Ok(ServerMsg::SessionEnded(_))) | None => PublishEvent::Ended,
            Some(Ok(ServerMsg::Error(e))) => {
                tracing::warn!("publisher got error {} {}", e.code, e.message);
                PublishEvent::Other
            }
            Some(Ok(_)) => PublishEvent::Other,
            Some(Err(e)) => bail!("signalling: {e}"),
        })
    }

    async fn leave(&mut self) {
        let _ = self.signal.send(&ClientMsg::Leave).await;
    }
}

impl Publisher {
    /// Joins with the facilitator key, publishes, and returns once media flows and the server
    /// has announced the tracks.
    pub async fn start(
        ws_url: &str,
        session: SessionId,
        key: &str,
        opts: PublisherOptions,
    ) -> anyhow::Result<Publisher> {
        let signal = LecternPublish::join(ws_url, session, key).await?;
        Publisher::start_with(signal, opts).await
    }

    /// Publishes over any signalling; returns once media flows (and, if the signalling
    /// announces tracks, once every source was announced).
    pub async fn start_with<S: PublishSignal>(
        signal: S,
        opts: PublisherOptions,
    ) -> anyhow::Result<Publisher> {
        let shared = Arc::new(Shared::default());
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(signal, opts, shared.clone(), stop_rx, ready_tx));
        match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
            Ok(Ok(())) => {}
            _ => {
                let _ = stop.send(true);
                return match task.await {
                    Ok(Err(e)) => Err(e.context("publisher did not get live")),
                    _ => Err(anyhow!("publisher did not get live within 10 s")),
                };
            }
        }
        Ok(Publisher { shared, stop, task })
    }

    /// Whether the publisher's task ended (left, or failed: [`Publisher::stop`] says why).
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Packets sent so far (cheaper than [`Publisher::sent`]).
    pub fn sent_count(&self) -> usize {
        self.shared.sent.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// The track id the server gave a source.
    pub fn track(&self, source: Source) -> Option<TrackId> {
        self.shared.tracks.lock().ok()?.get(&source).copied()
    }

    /// Keyframe requests (PLI/FIR) received from the server.
    pub fn keyframe_requests(&self) -> u64 {
        self.shared.keyframe_requests.load(Ordering::Relaxed)
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<SentPacket> {
        self.shared
            .sent
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// RTP datagrams lost on the way out ([`PublisherOptions::loss`]).
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Every frame and audio packet sent so far, with its capture time.
    pub fn frames(&self) -> Vec<SentFrame> {
        self.shared
            .frames
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Stops (or resumes) sending media without leaving.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
    }

    /// Leaves (closes the signalling connection and the peer connection).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("publisher task")?
    }
}

struct Outgoing {
    sender: RTCRtpSenderId,
    ssrc: u32,
    payload_type: u8,
    seq: u16,
}

async fn run<S: PublishSignal>(
    mut signal: S,
    opts: PublisherOptions,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<()> {
    let mut ep = if opts.own_sender_reports {
        Endpoint::sender_without_reports(Some(opts.video_codec.mime())).await?
    } else {
        Endpoint::new(true, Some(opts.video_codec.mime())).await?
    };
    let codecs = lectern_sfu::peer::server_codecs();
    let mut add = |kind: RtpCodecKind, mime: &str| -> anyhow::Result<(RTCRtpSenderId, u32)> {
        let codec = codecs
            .iter()
            .find(|(c, _)| c.rtp_codec.mime_type == mime)
            .map(|(c, _)| c.rtp_codec.clone())
            .ok_or_else(|| anyhow!("no {mime}"))?;
        let ssrc = rand::random::<u32>();
        let enc = RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            active: true,
            ..Default::default()
        };
        let track = MediaStreamTrack::new(
            "headless".into(),
            format!("headless-{mime}"),
            mime.into(),
            kind,
            vec![enc.clone()],
        );
        let t = ep
            .pc
            .add_transceiver_from_track(
                track,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![],
                    send_encodings: vec![enc],
                }),
            )
            .map_err(|e| anyhow!("{e}"))?;
        let sender = ep
            .pc
            .rtp_transceiver(t)
            .and_then(|t| t.sender())
            .ok_or_else(|| anyhow!("transceiver without sender"))?;
        Ok((sender, ssrc))
    };
    let video = add(RtpCodecKind::Video, opts.video_codec.mime())?;
    let audio = if opts.audio {
        Some(add(RtpCodecKind::Audio, "audio/opus")?)
    } else {
        None
    };
    let offer = ep.pc.create_offer(None).map_err(|e| anyhow!("{e}"))?;
    ep.pc
        .set_local_description(Instant::now(), offer.clone())
        .map_err(|e| anyhow!("{e}"))?;
    let mut tracks = vec![PublishedMid {
        mid: lectern_sfu::peer::mid_of_sender(&mut ep.pc, video.0)
            .ok_or_else(|| anyhow!("no mid"))?,
        source: Source::Camera,
    }];
    if let Some(a) = audio {
        tracks.push(PublishedMid {
            mid: lectern_sfu::peer::mid_of_sender(&mut ep.pc, a.0)
                .ok_or_else(|| anyhow!("no mid"))?,
            source: Source::Microphone,
        });
    }
    let answer = signal.publish(offer.sdp, tracks, ep.candidate()?).await?;
    ep.pc
        .set_remote_description(
            Instant::now(),
            RTCSessionDescription::answer(answer).map_err(|e| anyhow!("{e}"))?,
        )
        .map_err(|e| anyhow!("{e}"))?;
    ep.flush();
    let mut pt = |sender: RTCRtpSenderId| -> anyhow::Result<u8> {
        let mut s = ep.pc.rtp_sender(sender).ok_or_else(|| anyhow!("sender"))?;
        s.get_parameters()
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or_else(|| anyhow!("no negotiated codec"))
    };
    let mut video_out = Outgoing {
        sender: video.0,
        ssrc: video.1,
        payload_type: pt(video.0)?,
        seq: rand::random(),
    };
    let mut audio_out = match audio {
        Some(a) => Some(Outgoing {
            sender: a.0,
            ssrc: a.1,
            payload_type: pt(a.0)?,
            seq: rand::random(),
        }),
        None => None,
    };

    let mut ready = Some(ready);
    let mut connected = false;
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    let start_unix_us = unix_us_now();
    let capture_us =
        |at: Instant| start_unix_us + at.saturating_duration_since(start).as_micros() as u64;
    let frame_interval =
        Duration::from_secs(1) / opts.encoded.as_ref().map_or(opts.fps, |e| e.fps).max(1);
    let mut next_frame = Instant::now();
    let mut next_audio = Instant::now();
    let mut next_report = Instant::now();
    let mut last_key = None::<Instant>;
    let mut force_key = true;
    let mut index = 0u64;
    let (mut frame_no, mut audio_no, mut cursor) = (0u64, 0u64, 0usize);
    // Audio captured but not sent yet: (send at, RTP timestamp, payload).
    let mut audio_queue: std::collections::VecDeque<(Instant, u32, Vec<u8>)> =
        std::collections::VecDeque::new();
    let ts_base_v: u32 = rand::random();
    let ts_base_a: u32 = rand::random();
    let frame_bytes = (opts.video_kbps as usize * 1000 / 8) / opts.fps.max(1) as usize;
    let record_frame = |f: SentFrame| {
        if let Ok(mut frames) = shared.frames.lock() {
            frames.push(f);
        }
    };
    loop {
        let now = Instant::now();
        if connected && !shared.paused.load(Ordering::Relaxed) {
            ep.loss = opts.loss;
            while now >= next_frame {
                let ts = ts_base_v.wrapping_add(
                    (next_frame.saturating_duration_since(start).as_micros() * 9 / 100) as u32,
                );
                // The frame as payloads (VP8 descriptor first), and whether it is a keyframe.
                let (payloads, key): (Vec<Vec<u8>>, bool) = match opts.encoded.as_deref() {
                    Some(enc) if !enc.video.is_empty() => {
                        if force_key {
                            while !enc.video[cursor % enc.video.len()].0 {
                                cursor += 1;
                            }
                            force_key = false;
                        }
                        let (key, data) = &enc.video[cursor % enc.video.len()];
                        cursor += 1;
                        let chunk = opts.max_packet.saturating_sub(1).max(1);
                        let parts = data.chunks(chunk);
                        let payloads = parts
                            .enumerate()
                            .map(|(i, c)| {
                                let mut p = Vec::with_capacity(c.len() + 1);
                                p.push(if i == 0 { 0x10 } else { 0x00 });
                                p.extend_from_slice(c);
                                p
                            })
                            .collect();
                        (payloads, *key)
                    }
                    _ => {
                        let key = force_key
                            || last_key.is_none_or(|k| {
                                now.saturating_duration_since(k) >= opts.keyframe_every
                            });
                        if key {
                            last_key = Some(now);
                            force_key = false;
                        }
                        let size = if opts.sized {
                            // Recorded size 1000 + 4·(n mod 251): the payloads minus one
                            // descriptor byte each.
                            let recorded = 1000 + 4 * (frame_no as usize % 251);
                            let packets = recorded.div_ceil(opts.max_packet - 1).max(1);
                            (recorded, packets)
                        } else {
                            let size = if key { frame_bytes * 4 } else { frame_bytes };
                            (size, size.div_ceil(opts.max_packet).max(1))
                        };
                        let (total, packets) = size;
                        let payloads = (0..packets)
                            .map(|i| {
                                let len = if opts.sized {
                                    // Share `total` recorded bytes out exactly.
                                    total / packets + usize::from(i < total % packets) + 1
                                } else {
                                    total / packets
                                };
                                media::video_payload(
                                    opts.video_codec,
                                    index + i as u64,
                                    i == 0,
                                    key,
                                    len,
                                )
                            })
                            .collect();
                        (payloads, key)
                    }
                };
                let packets = payloads.len();
                let recorded: usize = payloads.iter().map(|p| p.len() - 1).sum();
                record_frame(SentFrame {
                    video: true,
                    number: frame_no,
                    capture_unix_us: capture_us(next_frame),
                    size: recorded,
                    keyframe: key,
                });
                frame_no += 1;
                for (i, payload) in payloads.into_iter().enumerate() {
                    send_rtp(
                        &mut ep,
                        &mut video_out,
                        ts,
                        i + 1 == packets,
                        payload,
                        &shared,
                        SentPacket {
                            video: true,
                            index,
                            seq: 0,
                            ts,
                            keyframe: key && i == 0,
                        },
                    );
                    index += 1;
                }
                next_frame += frame_interval;
            }
            if audio_out.is_some() {
                while now >= next_audio {
                    let ts = ts_base_a.wrapping_add(
                        (next_audio.saturating_duration_since(start).as_micros() * 48 / 1000)
                            as u32,
                    );
                    let payload = match opts.encoded.as_deref() {
                        Some(enc) if !enc.audio.is_empty() => {
                            enc.audio[audio_no as usize % enc.audio.len()].clone()
                        }
                        _ if opts.sized => {
                            media::opus_payload(index, 60 + (audio_no as usize % 400))
                        }
                        _ => media::opus_payload(index, 80),
                    };
                    record_frame(SentFrame {
                        video: false,
                        number: audio_no,
                        capture_unix_us: capture_us(next_audio),
                        size: payload.len(),
                        keyframe: true,
                    });
                    audio_no += 1;
                    audio_queue.push_back((next_audio + opts.audio_delay, ts, payload));
                    next_audio += Duration::from_millis(20);
                }
            }
            if let Some(a) = audio_out.as_mut() {
                while audio_queue.front().is_some_and(|(at, _, _)| *at <= now) {
                    let Some((_, ts, payload)) = audio_queue.pop_front() else {
                        break;
                    };
                    send_rtp(
                        &mut ep,
                        a,
                        ts,
                        false,
                        payload,
                        &shared,
                        SentPacket {
                            video: false,
                            index,
                            seq: 0,
                            ts,
                            keyframe: false,
                        },
                    );
                    index += 1;
                }
            }
            if opts.own_sender_reports && now >= next_report {
                next_report = now + Duration::from_secs(1);
                let ntp = ntp_from_unix_us(capture_us(now));
                let elapsed = now.saturating_duration_since(start);
                let mut reports = vec![(
                    &video_out,
                    ts_base_v.wrapping_add((elapsed.as_micros() * 9 / 100) as u32),
                )];
                if let Some(a) = audio_out.as_ref() {
                    reports.push((
                        a,
                        ts_base_a.wrapping_add((elapsed.as_micros() * 48 / 1000) as u32),
                    ));
                }
                for (out, rtp_time) in reports {
                    let sr = SenderReport {
                        ssrc: out.ssrc,
                        ntp_time: ntp,
                        rtp_time,
                        packet_count: 0,
                        octet_count: 0,
                        ..Default::default()
                    };
                    if let Some(mut s) = ep.pc.rtp_sender(out.sender) {
                        let _ = s.write_rtcp(now, vec![Box::new(sr)]);
                    }
                }
            }
            ep.flush();
            shared.lost.store(ep.lost, Ordering::Relaxed);
        } else {
            next_frame = now;
            next_audio = now;
        }
        let wake = ep
            .sleep_for(Duration::from_millis(5))
            .min(next_frame.saturating_duration_since(Instant::now()))
            .min(next_audio.saturating_duration_since(Instant::now()))
            .min(
                audio_queue
                    .front()
                    .map_or(Duration::from_millis(5), |(at, _, _)| {
                        at.saturating_duration_since(Instant::now())
                    }),
            );
        tokio::select! {
            _ = stop.changed() => break,
            r = ep.socket.recv_from(&mut buf) => {
                let (n, from) = r?;
                let data = buf[..n].to_vec();
                ep.handle_datagram(&data, from, Instant::now());
            }
            e = signal.next_event() => match e? {
                PublishEvent::TrackPublished(source, id) => {
                    if let Ok(mut tr) = shared.tracks.lock() {
                        tr.insert(source, id);
                    }
                }
                PublishEvent::Ended => break,
                PublishEvent::Other => {}
            },
            _ = tokio::time::sleep(wake) => ep.on_timer(),
        }
        while let Some(e) = ep.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = e {
                connected = s == RTCPeerConnectionState::Connected;
            }
        }
        while let Some(m) = ep.pc.poll_read() {
            if let RTCMessage::RtcpPacket(_, packets) = m.message {
                for p in packets {
                    let any = p.as_any();
                    if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                        shared.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                        force_key = true;
                    }
                }
            }
        }
        let announced = signal.is_live()
            && (!signal.announces_tracks()
                || shared
                    .tracks
                    .lock()
                    .map(|t| t.len() == if opts.audio { 2 } else { 1 })
                    .unwrap_or(false));
        if connected && announced {
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
        }
    }
    signal.leave().await;
    let _ = ep.pc.close();
    ep.flush();
    Ok(())
}

fn send_rtp(
    ep: &mut Endpoint,
    out: &mut Outgoing,
    ts: u32,
    marker: bool,
    payload: Vec<u8>,
    shared: &Shared,
    mut record: SentPacket,
) {
    out.seq = out.seq.wrapping_add(1);
    let packet = rtp::Packet {
        header: rtp::Header {
            version: 2,
            marker,
            payload_type: out.payload_type,
            sequence_number: out.seq,
            timestamp: ts,
            ssrc: out.ssrc,
            ..Default::default()
        },
        payload: Bytes::from(payload),
    };
    if let Some(mut s) = ep.pc.rtp_sender(out.sender) {
        if s.write_rtp(Instant::now(), packet).is_ok() {
            record.seq = out.seq;
            if let Ok(mut sent) = shared.sent.lock() {
                sent.push(record);
            }
        }
    }
}

fn unix_us_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A 64-bit NTP timestamp for a UNIX time in µs.
fn ntp_from_unix_us(us: u64) -> u64 {
    let secs = us / 1_000_000 + 2_208_988_800;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    (secs << 32) | frac
}
