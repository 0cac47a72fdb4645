//! Stable error codes and the one mapping from codes to WebSocket close codes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, as a client is told. The string forms are stable (see docs/protocol.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    UnknownType,
    TooLarge,
    BinaryFrame,
    NotJoined,
    AlreadyJoined,
    UnsupportedVersion,
    UnknownSession,
    BadKey,
    SessionOver,
    Forbidden,
    BadSdp,
    UnsupportedCodec,
    BadTrack,
    Busy,
    Replaced,
    Idle,
    RecordingFailed,
    NotRecording,
    UnknownRecording,
    BadRange,
    /// The invite behind the key has expired.
    KeyExpired,
    /// The invite behind the key was revoked.
    KeyRevoked,
    /// The invite behind the key has been used for as many sessions as it allows.
    KeyUsedUp,
    /// The recording notice must be accepted first (the session is being recorded).
    ConsentRequired,
    /// The facilitator removed this person from the session.
    Removed,
    /// No member with that peer id.
    UnknownPeer,
    /// No question with that id.
    UnknownQuestion,
    /// A value is well-formed JSON but not acceptable (empty or too long text, …).
    Invalid,
    /// Too many frames of this kind; slow down.
    RateLimited,
    /// An HTTP request body of a type the endpoint does not take (WHIP wants `application/sdp`).
    UnsupportedMediaType,
    Internal,
}

impl ErrorCode {
    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownSession => "unknown_session",
            ErrorCode::BadKey => "bad_key",
            ErrorCode::SessionOver => "session_over",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BadSdp => "bad_sdp",
            ErrorCode::UnsupportedCodec => "unsupported_codec",
            ErrorCode::BadTrack => "bad_track",
            ErrorCode::Busy => "busy",
            ErrorCode::Replaced => "replaced",
            ErrorCode::Idle => "idle",
            ErrorCode::RecordingFailed => "recording_failed",
            ErrorCode::NotRecording => "not_recording",
            ErrorCode::UnknownRecording => "unknown_recording",
            ErrorCode::BadRange => "bad_range",
            ErrorCode::KeyExpired => "key_expired",
            ErrorCode::KeyRevoked => "key_revoked",
            ErrorCode::KeyUsedUp => "key_used_up",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::Removed => "removed",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::UnknownQuestion => "unknown_question",
            ErrorCode::Invalid => "invalid",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Internal => "internal",
        }
    }

    /// The WebSocket close code that follows a fatal error, or `None` when the connection stays
    /// open. This is the single place where errors become close codes.
    pub fn close_code(self) -> Option<u16> {
        match self {
            ErrorCode::TooLarge => Some(1009),
            ErrorCode::UnsupportedVersion => Some(4400),
            ErrorCode::BadKey
            | ErrorCode::KeyExpired
            | ErrorCode::KeyRevoked
            | ErrorCode::KeyUsedUp => Some(4401),
            ErrorCode::Removed => Some(4403),
            ErrorCode::ConsentRequired => Some(4451),
            ErrorCode::UnknownSession => Some(4404),
            ErrorCode::Idle => Some(4408),
            ErrorCode::Replaced => Some(4409),
            ErrorCode::SessionOver => Some(4410),
            _ => None,
        }
    }

    /// Whether the server closes the connection after this error.
    pub fn is_fatal(self) -> bool {
        self.close_code().is_some()
    }

    /// The HTTP status for the same condition on an HTTP endpoint.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadJson
            | ErrorCode::UnknownType
            | ErrorCode::BinaryFrame
            | ErrorCode::UnsupportedVersion
            | ErrorCode::BadSdp
            | ErrorCode::BadTrack
            | ErrorCode::NotJoined
            | ErrorCode::NotRecording
            | ErrorCode::Invalid
            | ErrorCode::AlreadyJoined => 400,
            ErrorCode::BadKey
            | ErrorCode::KeyExpired
            | ErrorCode::KeyRevoked
            | ErrorCode::KeyUsedUp => 401,
            ErrorCode::Forbidden | ErrorCode::Removed => 403,
            ErrorCode::UnknownSession
            | ErrorCode::UnknownRecording
            | ErrorCode::UnknownPeer
            | ErrorCode::UnknownQuestion => 404,
            ErrorCode::ConsentRequired => 451,
            ErrorCode::RateLimited => 429,
            ErrorCode::Idle => 408,
            ErrorCode::Replaced => 409,
            ErrorCode::SessionOver => 410,
            ErrorCode::TooLarge => 413,
            ErrorCode::BadRange => 416,
            ErrorCode::UnsupportedCodec | ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Busy => 503,
            ErrorCode::Internal | ErrorCode::RecordingFailed => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its stable code and a human message, ready to be sent as an `error` frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_match_serde() {
        for code in [
            ErrorCode::BadJson,
            ErrorCode::UnsupportedCodec,
            ErrorCode::SessionOver,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn fatal_codes_close() {
        assert!(ErrorCode::BadKey.is_fatal());
        assert!(!ErrorCode::Forbidden.is_fatal());
        assert_eq!(ErrorCode::TooLarge.close_code(), Some(1009));
    }
}
