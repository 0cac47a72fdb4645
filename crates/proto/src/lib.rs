//! Wire types of lectern's signalling protocol (version 1), shared by the server, the test
//! clients and (by documentation) the web client. No I/O here.
//!
//! The protocol is specified in `docs/protocol.md`; this crate is its executable form. Frames are
//! JSON objects tagged by `"type"`. [`parse_client_frame`] turns untrusted text into a
//! [`ClientMsg`] or a [`ProtocolError`] whose [`ErrorCode`] is what the client is told.

#![forbid(unsafe_code)]

mod error;
mod ids;
mod messages;

pub use error::{ErrorCode, ProtocolError};
pub use ids::{PeerId, QuestionId, RecordingId, SessionId, TrackId};
pub use messages::*;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame a client may send, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// Longest chapter title, in characters.
pub const MAX_CHAPTER_CHARS: usize = 200;

/// Longest chat message or question, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// How many chat messages a newcomer receives in `joined`.
pub const CHAT_HISTORY: usize = 100;

/// The version of the recording notice participants accept (the notice's text is in the web
/// client's language files under `consent.*`). Change it when the notice changes: consent to an
/// older notice is then asked again.
pub const NOTICE_VERSION: &str = "2026-11";

/// Parses one text frame from a client.
///
/// Distinguishes a frame that is not JSON (or has fields of the wrong shape) from one whose
/// `type` is unknown, so the client learns which mistake it made.
pub fn parse_client_frame(text: &str) -> Result<ClientMsg, ProtocolError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::TooLarge,
            format!("frame of {} bytes exceeds {MAX_FRAME_BYTES}", text.len()),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not JSON: {e}")))?;
    let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
        return Err(ProtocolError::new(
            ErrorCode::UnknownType,
            "frame has no string field \"type\"",
        ));
    };
    let Some(kind) = ClientMsg::TYPES.iter().copied().find(|t| *t == kind) else {
        let shown: String = kind.chars().take(40).collect();
        return Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown frame type {shown:?}"),
        ));
    };
    serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("malformed {kind}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_join() {
        let m = parse_client_frame(
            r#"{"type":"join","version":1,"session":"6f1c2a1e-8a9a-4a8e-9d0e-3a1f0c0b9d11","key":"k","name":"Ana"}"#,
        )
        .unwrap();
        match m {
            ClientMsg::Join(j) => {
                assert_eq!(j.version, 1);
                assert_eq!(j.key, "k");
                assert_eq!(j.name.as_deref(), Some("Ana"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn distinguishes_bad_json_from_unknown_type() {
        assert_eq!(
            parse_client_frame("{").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(
            parse_client_frame("[]").unwrap_err().code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"dance"}"#).unwrap_err().code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"join","version":"one"}"#)
                .unwrap_err()
                .code,
            ErrorCode::BadJson
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"offer","pc":"sideways","sdp":"x","tracks":[]}"#)
                .unwrap_err()
                .code,
            ErrorCode::BadJson
        );
    }

    #[test]
    fn refuses_oversized_frames() {
        let big = format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(
            parse_client_frame(&big).unwrap_err().code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn every_client_type_is_listed() {
        for (text, kind) in [
            (r#"{"type":"ping"}"#, "ping"),
            (r#"{"type":"leave"}"#, "leave"),
            (r#"{"type":"end_session"}"#, "end_session"),
            (
                r#"{"type":"answer","pc":"subscribe","sdp":"v=0"}"#,
                "answer",
            ),
            (
                r#"{"type":"candidate","pc":"publish","candidate":null}"#,
                "candidate",
            ),
            (
                r#"{"type":"offer","pc":"publish","sdp":"v=0","tracks":[{"mid":"0","source":"camera"}]}"#,
                "offer",
            ),
        ] {
            let m = parse_client_frame(text).unwrap();
            assert_eq!(m.type_name(), kind);
        }
    }

    #[test]
    fn random_frames_never_panic() {
        // A tiny deterministic generator: frames stitched from JSON fragments.
        let pieces = [
            "{",
            "}",
            "\"type\":",
            "\"join\"",
            "\"offer\"",
            ",",
            "\"version\":1",
            "[",
            "]",
            "null",
            "\"pc\":\"publish\"",
            "\"sdp\":\"v=0\"",
            "\"tracks\":[",
            "1e999",
            "\"\\u0000\"",
            "\"session\":\"x\"",
            ":",
            "\"candidate\":{",
            "-1",
            "true",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50_000 {
            let mut frame = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for k in 0..(x % 12) {
                frame.push_str(pieces[((x >> (k * 5)) % pieces.len() as u64) as usize]);
            }
            let _ = parse_client_frame(&frame);
        }
    }

    #[test]
    fn server_frames_serialize_with_type_tag() {
        let e = ServerMsg::Error(ErrorFrame::from(ProtocolError::new(
            ErrorCode::Forbidden,
            "participants may not publish",
        )));
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "forbidden");
        assert_eq!(v["fatal"], false);
        let s = ServerMsg::SessionState(SessionStateFrame {
            state: SessionState::Paused,
            grace_seconds: Some(120),
        });
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "paused");
        assert_eq!(v["grace_seconds"], 120);
    }
}
