//! The control plane of one live session, as a pure state machine.
//!
//! A [`Room`] knows who is in the session, in which [`Role`], which tracks are published, and
//! the session's lifecycle (`waiting` → `live` ⇄ `paused` → `ended`). It does no I/O and reads
//! no clock: the driver passes `now` into every call and drains [`Notice`]s with
//! [`Room::poll_notice`]. Media (peer connections, forwarding) is the `sfu` crate's business;
//! it asks the room for decisions (may this peer publish? which track id does this source get?).
//!
//! Tracks belong to an *owner* (the person, not the connection), so a facilitator who reloads the
//! page gets the same track ids back and viewers keep their transceivers.
//!
//! The live discussion (chat, Q&A, hands) and the stage (participants brought on to publish
//! camera and microphone, muting, removal) are in [`classroom`](crate::classroom); every change
//! there is also a [`Notice::RecordEvent`] for the recording's timeline and the session's log.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use lectern_proto::{
    ChatMessage, EndReason, ErrorCode, Participant, PeerId, ProtocolError, Question, QuestionId,
    RecordingFrame, RecordingId, RecordingState, Role, ServerMsg, SessionInfo, SessionState,
    SessionStateFrame, Source, TrackId, TrackInfo,
};

mod classroom;

use classroom::Bucket;
pub use classroom::{RateLimit, ACTION_LIMIT, MAX_QUESTIONS, TEXT_LIMIT};

/// Who owns published tracks across reconnections.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The session's facilitator, whichever connection they use.
    Facilitator,
    /// One connection of a participant (participants do not republish across reloads yet).
    Peer(PeerId),
}

/// Something the driver must act on.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// Send a frame to one peer.
    Send { to: PeerId, msg: ServerMsg },
    /// Send a frame to every member except `except`.
    Broadcast {
        except: Option<PeerId>,
        msg: ServerMsg,
    },
    /// A new track exists: create viewer legs for it.
    TrackAdded { track: TrackId },
    /// A track's publisher is gone for now: keep the legs, expect a new source later.
    TrackPaused { track: TrackId },
    /// A track is back, now fed by `publisher`.
    TrackResumed { track: TrackId },
    /// A track is gone for good: remove its viewer legs.
    TrackRemoved { track: TrackId },
    /// Close this peer's connection with this error.
    Disconnect { peer: PeerId, error: ProtocolError },
    /// The session is over; every member has been sent `session_ended`.
    Ended { reason: EndReason },
    /// Set up a recorder; answer with [`Room::recorder_started`] or [`Room::recorder_failed`].
    StartRecorder,
    /// Stop and finalize the recorder.
    StopRecorder,
    /// A timed event (now) for the recording's timeline and the session's log: `kind` and its
    /// JSON `data` (a few hundred bytes at most).
    RecordEvent { kind: &'static str, data: String },
    /// This peer left the stage: close its publish connection (its tracks are already removed
    /// by [`Notice::TrackRemoved`]s). It publishes on a new connection if brought back.
    ClosePublish { peer: PeerId },
    /// Stop (`muted`) or resume forwarding and recording this peer's microphone.
    Mute { peer: PeerId, muted: bool },
    /// The facilitator removed someone with `revoke`: revoke the invite they joined with.
    RevokeInvite { invite: String },
}

#[derive(Clone, Debug)]
struct Member {
    name: String,
    role: Role,
    affiliation: String,
    person: String,
    invite: Option<String>,
    consented: bool,
    receives_media: bool,
    hand: bool,
    stage: bool,
    muted: bool,
}

impl Member {
    fn participant(&self, peer: PeerId) -> Participant {
        Participant {
            peer,
            name: self.name.clone(),
            role: self.role,
            affiliation: self.affiliation.clone(),
            hand: self.hand,
            stage: self.stage,
            muted: self.muted,
        }
    }
}

#[derive(Clone, Debug)]
struct Track {
    owner: Owner,
    source: Source,
    publisher: PeerId,
    paused: bool,
}

