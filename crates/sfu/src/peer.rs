//! Building the server's side of a peer connection on webrtc-rs's sans-IO `rtc` core.
//!
//! Every connection of the SFU is ICE-lite with server-chosen credentials (so its ufrag is known
//! before the first STUN check arrives and the one shared socket can route by it), mDNS off, and
//! the same announced host candidates (UDP, and TCP passive on the same port number).
//!
//! Interceptors differ by direction:
//! - a **publish** connection (media in) generates NACKs towards the publisher, receiver reports
//!   and transport-wide CC feedback (so the browser's send-side bandwidth estimation works);
//! - a **subscribe** connection (media out) has no interceptor of its own: forwarded media
//!   leaves through the SFU's own SRTP egress ([`crate::srtp`]), viewers' NACKs are answered
//!   from the one [`PacketCache`](crate::cache::PacketCache) of the track, and sender reports
//!   are the publisher's, translated per viewer. Its crypto provider is a
//!   [`KeyTap`](crate::srtp::KeyTap), so the SFU learns the connection's SRTP keys.
//!
//! Both pass keyframe requests, NACKs and sender reports up to the SFU ([`RtcpToSfu`]); the
//! default chain would swallow them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{
    Attribute, Interceptor, NackGeneratorBuilder, Packet, ReceiverReportBuilder, Registry, Slot,
    StreamInfo, TaggedPacket,
};
use rtc::peer_connection::configuration::interceptor_registry::configure_twcc_receiver_only;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MIME_TYPE_VP9,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use rtc::shared::error::Error as RtcError;

use crate::srtp::KeyTap;
use crate::SfuError;

/// The server's codecs in order of preference. VP8 first: every browser has it, and recordings
/// mux it into WebM.
pub fn server_codecs() -> Vec<(RTCRtpCodecParameters, RtpCodecKind)> {
    let video_fb = || {
        vec![
            RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            },
            RTCPFeedback {
                typ: "nack".into(),
                parameter: "pli".into(),
            },
            RTCPFeedback {
                typ: "ccm".into(),
                parameter: "fir".into(),
            },
        ]
    };
    let codec = |mime: &str, clock_rate, channels, fmtp: &str, pt, fb| RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_string(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp.to_string(),
            rtcp_feedback: fb,
        },
        payload_type: pt,
    };
    vec![
        (
            codec(MIME_TYPE_VP8, 90_000, 0, "", 96, video_fb()),
            RtpCodecKind::Video,
        ),
        (
            codec(MIME_TYPE_VP9, 90_000, 0, "profile-id=0", 98, video_fb()),
            RtpCodecKind::Video,
        ),
        (
            codec(
                MIME_TYPE_H264,
                90_000,
                0,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                102,
                video_fb(),
            ),
            RtpCodecKind::Video,
        ),
        (
            codec(
                MIME_TYPE_OPUS,
                48_000,
                2,
                "minptime=10;useinbandfec=1",
                111,
                vec![],
            ),
            RtpCodecKind::Audio,
        ),
    ]
}

/// Which way media flows on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Media from a client to the server.
    Inbound,
    /// Media from the server to a client.
    Outbound,
}

/// Addresses announced in every connection's candidates.
#[derive(Clone, Debug)]
pub struct Announce {
    /// The address clients reach the media port at (a public IP behind 1:1 NAT).
    pub addr: SocketAddr,
    /// Whether the ICE-TCP listener runs on the same port number.
    pub tcp: bool,
}

/// Creates a peer connection with the SFU's settings and local candidates already added, and
/// for a subscribe connection the key tap its SRTP egress needs.
pub fn new_peer_connection(
    now: Instant,
    direction: Direction,
    ufrag: &str,
    pwd: &str,
    announce: &Announce,
) -> Result<(RTCPeerConnection, Option<Arc<KeyTap>>), SfuError> {
    let mut media = MediaEngine::default();
    for (codec, kind) in server_codecs() {
        media.register_codec(codec, kind).map_err(rtc_err)?;
    }
    let mut registry = Registry::new().with(Slot::from(11_500), RtcpToSfu::default());
    let mut settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_ice_credentials(ufrag.to_string(), pwd.to_string())
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_answering_dtls_role(RTCDtlsRole::Server);
    let mut tap = None;
    match direction {
        Direction::Inbound => {
            registry = registry
                .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build())
                .with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
            registry = configure_twcc_receiver_only(registry, &mut media).map_err(rtc_err)?;
        }
        Direction::Outbound => {
            let t = KeyTap::new().map_err(|e| SfuError::Rtc(e.to_string()))?;
            settings = settings
                .with_crypto_provider(t.clone())
                .with_srtp_protection_profiles(crate::srtp::supported_profiles());
            tap = Some(t);
        }
    }
    let settings = settings.build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build(now)
        .map_err(rtc_err)?;
    for candidate in local_candidates(announce)? {
        pc.add_local_candidate(candidate).map_err(rtc_err)?;
    }
    Ok((pc, tap))
}

