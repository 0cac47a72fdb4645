//! The live discussion and the stage: chat, Q&A, hands, bringing participants on stage, muting
//! and removing people. Every rule of docs/protocol.md's "Discussion and stage" lives here.
//!
//! Who may do what:
//!
//! | action | facilitator | participant | room display |
//! |---|---|---|---|
//! | `chat`, `ask`, `vote` | yes | yes | no |
//! | `mark_question` | yes | no | no |
//! | `raise_hand` | no | yes | no |
//! | `lower_hand` | anyone's | own | no |
//! | `set_stage` on | a participant | no | no |
//! | `set_stage` off | anyone on stage | self | no |
//! | `mute` | anyone on stage | self, on stage | no |
//! | `remove` | anyone but the facilitator | no | no |
//!
//! A refused action returns the error and changes nothing (no notice is queued).

use std::time::{Duration, Instant};

use lectern_proto::{
    ChatMessage, ErrorCode, ParticipantUpdated, PeerId, ProtocolError, Question, QuestionFrame,
    QuestionId, QuestionState, Role, ServerMsg, CHAT_HISTORY, MAX_TEXT_CHARS,
};

use crate::{removed_error, Member, Notice, Room, TrackId};

/// The most questions a session holds; asking more gets `rate_limited`.
pub const MAX_QUESTIONS: usize = 500;

/// A token bucket: `burst` at once, then one every `every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub every: Duration,
}

/// Chat messages and questions, per person (together).
pub const TEXT_LIMIT: RateLimit = RateLimit {
    burst: 5,
    every: Duration::from_secs(1),
};

/// Votes and raising or lowering one's own hand, per person (together).
pub const ACTION_LIMIT: RateLimit = RateLimit {
    burst: 10,
    every: Duration::from_millis(500),
};

/// A person's budget under a [`RateLimit`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    /// Tokens left, as of `at`.
    tokens: u32,
    at: Instant,
}