/// Who is joining, as the server established from their invite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// A role that joins live sessions (facilitator, participant or room display).
    pub role: Role,
    /// The display name: the invite's, or the one the client chose when the invite has none.
    pub name: Option<String>,
    /// The invitee's organisation (may be empty).
    pub affiliation: String,
    /// Who this is across reconnections: one vote per person, a removal keeps the person out.
    pub person: String,
    /// The invite used, revoked when the facilitator removes the person with `revoke`.
    pub invite: Option<String>,
    /// They accepted the current recording notice.
    pub consented: bool,
    /// They receive the session's media (false for a publish-only ingest such as WHIP).
    pub receives_media: bool,
}

impl Admission {
    /// A joiner in `role` known only by a name (tests, tools).
    pub fn new(role: Role, name: Option<String>) -> Self {
        Self {
            role,
            name,
            affiliation: String::new(),
            person: PeerId::random().to_string(),
            invite: None,
            consented: true,
            receives_media: true,
        }
    }
}

/// Settings of a room.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// How long a session stays `paused` without its facilitator before it ends.
    pub grace: Duration,
    /// Start recording as soon as the session first goes live.
    pub record_from_start: bool,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(120),
            record_from_start: false,
        }
    }
}

/// The control plane of one live session.
#[derive(Debug)]
pub struct Room {
    info: SessionInfo,
    config: RoomConfig,
    members: BTreeMap<PeerId, Member>,
    tracks: BTreeMap<TrackId, Track>,
    facilitator: Option<PeerId>,
    /// When a session without its facilitator ends.
    grace_deadline: Option<Instant>,
    /// The recording indicator everyone sees.
    recording: RecordingFrame,
    /// Whether the session has been live yet (for `record_from_start`).
    was_live: bool,
    notices: VecDeque<Notice>,
    /// The latest chat messages, oldest first (at most `CHAT_HISTORY`).
    chat: VecDeque<ChatMessage>,
    /// The id of the next chat message.
    next_chat: u64,
    /// Every question, in the order asked (at most [`MAX_QUESTIONS`]).
    questions: Vec<Question>,
    /// The questions each person voted for.
    votes: BTreeMap<String, BTreeSet<QuestionId>>,
    /// Persons the facilitator removed: they cannot join again.
    removed: BTreeSet<String>,
    /// Chat and questions, per person.
    text_limits: BTreeMap<String, Bucket>,
    /// Votes and hands, per person.
    action_limits: BTreeMap<String, Bucket>,
}

impl Room {
    /// A room for a session, in state `waiting`.
    pub fn new(mut info: SessionInfo, config: RoomConfig) -> Self {
        info.state = SessionState::Waiting;
        Self {
            info,
            config,
            members: BTreeMap::new(),
            tracks: BTreeMap::new(),
            facilitator: None,
            grace_deadline: None,
            recording: RecordingFrame::default(),
            was_live: false,
            notices: VecDeque::new(),
            chat: VecDeque::new(),
            next_chat: 1,
            questions: Vec::new(),
            votes: BTreeMap::new(),
            removed: BTreeSet::new(),
            text_limits: BTreeMap::new(),
            action_limits: BTreeMap::new(),
        }
    }

    /// The recording indicator.
    pub fn recording(&self) -> &RecordingFrame {
        &self.recording
    }

    /// The facilitator starts (`on`) or stops recording. Asking for the state the recording is
    /// already in changes nothing.
    pub fn request_recording(&mut self, peer: PeerId, on: bool) -> Result<(), ProtocolError> {
        match self.role_of(peer) {
            Some(Role::Facilitator) => {}
            Some(_) => {
                return Err(ProtocolError::new(
                    ErrorCode::Forbidden,
                    "only the facilitator may start or stop recording",
                ))
            }
            None => return Err(ProtocolError::new(ErrorCode::NotJoined, "join first")),
        }
        if self.is_ended() {
            return Err(ProtocolError::new(
                ErrorCode::SessionOver,
                "the session has ended",
            ));
        }
        if on {
            self.start_recording();
        } else {
            self.stop_recording();
        }
        Ok(())
    }

    fn start_recording(&mut self) {
        if matches!(
            self.recording.state,
            RecordingState::On | RecordingState::Starting
        ) {
            return;
        }
        self.set_recording(RecordingFrame {
            state: RecordingState::Starting,
            ..RecordingFrame::default()
        });
        self.notices.push_back(Notice::StartRecorder);
    }