fn local_candidates(
    announce: &Announce,
) -> Result<Vec<rtc::peer_connection::transport::RTCIceCandidateInit>, SfuError> {
    let mut out = vec![host_candidate(
        "udp",
        announce.addr,
        rtc::ice::tcp_type::TcpType::Unspecified,
    )?];
    if announce.tcp {
        out.push(host_candidate(
            "tcp",
            announce.addr,
            rtc::ice::tcp_type::TcpType::Passive,
        )?);
    }
    Ok(out)
}

/// A host candidate (`network` is `"udp"` or `"tcp"`) at `addr`, ready for
/// `add_local_candidate`.
pub fn host_candidate(
    network: &str,
    addr: SocketAddr,
    tcp_type: rtc::ice::tcp_type::TcpType,
) -> Result<rtc::peer_connection::transport::RTCIceCandidateInit, SfuError> {
    let c = CandidateHostConfig {
        base_config: CandidateConfig {
            network: network.to_string(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        tcp_type,
    }
    .new_candidate_host()
    .map_err(|e| SfuError::Rtc(e.to_string()))?;
    RTCIceCandidate::from(&c).to_json().map_err(rtc_err)
}

pub(crate) fn rtc_err(e: RtcError) -> SfuError {
    SfuError::Rtc(e.to_string())
}

/// Marks the RTCP the SFU acts on (keyframe requests, NACKs, sender reports) for delivery to the application;
/// without it the end of the interceptor chain drops all inbound RTCP. Placed application-most,
/// so the report interceptors have seen everything first.
#[derive(Default)]
pub struct RtcpToSfu {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

fn sfu_cares(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>()
        || any.is::<FullIntraRequest>()
        || any.is::<TransportLayerNack>()
        || any.is::<SenderReport>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpToSfu {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = RtcError;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), RtcError> {
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            packets.retain(|p| sfu_cares(p.as_ref()));
            if packets.is_empty() {
                return Ok(());
            }
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), RtcError> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for RtcpToSfu {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// The mid of the transceiver that owns `sender`.
pub fn mid_of_sender(pc: &mut RTCPeerConnection, sender: RTCRtpSenderId) -> Option<String> {
    let ids: Vec<_> = pc.get_transceivers().collect();
    ids.into_iter().find_map(|t| {
        let tr = pc.rtp_transceiver(t)?;
        (tr.sender() == Some(sender))
            .then(|| tr.mid().clone())
            .flatten()
    })
}

/// The mid of the transceiver that owns `receiver`.
pub fn mid_of_receiver(pc: &mut RTCPeerConnection, receiver: RTCRtpReceiverId) -> Option<String> {
    let ids: Vec<_> = pc.get_transceivers().collect();
    ids.into_iter().find_map(|t| {
        let tr = pc.rtp_transceiver(t)?;
        (tr.receiver() == Some(receiver))
            .then(|| tr.mid().clone())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The announced address (a public IP behind 1:1 NAT) is what the SDP offers, for UDP and
    /// for ICE-TCP, and the server is ICE-lite with the credentials it chose.
    #[test]
    fn candidates_announce_the_public_address() {
        let announce = Announce {
            addr: "203.0.113.7:7880".parse().unwrap(),
            tcp: true,
        };
        let (mut pc, _) = new_peer_connection(
            Instant::now(),
            Direction::Outbound,
            "srvufrag0123456",
            "0123456789abcdef0123456789abcdef",
            &announce,
        )
        .unwrap();
        let track = rtc::media_stream::MediaStreamTrack::new(
            "s".into(),
            "t".into(),
            "l".into(),
            RtpCodecKind::Video,
            vec![rtc::rtp_transceiver::rtp_sender::RTCRtpEncodingParameters {
                rtp_coding_parameters: rtc::rtp_transceiver::rtp_sender::RTCRtpCodingParameters {
                    ssrc: Some(1234),
                    ..Default::default()
                },
                codec: server_codecs()[0].0.rtp_codec.clone(),
                active: true,
                ..Default::default()
            }],
        );
        pc.add_track(track).unwrap();
        let sdp = pc.create_offer(None).unwrap().sdp;
        assert!(sdp.contains("a=ice-lite"), "{sdp}");
        assert!(sdp.contains("a=ice-ufrag:srvufrag0123456"), "{sdp}");
        assert!(
            sdp.contains(" udp 2130706431 203.0.113.7 7880 typ host"),
            "{sdp}"
        );
        assert!(
            sdp.contains(" tcp ") && sdp.contains("203.0.113.7 7880 typ host tcptype passive"),
            "{sdp}"
        );
        assert!(!sdp.contains("127.0.0.1"), "{sdp}");
    }
}