impl Bucket {
    /// Takes a token if there is one.
    fn take(&mut self, now: Instant, limit: RateLimit) -> bool {
        let every = limit.every.max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(self.at);
        let earned = (elapsed.as_nanos() / every.as_nanos()).min(u128::from(limit.burst)) as u32;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(limit.burst);
            // Keep the remainder towards the next token (unless the bucket is full).
            self.at = if self.tokens == limit.burst {
                now
            } else {
                self.at + every * earned
            };
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

fn take(
    buckets: &mut std::collections::BTreeMap<String, Bucket>,
    person: &str,
    now: Instant,
    limit: RateLimit,
) -> Result<(), ProtocolError> {
    let bucket = buckets.entry(person.to_string()).or_insert(Bucket {
        tokens: limit.burst,
        at: now,
    });
    if bucket.take(now, limit) {
        Ok(())
    } else {
        Err(ProtocolError::new(
            ErrorCode::RateLimited,
            "too many messages; wait a moment",
        ))
    }
}

fn forbidden(what: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::Forbidden, what.to_string())
}

fn unknown_peer() -> ProtocolError {
    ProtocolError::new(ErrorCode::UnknownPeer, "no one with that peer id is here")
}

fn unknown_question() -> ProtocolError {
    ProtocolError::new(ErrorCode::UnknownQuestion, "no question with that id")
}

/// Drops control characters and trims; 1 to [`MAX_TEXT_CHARS`] characters must remain.
pub fn clean_text(text: &str) -> Result<String, ProtocolError> {
    let cleaned: String = text.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    let n = cleaned.chars().count();
    if n == 0 || n > MAX_TEXT_CHARS {
        return Err(ProtocolError::new(
            ErrorCode::Invalid,
            format!("a message has 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(cleaned.to_string())
}

impl Room {
    /// The sender of a frame, who must have joined.
    fn sender(&self, peer: PeerId) -> Result<&Member, ProtocolError> {
        self.members
            .get(&peer)
            .ok_or_else(|| ProtocolError::new(ErrorCode::NotJoined, "join first"))
    }

    /// Facilitators and participants talk; room displays only show.
    fn talker(&self, peer: PeerId) -> Result<&Member, ProtocolError> {
        let m = self.sender(peer)?;
        match m.role {
            Role::Facilitator | Role::Participant => Ok(m),
            _ => Err(forbidden("a room display only shows the session")),
        }
    }

    fn facilitator_only(&self, peer: PeerId, what: &str) -> Result<&Member, ProtocolError> {
        let m = self.sender(peer)?;
        if m.role != Role::Facilitator {
            return Err(forbidden(&format!("only the facilitator may {what}")));
        }
        Ok(m)
    }

    /// A chat message to everyone. `at_ms` is the wall clock (ms since the UNIX epoch).
    pub fn chat(
        &mut self,
        now: Instant,
        at_ms: u64,
        peer: PeerId,
        text: &str,
    ) -> Result<(), ProtocolError> {
        let m = self.talker(peer)?;
        let text = clean_text(text)?;
        let (name, person) = (m.name.clone(), m.person.clone());
        take(&mut self.text_limits, &person, now, TEXT_LIMIT)?;
        let msg = ChatMessage {
            id: self.next_chat,
            peer,
            name,
            text,
            at_ms,
        };
        self.next_chat += 1;
        if self.chat.len() == CHAT_HISTORY {
            self.chat.pop_front();
        }
        self.chat.push_back(msg.clone());
        self.record_event(
            "chat",
            serde_json::json!({ "id": msg.id, "peer": peer, "name": msg.name, "text": msg.text }),
        );
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::Chat(msg),
        });
        Ok(())
    }

    /// A question for the Q&A.
    pub fn ask(
        &mut self,
        now: Instant,
        at_ms: u64,
        peer: PeerId,
        text: &str,
    ) -> Result<(), ProtocolError> {
        let m = self.talker(peer)?;
        let text = clean_text(text)?;
        let (name, person) = (m.name.clone(), m.person.clone());
        if self.questions.len() >= MAX_QUESTIONS {
            return Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!("this session has its {MAX_QUESTIONS} questions"),
            ));
        }
        take(&mut self.text_limits, &person, now, TEXT_LIMIT)?;
        let q = Question {
            id: QuestionId::random(),
            peer,
            name,
            text,
            votes: 0,
            state: QuestionState::Open,
            at_ms,
        };
        self.questions.push(q.clone());
        self.record_event(
            "question",
            serde_json::json!({ "question": q.id, "peer": peer, "name": q.name, "text": q.text }),
        );
        self.broadcast_question(q);
        Ok(())
    }

    /// Adds (`up`) or withdraws the sender's vote: one per person, idempotent.
    pub fn vote(
        &mut self,
        now: Instant,
        peer: PeerId,
        question: QuestionId,
        up: bool,
    ) -> Result<(), ProtocolError> {
        let m = self.talker(peer)?;
        let (name, person) = (m.name.clone(), m.person.clone());
        let Some(i) = self.questions.iter().position(|q| q.id == question) else {
            return Err(unknown_question());
        };
        let has = self
            .votes
            .get(&person)
            .is_some_and(|v| v.contains(&question));
        if has == up {
            return Ok(());
        }
        take(&mut self.action_limits, &person, now, ACTION_LIMIT)?;
        let mine = self.votes.entry(person).or_default();
        let q = &mut self.questions[i];
        if up {
            mine.insert(question);
            q.votes += 1;
        } else {
            mine.remove(&question);
            q.votes = q.votes.saturating_sub(1);
        }
        let q = q.clone();
        self.record_event(
            "vote",
            serde_json::json!({
                "question": question, "peer": peer, "name": name, "up": up, "votes": q.votes,
            }),
        );
        self.broadcast_question(q);
        Ok(())
    }

    /// The facilitator marks a question answered, dismissed, or open again.
    pub fn mark_question(
        &mut self,
        peer: PeerId,
        question: QuestionId,
        state: QuestionState,
    ) -> Result<(), ProtocolError> {
        let name = self.facilitator_only(peer, "mark questions")?.name.clone();
        let Some(q) = self.questions.iter_mut().find(|q| q.id == question) else {
            return Err(unknown_question());
        };
        if q.state == state {
            return Ok(());
        }
        q.state = state;
        let q = q.clone();
        self.record_event(
            "question_state",
            serde_json::json!({ "question": question, "peer": peer, "name": name, "state": state }),
        );
        self.broadcast_question(q);
        Ok(())
    }

    fn broadcast_question(&mut self, question: Question) {
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::Question(QuestionFrame { question }),
        });
    }

    /// A participant raises their hand.
    pub fn raise_hand(&mut self, now: Instant, peer: PeerId) -> Result<(), ProtocolError> {
        let m = self.sender(peer)?;
        if m.role != Role::Participant {
            return Err(forbidden("only participants raise their hand"));
        }
        if m.hand {
            return Ok(());
        }
        let person = m.person.clone();
        take(&mut self.action_limits, &person, now, ACTION_LIMIT)?;
        self.set_hand(peer, peer, true);
        Ok(())
    }

    /// Lowers the sender's own hand (`target` absent or the sender), or, by the facilitator,
    /// anyone's.
    pub fn lower_hand(
        &mut self,
        now: Instant,
        peer: PeerId,
        target: Option<PeerId>,
    ) -> Result<(), ProtocolError> {
        let m = self.sender(peer)?;
        let target = target.unwrap_or(peer);
        match m.role {
            Role::Facilitator => {}
            Role::Participant if target == peer => {}
            Role::Participant => {
                return Err(forbidden("only the facilitator lowers another's hand"))
            }
            _ => return Err(forbidden("a room display has no hand")),
        }
        let own = m.role == Role::Participant;
        let person = m.person.clone();
        let t = self.members.get(&target).ok_or_else(unknown_peer)?;
        if !t.hand {
            return Ok(());
        }
        if own {
            take(&mut self.action_limits, &person, now, ACTION_LIMIT)?;
        }
        self.set_hand(target, peer, false);
        Ok(())
    }

    fn set_hand(&mut self, target: PeerId, by: PeerId, raised: bool) {
        let by_name = self.name_of(by).unwrap_or_default().to_string();
        let Some(m) = self.members.get_mut(&target) else {
            return;
        };
        m.hand = raised;
        let name = m.name.clone();
        self.record_event(
            "hand",
            serde_json::json!({
                "peer": target, "name": name, "raised": raised, "by": by, "by_name": by_name,
            }),
        );
        self.participant_updated(target);
    }

    /// Brings a participant on stage (`on`, facilitator only; their hand is lowered) or takes
    /// someone off (the facilitator, or the stage member themselves): their tracks are removed
    /// and their publish connection closed.
    pub fn set_stage(
        &mut self,
        peer: PeerId,
        target: PeerId,
        on: bool,
    ) -> Result<(), ProtocolError> {
        let m = self.sender(peer)?;
        let by_facilitator = m.role == Role::Facilitator;
        if on && !by_facilitator {
            return Err(forbidden("only the facilitator brings people on stage"));
        }
        let leaves_itself = target == peer && m.role == Role::Participant;
        if !on && !by_facilitator && !leaves_itself {
            return Err(forbidden("only the facilitator takes others off stage"));
        }
        let by_name = m.name.clone();
        let t = self.members.get(&target).ok_or_else(unknown_peer)?;
        if on && t.role != Role::Participant {
            return Err(ProtocolError::new(
                ErrorCode::Invalid,
                "only participants go on stage",
            ));
        }
        if t.stage == on {
            return Ok(());
        }
        let Some(t) = self.members.get_mut(&target) else {
            return Err(unknown_peer());
        };
        t.stage = on;
        let was_muted = t.muted;
        t.muted = false;
        if on {
            t.hand = false;
        }
        let name = t.name.clone();
        if !on {
            let owned: Vec<TrackId> = self
                .tracks
                .iter()
                .filter(|(_, tr)| tr.publisher == target)
                .map(|(id, _)| *id)
                .collect();
            for id in owned {
                self.remove_track(id);
            }
            self.notices
                .push_back(Notice::ClosePublish { peer: target });
            if was_muted {
                self.notices.push_back(Notice::Mute {
                    peer: target,
                    muted: false,
                });
            }
        }
        self.record_event(
            "stage",
            serde_json::json!({
                "peer": target, "name": name, "on": on, "by": peer, "by_name": by_name,
            }),
        );
        self.participant_updated(target);
        Ok(())
    }

    /// Mutes or unmutes a stage member's microphone: the facilitator anyone's on stage, a stage
    /// member their own. The media plane then drops (or forwards again) its packets.
    pub fn mute(&mut self, peer: PeerId, target: PeerId, muted: bool) -> Result<(), ProtocolError> {
        let m = self.sender(peer)?;
        let allowed = m.role == Role::Facilitator || (target == peer && m.stage);
        if !allowed {
            return Err(forbidden(
                "only the facilitator, or a stage member themselves, mutes a microphone",
            ));
        }
        let by_name = m.name.clone();
        let t = self.members.get_mut(&target).ok_or_else(unknown_peer)?;
        if !t.stage {
            return Err(ProtocolError::new(
                ErrorCode::Invalid,
                "only people on stage can be muted",
            ));
        }
        if t.muted == muted {
            return Ok(());
        }
        t.muted = muted;
        let name = t.name.clone();
        self.notices.push_back(Notice::Mute {
            peer: target,
            muted,
        });
        self.record_event(
            "mute",
            serde_json::json!({
                "peer": target, "name": name, "muted": muted, "by": peer, "by_name": by_name,
            }),
        );
        self.participant_updated(target);
        Ok(())
    }

    /// The facilitator removes someone (not the facilitator): every connection of that person
    /// is closed with `removed`, and the person cannot join again; with `revoke`, their invite
    /// is revoked too.
    pub fn remove(
        &mut self,
        peer: PeerId,
        target: PeerId,
        revoke: bool,
    ) -> Result<(), ProtocolError> {
        let by_name = self.facilitator_only(peer, "remove people")?.name.clone();
        let t = self.members.get(&target).ok_or_else(unknown_peer)?;
        if t.role == Role::Facilitator {
            return Err(forbidden("the facilitator cannot be removed"));
        }
        let (name, person, invite) = (t.name.clone(), t.person.clone(), t.invite.clone());
        self.record_event(
            "removed",
            serde_json::json!({
                "peer": target, "name": name, "by": peer, "by_name": by_name, "revoke": revoke,
            }),
        );
        let connections: Vec<PeerId> = self
            .members
            .iter()
            .filter(|(_, m)| m.person == person)
            .map(|(p, _)| *p)
            .collect();
        self.removed.insert(person);
        for p in connections {
            self.leave(p);
            self.notices.push_back(Notice::Disconnect {
                peer: p,
                error: removed_error(),
            });
        }
        if revoke {
            if let Some(invite) = invite {
                self.notices.push_back(Notice::RevokeInvite { invite });
            }
        }
        Ok(())
    }

    fn participant_updated(&mut self, peer: PeerId) {
        let Some(m) = self.members.get(&peer) else {
            return;
        };
        let participant = m.participant(peer);
        self.notices.push_back(Notice::Broadcast {
            except: None,
            msg: ServerMsg::ParticipantUpdated(ParticipantUpdated { participant }),
        });
    }

    /// Whether `peer` is on stage.
    pub fn on_stage(&self, peer: PeerId) -> bool {
        self.members.get(&peer).is_some_and(|m| m.stage)
    }

    /// The questions, in the order asked.
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }
}