    fn stop_recording(&mut self) {
        if !matches!(
            self.recording.state,
            RecordingState::On | RecordingState::Starting
        ) {
            return;
        }
        self.notices.push_back(Notice::StopRecorder);
        self.set_recording(RecordingFrame::default());
    }

    /// The facilitator marks the start of a chapter in the recording.
    pub fn add_chapter(&mut self, peer: PeerId, title: &str) -> Result<(), ProtocolError> {
        match self.role_of(peer) {
            Some(Role::Facilitator) => {}
            Some(_) => {
                return Err(ProtocolError::new(
                    ErrorCode::Forbidden,
                    "only the facilitator may add chapters",
                ))
            }
            None => return Err(ProtocolError::new(ErrorCode::NotJoined, "join first")),
        }
        if self.recording.state != RecordingState::On {
            return Err(ProtocolError::new(
                ErrorCode::NotRecording,
                "chapters mark a recording; start recording first",
            ));
        }
        let title: String = title.chars().filter(|c| !c.is_control()).collect();
        let title = title.trim();
        if title.is_empty() || title.chars().count() > lectern_proto::MAX_CHAPTER_CHARS {
            return Err(ProtocolError::new(
                ErrorCode::BadJson,
                format!(
                    "a chapter title has 1 to {} characters",
                    lectern_proto::MAX_CHAPTER_CHARS
                ),
            ));
        }
        self.notices.push_back(Notice::RecordEvent {
            kind: "chapter",
            data: serde_json::json!({ "title": title }).to_string(),
        });
        Ok(())
    }

    /// The recorder asked for by [`Notice::StartRecorder`] runs (ignored if the facilitator
    /// stopped it meanwhile: the driver gets a [`Notice::StopRecorder`] for it).
    pub fn recorder_started(&mut self, id: RecordingId, since_ms: u64) {
        if self.recording.state != RecordingState::Starting {
            self.notices.push_back(Notice::StopRecorder);
            return;
        }
        self.set_recording(RecordingFrame {
            state: RecordingState::On,
            recording: Some(id),
            since_ms: Some(since_ms),
            message: None,
        });
        // Participants who did not accept the recording notice may not be recorded.
        let unconsented: Vec<PeerId> = self
            .members
            .iter()
            .filter(|(_, m)| m.role == Role::Participant && !m.consented)
            .map(|(p, _)| *p)
            .collect();
        for peer in unconsented {
            self.leave(peer);
            self.notices.push_back(Notice::Disconnect {
                peer,
                error: consent_required(),
            });
        }
    }

    /// The recorder could not start, or stopped on an error (disk full, …): everyone sees that
    /// nothing is being recorded, the facilitator sees why.
    pub fn recorder_failed(&mut self, id: Option<RecordingId>, message: String) {
        if self.recording.state == RecordingState::Off && id.is_some() {
            // A recorder that was already stopped failed while finalizing: the facilitator
            // still needs to know.
            if let Some(f) = self.facilitator {
                self.notices.push_back(Notice::Send {
                    to: f,
                    msg: ServerMsg::error(
                        ErrorCode::RecordingFailed,
                        format!("the recording could not be completed: {message}"),
                    ),
                });
            }
            return;
        }
        self.set_recording(RecordingFrame {
            state: RecordingState::Failed,
            recording: id,
            since_ms: None,
            message: Some(message),
        });
    }

