//! Frames of the signalling protocol.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, PeerId, ProtocolError, QuestionId, RecordingId, SessionId, TrackId};

/// What the holder of an invite may do. Three roles join live sessions (facilitator,
/// participant, room display); the other two use the HTTP API only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the server's courses: the admin API and page, the audit log, every recording.
    Admin,
    /// Publishes camera, microphone and screen; moderates; records; ends the session.
    Facilitator,
    /// Watches and listens, chats, asks, raises a hand; publishes only on stage.
    Participant,
    /// Replays the course's recordings; cannot join live.
    ReplayViewer,
    /// The classroom's projector: receives the stage, questions and hands; sends nothing.
    RoomDisplay,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Facilitator,
        Role::Participant,
        Role::ReplayViewer,
        Role::RoomDisplay,
    ];

    /// The stable string form (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Facilitator => "facilitator",
            Role::Participant => "participant",
            Role::ReplayViewer => "replay_viewer",
            Role::RoomDisplay => "room_display",
        }
    }

    /// Parses the string form.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether holders join live sessions.
    pub fn joins_live(self) -> bool {
        matches!(
            self,
            Role::Facilitator | Role::Participant | Role::RoomDisplay
        )
    }

    /// Whether holders may replay the course's recordings.
    pub fn replays(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Facilitator | Role::Participant | Role::ReplayViewer
        )
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// An administrator cancelled the session.
    Cancelled,
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
    /// The version of the recording notice the person accepted before joining
    /// ([`crate::NOTICE_VERSION`]); logged. Without it, a participant cannot join while the
    /// session is recorded, and is disconnected when recording starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
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

/// A chat message or a question: 1 to [`crate::MAX_TEXT_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub text: String,
}

/// Where a question stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionState {
    #[default]
    Open,
    Answered,
    Dismissed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub question: QuestionId,
    /// `true` adds the sender's vote, `false` withdraws it; one vote per person.
    pub up: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkQuestion {
    pub question: QuestionId,
    pub state: QuestionState,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowerHand {
    /// Whose hand; the sender's own when absent. Only the facilitator lowers another's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetStage {
    pub peer: PeerId,
    /// `true` brings the peer on stage (facilitator only); `false` takes them off (the
    /// facilitator, or the peer themselves).
    pub on: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    pub peer: PeerId,
    /// The facilitator mutes or unmutes anyone on stage; a stage member their own microphone.
    pub muted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remove {
    pub peer: PeerId,
    /// Also revoke the invite the peer joined with, so the link stops working.
    #[serde(default)]
    pub revoke: bool,
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
    /// A chat message to everyone.
    Chat(Text),
    /// A question for the Q&A.
    Ask(Text),
    /// Upvote a question, or withdraw the vote.
    Vote(Vote),
    /// Facilitator: mark a question answered, dismissed or open again.
    MarkQuestion(MarkQuestion),
    /// Raise the sender's hand.
    RaiseHand,
    /// Lower a hand.
    LowerHand(LowerHand),
    /// Bring someone on stage or take them off.
    SetStage(SetStage),
    /// Mute or unmute a stage member's microphone.
    Mute(Mute),
    /// Facilitator: remove someone from the session.
    Remove(Remove),
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
        "chat",
        "ask",
        "vote",
        "mark_question",
        "raise_hand",
        "lower_hand",
        "set_stage",
        "mute",
        "remove",
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
            ClientMsg::Chat(_) => "chat",
            ClientMsg::Ask(_) => "ask",
            ClientMsg::Vote(_) => "vote",
            ClientMsg::MarkQuestion(_) => "mark_question",
            ClientMsg::RaiseHand => "raise_hand",
            ClientMsg::LowerHand(_) => "lower_hand",
            ClientMsg::SetStage(_) => "set_stage",
            ClientMsg::Mute(_) => "mute",
            ClientMsg::Remove(_) => "remove",
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

/// A member of a live session, as everyone sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub peer: PeerId,
    pub name: String,
    pub role: Role,
    /// Their organisation, from the invite (e.g. "Trinidad and Tobago Police Service").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub affiliation: String,
    /// Their hand is raised.
    #[serde(default)]
    pub hand: bool,
    /// They are on stage: they may publish camera and microphone, which everyone receives.
    #[serde(default)]
    pub stage: bool,
    /// Their microphone is muted (stage members).
    #[serde(default)]
    pub muted: bool,
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Increasing within the session.
    pub id: u64,
    pub peer: PeerId,
    pub name: String,
    pub text: String,
    /// When it was sent: milliseconds since the UNIX epoch.
    pub at_ms: u64,
}

/// A question of the Q&A, as everyone sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: QuestionId,
    pub peer: PeerId,
    pub name: String,
    pub text: String,
    pub votes: u32,
    pub state: QuestionState,
    /// When it was asked: milliseconds since the UNIX epoch.
    pub at_ms: u64,
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
    /// The latest chat messages (at most [`crate::CHAT_HISTORY`]), oldest first.
    #[serde(default)]
    pub chat: Vec<ChatMessage>,
    /// Every question of the session, in the order asked.
    #[serde(default)]
    pub questions: Vec<Question>,
    /// The questions this person has voted for.
    #[serde(default)]
    pub voted: Vec<QuestionId>,
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
pub struct ParticipantUpdated {
    pub participant: Participant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionFrame {
    pub question: Question,
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
    Joined(Box<Joined>),
    Answer(Answer),
    Offer(ServerOffer),
    Candidate(Candidate),
    TrackPublished(TrackPublished),
    TrackUnpublished(TrackUnpublished),
    ParticipantJoined(ParticipantJoined),
    ParticipantLeft(ParticipantLeft),
    /// A member's hand, stage or mute changed.
    ParticipantUpdated(ParticipantUpdated),
    /// A chat message.
    Chat(ChatMessage),
    /// A question was asked, or its votes or state changed.
    Question(QuestionFrame),
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
