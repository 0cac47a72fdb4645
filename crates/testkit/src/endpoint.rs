//! One client peer connection with its own UDP socket: the sans-IO `rtc` connection plus the
//! few lines of I/O around it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::BytesMut;
use rtc::interceptor::{
    NackGeneratorBuilder, NackResponderBuilder, ReceiverReportBuilder, Registry,
    SenderReportBuilder, Slot,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::net::UdpSocket;

pub(crate) struct Endpoint<S = UdpSocket> {
    pub pc: RTCPeerConnection,
    pub socket: S,
    pub local: SocketAddr,
    /// Fraction of outgoing RTP datagrams dropped on the way out (a lossy network; RTCP,
    /// STUN and DTLS always go).
    pub loss: f64,
    /// RTP datagrams dropped by `loss` so far.
    pub lost: u64,
}

/// A socket an endpoint can send through without blocking: tokio's, or a plain non-blocking
/// std socket that no reactor watches (the bench viewer reads that one on a timer).
pub(crate) trait SendTo {
    fn send_now(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize>;
}

impl SendTo for UdpSocket {
    fn send_now(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        self.try_send_to(buf, to)
    }
}

impl SendTo for std::net::UdpSocket {
    fn send_now(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        self.send_to(buf, to)
    }
}

impl Endpoint<std::net::UdpSocket> {
    /// A receiving endpoint (as [`Endpoint::with_crypto`]) on a plain non-blocking std socket,
    /// not registered with any reactor.
    pub async fn std_with_crypto(
        crypto: Option<std::sync::Arc<dyn rtc::crypto::RTCCryptoProvider>>,
    ) -> anyhow::Result<Endpoint<std::net::UdpSocket>> {
        let ep = Endpoint::with_crypto(false, None, crypto).await?;
        Ok(Endpoint {
            pc: ep.pc,
            socket: ep.socket.into_std()?,
            local: ep.local,
            loss: 0.0,
            lost: 0,
        })
    }
}

impl Endpoint {
    /// A client connection on a fresh loopback socket. `sending` selects the interceptors of
    /// a sender (NACK responder, sender reports) or a receiver (NACK generator, receiver
    /// reports); both deliver keyframe requests and NACKs to the application. `video_only`
    /// restricts the video codecs to one mime type.
    pub async fn new(sending: bool, video_only: Option<&str>) -> anyhow::Result<Endpoint> {
        Self::with_crypto(sending, video_only, None).await
    }

    /// A sending endpoint without the sender-report interceptor: the caller writes its own
    /// reports (to map RTP time to a capture clock rather than to send times).
    pub async fn sender_without_reports(video_only: Option<&str>) -> anyhow::Result<Endpoint> {
        Self::build(true, false, video_only, None).await
    }

    /// Like [`Endpoint::new`], with a crypto provider of the caller's (a
    /// [`lectern_sfu::srtp::KeyTap`] to read the SRTP keys once connected). With one, only the
    /// SRTP profiles that `lectern_sfu::srtp` handles are offered (peers such as Janus would
    /// otherwise pick AES-256-GCM).
    pub async fn with_crypto(
        sending: bool,
        video_only: Option<&str>,
        crypto: Option<std::sync::Arc<dyn rtc::crypto::RTCCryptoProvider>>,
    ) -> anyhow::Result<Endpoint> {
        Self::build(sending, sending, video_only, crypto).await
    }

    async fn build(
        sending: bool,
        sender_reports: bool,
        video_only: Option<&str>,
        crypto: Option<std::sync::Arc<dyn rtc::crypto::RTCCryptoProvider>>,
    ) -> anyhow::Result<Endpoint> {
        let socket = lectern_sfu::net::udp_socket(([127, 0, 0, 1], 0).into())?;
        let local = socket.local_addr()?;
        let mut media = MediaEngine::default();
        for (codec, kind) in lectern_sfu::peer::server_codecs() {
            let is_video = codec.rtp_codec.mime_type.starts_with("video/");
            if is_video && video_only.is_some_and(|m| m != codec.rtp_codec.mime_type) {
                continue;
            }
            media
                .register_codec(codec, kind)
                .map_err(|e| anyhow!("{e}"))?;
        }
        let registry = if sending && sender_reports {
            Registry::new()
                .with(Slot::NackResponder, NackResponderBuilder::new().build())
                .with(Slot::SenderReport, SenderReportBuilder::new().build())
        } else if sending {
            Registry::new().with(Slot::NackResponder, NackResponderBuilder::new().build())
        } else {
            Registry::new()
                .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
                .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build())
        }
        .with(Slot::from(11_500), lectern_sfu::peer::RtcpToSfu::default());
        let mut settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled);
        if let Some(c) = crypto {
            settings = settings
                .with_crypto_provider(c)
                .with_srtp_protection_profiles(lectern_sfu::srtp::supported_profiles());
        }
        let settings = settings.build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(settings)
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .build(Instant::now())
            .map_err(|e| anyhow!("{e}"))?;
        pc.add_local_candidate(lectern_sfu::peer::host_candidate(
            "udp",
            local,
            rtc::ice::tcp_type::TcpType::Unspecified,
        )?)
        .map_err(|e| anyhow!("{e}"))?;
        Ok(Endpoint {
            pc,
            socket,
            local,
            loss: 0.0,
            lost: 0,
        })
    }
}

impl<S: SendTo> Endpoint<S> {
    /// Sends what the connection has to send (a full socket buffer drops, as a network would).
    pub fn flush(&mut self) {
        while let Some(out) = self.pc.poll_write() {
            if self.loss > 0.0 && is_rtp(&out.message) && rand::random::<f64>() < self.loss {
                self.lost += 1;
                continue;
            }
            let _ = self.socket.send_now(&out.message, out.transport.peer_addr);
        }
    }

    /// This endpoint's host candidate as an SDP `candidate:` value (for trickling).
    pub fn candidate(&self) -> anyhow::Result<String> {
        Ok(lectern_sfu::peer::host_candidate(
            "udp",
            self.local,
            rtc::ice::tcp_type::TcpType::Unspecified,
        )?
        .candidate)
    }

    pub fn handle_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        let _ = self.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        });
        self.flush();
    }

    /// How long until the connection's next timer (capped).
    pub fn sleep_for(&mut self, cap: Duration) -> Duration {
        match self.pc.poll_timeout() {
            Some(t) => t.saturating_duration_since(Instant::now()).min(cap),
            None => cap,
        }
    }

    pub fn on_timer(&mut self) {
        let now = Instant::now();
        if self.pc.poll_timeout().is_some_and(|t| t <= now) {
            let _ = self.pc.handle_timeout(now);
        }
        self.flush();
    }
}

/// An (S)RTP datagram, not RTCP, STUN or DTLS (RFC 7983 demultiplexing, RFC 5761 types).
fn is_rtp(d: &[u8]) -> bool {
    matches!(d.first(), Some(128..=191)) && !matches!(d.get(1).map(|b| b & 0x7f), Some(64..=95))
}