    fn set_recording(&mut self, frame: RecordingFrame) {
        self.recording = frame.clone();
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::Recording(frame),
        });
    }

    pub fn state(&self) -> SessionState {
        self.info.state
    }

    pub fn is_ended(&self) -> bool {
        self.info.state == SessionState::Ended
    }

    pub fn role_of(&self, peer: PeerId) -> Option<Role> {
        self.members.get(&peer).map(|m| m.role)
    }

    /// A member's display name.
    pub fn name_of(&self, peer: PeerId) -> Option<&str> {
        self.members.get(&peer).map(|m| m.name.as_str())
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The members other than `peer`, i.e. who should receive a track `peer` publishes.
    pub fn members(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.members.keys().copied()
    }

    /// Tracks that exist (paused or not).
    pub fn tracks(&self) -> impl Iterator<Item = (TrackId, Source, PeerId)> + '_ {
        self.tracks
            .iter()
            .map(|(id, t)| (*id, t.source, t.publisher))
    }

    pub fn track_publisher(&self, track: TrackId) -> Option<PeerId> {
        self.tracks.get(&track).map(|t| t.publisher)
    }

    /// Next instant at which [`Room::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.grace_deadline
    }

    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// A peer whose key has been checked joins as `admission` says. Refused (a
    /// [`Notice::Disconnect`]) when the session has ended, the role does not join live sessions,
    /// the person was removed, or a participant without consent joins while recording.
    pub fn join(&mut self, now: Instant, peer: PeerId, admission: Admission) {
        let _ = now;
        let refusal = if self.is_ended() {
            Some(ProtocolError::new(
                ErrorCode::SessionOver,
                "the session has ended",
            ))
        } else if !admission.role.joins_live() {
            Some(ProtocolError::new(
                ErrorCode::Forbidden,
                format!("a {} does not join live sessions", admission.role),
            ))
        } else if self.removed.contains(&admission.person) {
            Some(removed_error())
        } else if admission.role == Role::Participant
            && !admission.consented
            && matches!(
                self.recording.state,
                RecordingState::On | RecordingState::Starting
            )
        {
            Some(consent_required())
        } else {
            None
        };
        if let Some(error) = refusal {
            self.notices.push_back(Notice::Disconnect { peer, error });
            return;
        }
        let role = admission.role;
        let name = clean_name(admission.name, role);
        if role == Role::Facilitator {
            if let Some(old) = self.facilitator.take() {
                // The same facilitator from a new tab or after a reload whose old socket is still
                // half-open: the newest connection wins.
                self.leave(old);
                // Its tracks are paused until the new connection publishes them again.
                if self.info.state == SessionState::Live {
                    self.set_state(SessionState::Paused);
                }
                self.notices.push_back(Notice::Disconnect {
                    peer: old,
                    error: ProtocolError::new(
                        ErrorCode::Replaced,
                        "the facilitator joined from another connection",
                    ),
                });
            }
            self.facilitator = Some(peer);
            self.grace_deadline = None;
        }
        let affiliation: String = admission
            .affiliation
            .chars()
            .filter(|c| !c.is_control())
            .take(lectern_proto::MAX_NAME_CHARS)
            .collect();
        let member = Member {
            name,
            role,
            affiliation: affiliation.trim().to_string(),
            person: admission.person,
            invite: admission.invite,
            consented: admission.consented,
            receives_media: admission.receives_media,
            hand: false,
            stage: false,
            muted: false,
        };
        let participant = member.participant(peer);
        let voted = self
            .votes
            .get(&member.person)
            .map(|v| {
                // In the order asked, like `questions`.
                self.questions
                    .iter()
                    .map(|q| q.id)
                    .filter(|id| v.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        self.members.insert(peer, member);
        self.notices.push_back(Notice::Send {
            to: peer,
            msg: ServerMsg::Joined(Box::new(lectern_proto::Joined {
                protocol: lectern_proto::PROTOCOL_VERSION,
                peer,
                role,
                session: self.info.clone(),
                participants: self.participants(),
                tracks: self.track_infos(),
                recording: self.recording.clone(),
                chat: self.chat.iter().cloned().collect(),
                questions: self.questions.clone(),
                voted,
            })),
        });
        self.record_event(
            "join",
            serde_json::json!({
                "peer": peer,
                "name": participant.name,
                "role": role,
                "affiliation": participant.affiliation,
            }),
        );
        self.notices.push_back(Notice::Broadcast {
            except: Some(peer),
            msg: ServerMsg::ParticipantJoined(lectern_proto::ParticipantJoined { participant }),
        });
    }

    /// A peer is gone (left, or its socket dropped). Its tracks pause if it is the facilitator,
    /// otherwise they are removed.
    pub fn leave_at(&mut self, now: Instant, peer: PeerId) {
        let was_facilitator = self.facilitator == Some(peer);
        if !self.leave(peer) {
            return;
        }
        if was_facilitator && !self.is_ended() {
            self.facilitator = None;
            self.grace_deadline = Some(now + self.config.grace);
            if self.info.state == SessionState::Live {
                self.set_state(SessionState::Paused);
            }
        }
    }

    /// Removes a member and their tracks; returns whether they were a member.
    fn leave(&mut self, peer: PeerId) -> bool {
        let Some(member) = self.members.remove(&peer) else {
            return false;
        };
        self.record_event(
            "leave",
            serde_json::json!({ "peer": peer, "name": member.name, "role": member.role }),
        );
        let owned: Vec<TrackId> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.publisher == peer && !t.paused)
            .map(|(id, _)| *id)
            .collect();
        for id in owned {
            let keep = matches!(self.tracks[&id].owner, Owner::Facilitator);
            if keep {
                if let Some(t) = self.tracks.get_mut(&id) {
                    t.paused = true;
                }
                self.notices.push_back(Notice::TrackPaused { track: id });
            } else {
                self.remove_track(id);
            }
        }
        self.notices.push_back(Notice::Broadcast {
            except: Some(peer),
            msg: ServerMsg::ParticipantLeft(lectern_proto::ParticipantLeft { peer }),
        });
        true
    }

    /// May `peer` publish at all? The facilitator may, and participants on stage.
    pub fn check_publish(&self, peer: PeerId) -> Result<(), ProtocolError> {
        match self.members.get(&peer) {
            Some(m) if m.role == Role::Facilitator || m.stage => Ok(()),
            Some(_) => Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "only the facilitator and participants on stage may publish",
            )),
            None => Err(ProtocolError::new(ErrorCode::NotJoined, "join first")),
        }
    }

    /// May `peer` publish `source`? Stage members publish camera and microphone only; the screen
    /// is the facilitator's.
    pub fn check_source(&self, peer: PeerId, source: Source) -> Result<(), ProtocolError> {
        self.check_publish(peer)?;
        if source == Source::Screen && self.role_of(peer) != Some(Role::Facilitator) {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "on stage, only camera and microphone may be published",
            ));
        }
        Ok(())
    }

    /// Whether `viewer` receives `track`: members who receive media get every track except
    /// their own (the facilitator's own tracks across its reconnections included).
    pub fn receives(&self, viewer: PeerId, track: TrackId) -> bool {
        let (Some(m), Some(t)) = (self.members.get(&viewer), self.tracks.get(&track)) else {
            return false;
        };
        m.receives_media && t.publisher != viewer && t.owner != self.owner_of(viewer)
    }

    /// Whether `peer`'s microphone is muted (a stage member muted by the facilitator or self).
    pub fn is_muted(&self, peer: PeerId) -> bool {
        self.members.get(&peer).is_some_and(|m| m.muted)
    }

    /// `peer` now sends media for `source`: returns the track id (an existing paused one of the
    /// same owner and source is resumed).
    pub fn publish(&mut self, peer: PeerId, source: Source) -> Result<TrackId, ProtocolError> {
        self.check_source(peer, source)?;
        let owner = self.owner_of(peer);
        if let Some((&id, t)) = self
            .tracks
            .iter_mut()
            .find(|(_, t)| t.owner == owner && t.source == source)
        {
            if t.publisher == peer && !t.paused {
                return Ok(id);
            }
            t.publisher = peer;
            t.paused = false;
            let info = track_info(id, t);
            self.notices.push_back(Notice::TrackResumed { track: id });
            self.notices.push_back(Notice::Broadcast {
                except: None,
                msg: ServerMsg::TrackPublished(lectern_proto::TrackPublished { track: info }),
            });
            self.refresh_live();
            return Ok(id);
        }
        let id = TrackId::random();
        let t = Track {
            owner,
            source,
            publisher: peer,
            paused: false,
        };
        let info = track_info(id, &t);
        self.tracks.insert(id, t);
        self.notices.push_back(Notice::TrackAdded { track: id });
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::TrackPublished(lectern_proto::TrackPublished { track: info }),
        });
        self.refresh_live();
        Ok(id)
    }

    /// `peer` no longer publishes `source`.
    pub fn unpublish(&mut self, peer: PeerId, source: Source) {
        let found = self
            .tracks
            .iter()
            .find(|(_, t)| t.publisher == peer && t.source == source)
            .map(|(id, _)| *id);
        if let Some(id) = found {
            self.remove_track(id);
        }
    }

    fn remove_track(&mut self, id: TrackId) {
        if self.tracks.remove(&id).is_some() {
            self.notices.push_back(Notice::TrackRemoved { track: id });
            self.notices.push_back(Notice::Broadcast {
                except: None,
                msg: ServerMsg::TrackUnpublished(lectern_proto::TrackUnpublished { track: id }),
            });
        }
    }

    /// The facilitator ends the session explicitly.
    pub fn end_by(&mut self, peer: PeerId) -> Result<(), ProtocolError> {
        match self.role_of(peer) {
            Some(Role::Facilitator) => {
                self.end(EndReason::EndedByFacilitator);
                Ok(())
            }
            Some(_) => Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "only the facilitator may end the session",
            )),
            None => Err(ProtocolError::new(ErrorCode::NotJoined, "join first")),
        }
    }

    /// Ends the session (idempotent).
    pub fn end(&mut self, reason: EndReason) {
        if self.is_ended() {
            return;
        }
        self.info.state = SessionState::Ended;
        self.grace_deadline = None;
        if matches!(
            self.recording.state,
            RecordingState::On | RecordingState::Starting
        ) {
            self.recording = RecordingFrame::default();
            self.notices.push_back(Notice::StopRecorder);
        }
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::SessionEnded(lectern_proto::SessionEnded { reason }),
        });
        let ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        for id in ids {
            self.tracks.remove(&id);
            self.notices.push_back(Notice::TrackRemoved { track: id });
        }
        self.notices.push_back(Notice::Ended { reason });
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.grace_deadline {
            if now >= deadline {
                self.grace_deadline = None;
                self.end(EndReason::FacilitatorGone);
            }
        }
    }

    fn owner_of(&self, peer: PeerId) -> Owner {
        if self.facilitator == Some(peer) {
            Owner::Facilitator
        } else {
            Owner::Peer(peer)
        }
    }

    /// `live` when the facilitator publishes at least one track.
    fn refresh_live(&mut self) {
        let publishing = self.tracks.values().any(|t| !t.paused);
        if publishing && self.info.state != SessionState::Live {
            self.set_state(SessionState::Live);
            if !self.was_live && self.config.record_from_start {
                self.start_recording();
            }
            self.was_live = true;
        }
    }

    fn set_state(&mut self, state: SessionState) {
        self.info.state = state;
        let grace_seconds = (state == SessionState::Paused).then_some(self.config.grace.as_secs());
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::SessionState(SessionStateFrame {
                state,
                grace_seconds,
            }),
        });
    }

    fn participants(&self) -> Vec<Participant> {
        self.members
            .iter()
            .map(|(peer, m)| m.participant(*peer))
            .collect()
    }

    /// Queues a timeline event.
    fn record_event(&mut self, kind: &'static str, data: serde_json::Value) {
        self.notices.push_back(Notice::RecordEvent {
            kind,
            data: data.to_string(),
        });
    }

    fn track_infos(&self) -> Vec<TrackInfo> {
        self.tracks
            .iter()
            .map(|(id, t)| track_info(*id, t))
            .collect()
    }
}

fn track_info(id: TrackId, t: &Track) -> TrackInfo {
    TrackInfo {
        id,
        kind: t.source.kind(),
        source: t.source,
        publisher: t.publisher,
        paused: t.paused,
    }
}

fn consent_required() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::ConsentRequired,
        "the session is being recorded: accept the recording notice to join",
    )
}

fn removed_error() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::Removed,
        "the facilitator removed you from this session",
    )
}

/// Trims a display name, drops control characters, caps its length; a default per role.
fn clean_name(name: Option<String>, role: Role) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(lectern_proto::MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        match role {
            Role::Facilitator => "Facilitator".to_string(),
            Role::RoomDisplay => "Room display".to_string(),
            _ => "Participant".to_string(),
        }
    } else {
        cleaned.to_string()
    }
}

#[cfg(test)]
mod tests;
