//! Frames of the signalling protocol.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, PeerId, ProtocolError, RecordingId, SessionId, TrackId};

/// What a peer may do in a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Publishes camera, microphone and screen; ends the session.
    Facilitator,
    /// Watches and listens.
    Participant,
}

/// Where a published track comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Camera,
    Microphone,
    Screen,
}

impl Source {
    /// The media kind a source carries.
    pub fn kind(self) -> MediaKind {
        match self {
            Source::Microphone => MediaKind::Audio,
            Source::Camera | Source::Screen => MediaKind::Video,
        }
    }
}

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// Which of a client's two peer connections a frame is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcKind {
    /// The client offers and sends.
    Publish,
    /// The server offers and sends.
    Subscribe,
}

/// Lifecycle of a live session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Waiting,
    Live,
    Paused,
    Ended,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    EndedByFacilitator,
    FacilitatorGone,
}

/// `RTCIceCandidateInit` as browsers serialize it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// A transceiver of a publish offer and the source it carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedMid {
    pub mid: String,
    pub source: Source,
}

/// A transceiver of a subscribe offer and the track it carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedMid {
    pub mid: String,
    pub track: TrackId,
}

// ---------------------------------------------------------------------------------------------
// Client → server

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    pub version: u32,
    pub session: SessionId,
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The role the client expects the key to grant; a key of another role is refused, so a
    /// facilitator link opened on a participant page cannot take over the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub pc: PcKind,
    pub sdp: String,
    #[serde(default)]
    pub tracks: Vec<PublishedMid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub pc: PcKind,
    pub sdp: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub pc: PcKind,
    /// `None` ends the candidates.
    pub candidate: Option<IceCandidate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddChapter {
    /// 1 to [`crate::MAX_CHAPTER_CHARS`] characters.
    pub title: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// A frame from a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Join(Join),
    Offer(Offer),
    Answer(Answer),
    Candidate(Candidate),
    EndSession,
    /// Facilitator: start recording the session.
    StartRecording,
    /// Facilitator: stop recording.
    StopRecording,
    /// Facilitator: a chapter starts now in the recording.
    AddChapter(AddChapter),
    Leave,
    Ping(Ping),
}

impl ClientMsg {
    /// Every `type` a client may send.
    pub const TYPES: &'static [&'static str] = &[
        "join",
        "offer",
        "answer",
        "candidate",
        "end_session",
        "start_recording",
        "stop_recording",
        "add_chapter",
        "leave",
        "ping",
    ];

    /// The `type` of this frame.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Join(_) => "join",
            ClientMsg::Offer(_) => "offer",
            ClientMsg::Answer(_) => "answer",
            ClientMsg::Candidate(_) => "candidate",
            ClientMsg::EndSession => "end_session",
            ClientMsg::StartRecording => "start_recording",
            ClientMsg::StopRecording => "stop_recording",
            ClientMsg::AddChapter(_) => "add_chapter",
            ClientMsg::Leave => "leave",
            ClientMsg::Ping(_) => "ping",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server → client

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub title: String,
    pub course: String,
    pub state: SessionState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub peer: PeerId,
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub id: TrackId,
    pub kind: MediaKind,
    pub source: Source,
    pub publisher: PeerId,
    pub paused: bool,
}

/// Whether the session is being recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Not recording.
    #[default]
    Off,
    /// The facilitator asked; the recorder is being set up.
    Starting,
    /// Recording: everything published is archived.
    On,
    /// The recorder failed (for example, the disk is full); nothing is being recorded.
    Failed,
}

/// The recording indicator: sent to everyone whenever it changes, and in `joined`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingFrame {
    pub state: RecordingState,
    /// The recording in progress (state `on`), or the one that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingId>,
    /// When the recording started (`on`): milliseconds since the UNIX epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Why the recorder failed (`failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    pub protocol: u32,
    pub peer: PeerId,
    pub role: Role,
    pub session: SessionInfo,
    pub participants: Vec<Participant>,
    pub tracks: Vec<TrackInfo>,
    #[serde(default)]
    pub recording: RecordingFrame,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerOffer {
    pub pc: PcKind,
    pub sdp: String,
    pub tracks: Vec<SubscribedMid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackPublished {
    pub track: TrackInfo,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackUnpublished {
    pub track: TrackId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantJoined {
    pub participant: Participant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantLeft {
    pub peer: PeerId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStateFrame {
    pub state: SessionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnded {
    pub reason: EndReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    pub fatal: bool,
}

impl From<ProtocolError> for ErrorFrame {
    fn from(e: ProtocolError) -> Self {
        Self {
            fatal: e.code.is_fatal(),
            code: e.code,
            message: e.message,
        }
    }
}

/// A frame from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Joined(Joined),
    Answer(Answer),
    Offer(ServerOffer),
    Candidate(Candidate),
    TrackPublished(TrackPublished),
    TrackUnpublished(TrackUnpublished),
    ParticipantJoined(ParticipantJoined),
    ParticipantLeft(ParticipantLeft),
    SessionState(SessionStateFrame),
    SessionEnded(SessionEnded),
    Recording(RecordingFrame),
    Pong(Ping),
    Error(ErrorFrame),
}

impl ServerMsg {
    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error(ProtocolError::new(code, message).into())
    }
}
