//! Checks a publish offer against the server's codecs and the client's track list *before* any
//! state changes, so a bad offer is refused with a precise error and changes nothing.

use lectern_proto::{ErrorCode, MediaKind, ProtocolError, PublishedMid};

use crate::codec::Codec;

/// One `m=` section of an SDP, as far as the check needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub kind: Option<MediaKind>,
    pub mid: Option<String>,
    pub codecs: Vec<String>,
    /// `a=inactive`/`a=recvonly`, or port 0: the section sends nothing.
    pub not_sending: bool,
}

/// Splits an SDP into its media sections (tolerant: unknown lines are ignored).
pub fn sections(sdp: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let kind = match parts.next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
            let port_zero = parts.next() == Some("0");
            out.push(Section {
                kind,
                mid: None,
                codecs: Vec::new(),
                not_sending: port_zero,
            });
        } else if let Some(s) = out.last_mut() {
            if let Some(mid) = line.strip_prefix("a=mid:") {
                s.mid = Some(mid.trim().to_string());
            } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
                if let Some(name) = map.split_whitespace().nth(1) {
                    if let Some(codec) = name.split('/').next() {
                        s.codecs.push(codec.to_string());
                    }
                }
            } else if line == "a=inactive" || line == "a=recvonly" {
                s.not_sending = true;
            }
        }
    }
    out
}

/// Parses an offer as the peer connection will and checks that it carries what a connection
/// needs (ICE credentials, a DTLS fingerprint), so that a signalling layer which must not change
/// anything for a bad offer (WHIP) can refuse it first.
pub fn check_offer_sdp(sdp: &str) -> Result<(), ProtocolError> {
    if !sdp.starts_with("v=0") {
        return Err(ProtocolError::new(ErrorCode::BadSdp, "not an SDP offer"));
    }
    rtc::peer_connection::sdp::RTCSessionDescription::offer(sdp.to_string()).map_err(|e| {
        ProtocolError::new(ErrorCode::BadSdp, format!("the offer does not parse: {e}"))
    })?;
    for (attribute, what) in [
        ("a=ice-ufrag:", "an ICE username fragment"),
        ("a=ice-pwd:", "an ICE password"),
        ("a=fingerprint:", "a DTLS fingerprint"),
    ] {
        if !sdp.lines().any(|l| l.trim_start().starts_with(attribute)) {
            return Err(ProtocolError::new(
                ErrorCode::BadSdp,
                format!("the offer has no {what} ({attribute}…)"),
            ));
        }
    }
    Ok(())
}

/// Validates a publish offer: every listed track names a sending section of the right kind
/// with a codec the server forwards, sources are unique. Returns the tracks that really send.
pub fn check_publish_offer(
    sdp: &str,
    tracks: &[PublishedMid],
) -> Result<Vec<PublishedMid>, ProtocolError> {
    if !sdp.starts_with("v=0") {
        return Err(ProtocolError::new(ErrorCode::BadSdp, "not an SDP offer"));
    }
    let sections = sections(sdp);
    if sections.is_empty() {
        return Err(ProtocolError::new(
            ErrorCode::BadSdp,
            "the offer has no media",
        ));
    }
    let mut sending = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        if tracks[..i].iter().any(|o| o.source == t.source) {
            return Err(ProtocolError::new(
                ErrorCode::BadTrack,
                format!("source {:?} listed twice", t.source),
            ));
        }
        if tracks[..i].iter().any(|o| o.mid == t.mid) {
            return Err(ProtocolError::new(
                ErrorCode::BadTrack,
                format!("mid {:?} listed twice", t.mid),
            ));
        }
        let Some(section) = sections.iter().find(|s| s.mid.as_deref() == Some(&t.mid)) else {
            return Err(ProtocolError::new(
                ErrorCode::BadTrack,
                format!("no m-section with mid {:?}", t.mid),
            ));
        };
        if section.kind != Some(t.source.kind()) {
            return Err(ProtocolError::new(
                ErrorCode::BadTrack,
                format!("mid {:?} is not {:?}", t.mid, t.source.kind()),
            ));
        }
        if section.not_sending {
            continue;
        }
        let supported = section.codecs.iter().any(|c| {
            Codec::from_mime(c)
                .is_some_and(|codec| codec.is_video() == (section.kind == Some(MediaKind::Video)))
        });
        if !supported {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedCodec,
                format!(
                    "mid {:?} offers {:?}; the server forwards VP8, VP9, H264 and Opus",
                    t.mid, section.codecs
                ),
            ));
        }
        sending.push(t.clone());
    }
    Ok(sending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lectern_proto::Source;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 45\r\na=mid:2\r\na=sendonly\r\na=rtpmap:45 AV1/90000\r\n\
m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=inactive\r\na=rtpmap:96 VP8/90000\r\n";

    fn t(mid: &str, source: Source) -> PublishedMid {
        PublishedMid {
            mid: mid.into(),
            source,
        }
    }

    #[test]
    fn parses_sections() {
        let s = sections(OFFER);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].codecs, vec!["VP8", "rtx"]);
        assert_eq!(s[1].kind, Some(MediaKind::Audio));
        assert!(s[3].not_sending);
    }

    #[test]
    fn accepts_supported_tracks() {
        let ok = check_publish_offer(OFFER, &[t("0", Source::Camera), t("1", Source::Microphone)])
            .unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn inactive_section_is_not_published() {
        let ok =
            check_publish_offer(OFFER, &[t("0", Source::Camera), t("3", Source::Screen)]).unwrap();
        assert_eq!(ok, vec![t("0", Source::Camera)]);
    }

    #[test]
    fn refuses_bad_offers() {
        let code = |tracks: &[PublishedMid]| check_publish_offer(OFFER, tracks).unwrap_err().code;
        assert_eq!(code(&[t("2", Source::Screen)]), ErrorCode::UnsupportedCodec);
        assert_eq!(code(&[t("9", Source::Camera)]), ErrorCode::BadTrack);
        assert_eq!(code(&[t("1", Source::Camera)]), ErrorCode::BadTrack);
        assert_eq!(
            code(&[t("0", Source::Camera), t("0", Source::Screen)]),
            ErrorCode::BadTrack
        );
        assert_eq!(
            code(&[t("0", Source::Camera), t("1", Source::Camera)]),
            ErrorCode::BadTrack
        );
        assert_eq!(
            check_publish_offer("garbage", &[]).unwrap_err().code,
            ErrorCode::BadSdp
        );
    }

    #[test]
    fn offer_sdp_needs_ice_and_dtls() {
        let full = format!(
            "{OFFER}a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n\
             a=fingerprint:sha-256 {}\r\n",
            ["AB"; 32].join(":")
        );
        check_offer_sdp(&full).unwrap();
        let code = |sdp: &str| check_offer_sdp(sdp).unwrap_err().code;
        assert_eq!(code(OFFER), ErrorCode::BadSdp, "no ICE credentials");
        assert_eq!(code("garbage"), ErrorCode::BadSdp);
        assert_eq!(code("v=0\r\nthis is not SDP\r\n"), ErrorCode::BadSdp);
        assert_eq!(
            code(&full.replace("a=fingerprint", "a=finger")),
            ErrorCode::BadSdp
        );
    }
}
