//! The discussion and the stage: permissions per role, text rules, rate limits on a fake clock,
//! votes per person, hands, stage and publishing, mute, removal, consent, timeline events.

use super::*;
use lectern_proto::{QuestionState, CHAT_HISTORY};

fn person(role: Role, name: &str, person: &str) -> Admission {
    Admission {
        person: person.into(),
        invite: Some(format!("invite-{person}")),
        ..Admission::new(role, Some(name.into()))
    }
}

/// A room with a facilitator, two participants (persons "ana" and "ben") and a room display.
struct Class {
    r: Room,
    t0: Instant,
    f: PeerId,
    ana: PeerId,
    ben: PeerId,
    display: PeerId,
}

fn class() -> Class {
    let mut r = room();
    let t0 = Instant::now();
    let (f, ana, ben, display) = (
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
    );
    r.join(t0, f, person(Role::Facilitator, "Dr. Joseph", "joseph"));
    r.join(t0, ana, person(Role::Participant, "Ana", "ana"));
    r.join(t0, ben, person(Role::Participant, "Ben", "ben"));
    r.join(t0, display, person(Role::RoomDisplay, "Room 4", "room4"));
    drain(&mut r);
    Class {
        r,
        t0,
        f,
        ana,
        ben,
        display,
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, ProtocolError>) -> ErrorCode {
    r.expect_err("refused").code
}

fn events(n: &[Notice]) -> Vec<(&'static str, serde_json::Value)> {
    n.iter()
        .filter_map(|n| match n {
            Notice::RecordEvent { kind, data } => Some((
                *kind,
                serde_json::from_str(data).expect("event data is JSON"),
            )),
            _ => None,
        })
        .collect()
}

fn broadcasts(n: &[Notice]) -> Vec<ServerMsg> {
    n.iter()
        .filter_map(|n| match n {
            Notice::Broadcast { except: None, msg } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn questions_in(n: &[Notice]) -> Vec<Question> {
    broadcasts(n)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Question(q) => Some(q.question),
            _ => None,
        })
        .collect()
}

fn updates_in(n: &[Notice]) -> Vec<Participant> {
    broadcasts(n)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::ParticipantUpdated(u) => Some(u.participant),
            _ => None,
        })
        .collect()
}

fn joined_in(n: &[Notice], peer: PeerId) -> Option<lectern_proto::Joined> {
    n.iter().find_map(|n| match n {
        Notice::Send {
            to,
            msg: ServerMsg::Joined(j),
        } if *to == peer => Some((**j).clone()),
        _ => None,
    })
}

fn disconnected(n: &[Notice]) -> Vec<(PeerId, ErrorCode)> {
    n.iter()
        .filter_map(|n| match n {
            Notice::Disconnect { peer, error } => Some((*peer, error.code)),
            _ => None,
        })
        .collect()
}

#[test]
fn only_live_roles_join_and_the_list_carries_affiliation_hand_stage_mute() {
    let mut r = room();
    let t0 = Instant::now();
    for role in [Role::Admin, Role::ReplayViewer] {
        let p = PeerId::random();
        r.join(t0, p, Admission::new(role, None));
        assert_eq!(disconnected(&drain(&mut r)), [(p, ErrorCode::Forbidden)]);
        assert_eq!(r.member_count(), 0);
    }
    let d = PeerId::random();
    r.join(t0, d, Admission::new(Role::RoomDisplay, None));
    let a = PeerId::random();
    r.join(
        t0,
        a,
        Admission {
            affiliation: " Police Service \u{7}".into(),
            ..Admission::new(Role::Participant, Some("Ana".into()))
        },
    );
    let n = drain(&mut r);
    let j = joined_in(&n, a).unwrap();
    let me = j.participants.iter().find(|p| p.peer == a).unwrap();
    assert_eq!(me.affiliation, "Police Service");
    assert!(!me.hand && !me.stage && !me.muted);
    let display = j.participants.iter().find(|p| p.peer == d).unwrap();
    assert_eq!(
        (display.role, display.name.as_str()),
        (Role::RoomDisplay, "Room display")
    );
    let joins: Vec<_> = events(&n)
        .into_iter()
        .filter(|(k, _)| *k == "join")
        .collect();
    assert_eq!(joins.len(), 2);
    assert_eq!(joins[1].1["name"], "Ana");
    assert_eq!(joins[1].1["role"], "participant");
}

#[test]
fn chat_is_cleaned_numbered_kept_and_broadcast() {
    let mut c = class();
    c.r.chat(c.t0, 1_000, c.ana, "  Good \u{1b}morning\n ")
        .unwrap();
    let n = drain(&mut c.r);
    let b = broadcasts(&n);
    let [ServerMsg::Chat(m)] = b.as_slice() else {
        panic!("{n:?}")
    };
    assert_eq!(
        (m.id, m.peer, m.name.as_str(), m.text.as_str(), m.at_ms),
        (1, c.ana, "Ana", "Good morning", 1_000)
    );
    assert_eq!(events(&n)[0].0, "chat");
    assert_eq!(events(&n)[0].1["text"], "Good morning");
    assert_eq!(events(&n)[0].1["peer"], c.ana.to_string());
    c.r.chat(c.t0, 1_001, c.f, "Welcome").unwrap();
    let n = drain(&mut c.r);
    let b = broadcasts(&n);
    let [ServerMsg::Chat(m)] = b.as_slice() else {
        panic!("{n:?}")
    };
    assert_eq!(m.id, 2, "ids increase");

    // Refusals change nothing.
    assert_eq!(
        code(c.r.chat(c.t0, 0, c.display, "hi")),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(c.r.chat(c.t0, 0, PeerId::random(), "hi")),
        ErrorCode::NotJoined
    );
    assert_eq!(
        code(c.r.chat(c.t0, 0, c.ben, " \u{0} \t")),
        ErrorCode::Invalid
    );
    let long = "é".repeat(MAX_TEXT + 1);
    assert_eq!(code(c.r.chat(c.t0, 0, c.ben, &long)), ErrorCode::Invalid);
    assert!(drain(&mut c.r).is_empty());
    c.r.chat(c.t0, 0, c.ben, &"é".repeat(MAX_TEXT)).unwrap();
    let n = drain(&mut c.r);
    let Notice::RecordEvent { data, .. } = &n[0] else {
        panic!("{n:?}")
    };
    assert!(data.len() < 1_500, "events stay small: {}", data.len());

    // History: the latest CHAT_HISTORY, oldest first, for newcomers.
    let mut at = c.t0;
    for i in 0..CHAT_HISTORY + 5 {
        at += Duration::from_secs(1);
        c.r.chat(at, i as u64, c.ana, &format!("m{i}")).unwrap();
    }
    let late = PeerId::random();
    c.r.join(at, late, person(Role::Participant, "Late", "late"));
    let j = joined_in(&drain(&mut c.r), late).unwrap();
    assert_eq!(j.chat.len(), CHAT_HISTORY);
    assert_eq!(j.chat[0].text, "m5");
    assert_eq!(
        j.chat[CHAT_HISTORY - 1].text,
        format!("m{}", CHAT_HISTORY + 4)
    );
    assert!(j.chat.windows(2).all(|w| w[0].id < w[1].id));
}

const MAX_TEXT: usize = lectern_proto::MAX_TEXT_CHARS;

#[test]
fn chat_and_questions_are_rate_limited_per_person() {
    let mut c = class();
    let t = c.t0;
    for i in 0..5 {
        c.r.chat(t, 0, c.ana, &format!("m{i}")).unwrap();
    }
    assert_eq!(code(c.r.chat(t, 0, c.ana, "m5")), ErrorCode::RateLimited);
    // Questions share the budget.
    assert_eq!(code(c.r.ask(t, 0, c.ana, "q?")), ErrorCode::RateLimited);
    // Another person is not affected.
    c.r.chat(t, 0, c.ben, "mine").unwrap();
    // The same person on another connection (a reload) is.
    let ana2 = PeerId::random();
    c.r.join(t, ana2, person(Role::Participant, "Ana", "ana"));
    assert_eq!(code(c.r.chat(t, 0, ana2, "again")), ErrorCode::RateLimited);
    drain(&mut c.r);
    // One more a second.
    let t1 = t + Duration::from_millis(999);
    assert_eq!(code(c.r.chat(t1, 0, c.ana, "m6")), ErrorCode::RateLimited);
    assert!(drain(&mut c.r).is_empty(), "a refusal sends nothing");
    let t2 = t + Duration::from_secs(1);
    c.r.chat(t2, 0, c.ana, "m6").unwrap();
    assert_eq!(code(c.r.chat(t2, 0, c.ana, "m7")), ErrorCode::RateLimited);
    // A long pause refills the burst, not more.
    let t3 = t2 + Duration::from_secs(60);
    for i in 0..5 {
        c.r.ask(t3, 0, c.ana, &format!("q{i}")).unwrap();
    }
    assert_eq!(code(c.r.ask(t3, 0, c.ana, "q5")), ErrorCode::RateLimited);
}

#[test]
fn questions_votes_count_once_per_person_and_only_the_facilitator_marks() {
    let mut c = class();
    let t = c.t0;
    c.r.ask(t, 7, c.ana, " When is the exam? ").unwrap();
    let n = drain(&mut c.r);
    let [q] = questions_in(&n).try_into().unwrap();
    assert_eq!(
        (q.text.as_str(), q.votes, q.state, q.peer, q.at_ms),
        ("When is the exam?", 0, QuestionState::Open, c.ana, 7)
    );
    assert_eq!(events(&n)[0].0, "question");
    assert_eq!(events(&n)[0].1["text"], "When is the exam?");
    assert_eq!(
        code(c.r.ask(t, 0, c.display, "?")),
        ErrorCode::Forbidden,
        "a room display does not ask"
    );

    c.r.vote(t, c.ana, q.id, true).unwrap();
    c.r.vote(t, c.ben, q.id, true).unwrap();
    let votes: Vec<u32> = questions_in(&drain(&mut c.r))
        .iter()
        .map(|q| q.votes)
        .collect();
    assert_eq!(votes, [1, 2]);
    // Twice, or from Ben's second connection: nothing changes.
    c.r.vote(t, c.ben, q.id, true).unwrap();
    let ben2 = PeerId::random();
    c.r.join(t, ben2, person(Role::Participant, "Ben", "ben"));
    let j = joined_in(&drain(&mut c.r), ben2).unwrap();
    assert_eq!(j.voted, [q.id]);
    assert_eq!(j.questions.len(), 1);
    assert_eq!(j.questions[0].votes, 2);
    c.r.vote(t, ben2, q.id, true).unwrap();
    assert!(drain(&mut c.r).is_empty());
    // Withdrawn from the other connection.
    c.r.vote(t, ben2, q.id, false).unwrap();
    let n = drain(&mut c.r);
    assert_eq!(questions_in(&n)[0].votes, 1);
    assert_eq!(events(&n)[0].0, "vote");
    assert_eq!(events(&n)[0].1["up"], false);
    c.r.vote(t, c.ben, q.id, false).unwrap();
    assert!(
        drain(&mut c.r).is_empty(),
        "withdrawing twice is idempotent"
    );

    assert_eq!(
        code(c.r.vote(t, c.ana, QuestionId::random(), true)),
        ErrorCode::UnknownQuestion
    );
    assert_eq!(
        code(c.r.vote(t, c.display, q.id, true)),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(c.r.mark_question(c.ana, q.id, QuestionState::Answered)),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(c.r.mark_question(c.f, QuestionId::random(), QuestionState::Answered)),
        ErrorCode::UnknownQuestion
    );
    assert!(drain(&mut c.r).is_empty());
    c.r.mark_question(c.f, q.id, QuestionState::Answered)
        .unwrap();
    let n = drain(&mut c.r);
    let [marked] = questions_in(&n).try_into().unwrap();
    assert_eq!((marked.state, marked.votes), (QuestionState::Answered, 1));
    assert_eq!(events(&n)[0].0, "question_state");
    assert_eq!(events(&n)[0].1["state"], "answered");
    c.r.mark_question(c.f, q.id, QuestionState::Answered)
        .unwrap();
    assert!(drain(&mut c.r).is_empty());

    // Questions stay in the order asked.
    c.r.ask(t, 8, c.ben, "Second").unwrap();
    let late = PeerId::random();
    c.r.join(t, late, person(Role::Participant, "Late", "late"));
    let j = joined_in(&drain(&mut c.r), late).unwrap();
    let texts: Vec<_> = j.questions.iter().map(|q| q.text.as_str()).collect();
    assert_eq!(texts, ["When is the exam?", "Second"]);
    assert!(j.voted.is_empty());
}

#[test]
fn hands_are_raised_by_participants_and_lowered_by_themselves_or_the_facilitator() {
    let mut c = class();
    let t = c.t0;
    assert_eq!(code(c.r.raise_hand(t, c.f)), ErrorCode::Forbidden);
    assert_eq!(code(c.r.raise_hand(t, c.display)), ErrorCode::Forbidden);
    assert!(drain(&mut c.r).is_empty());
    c.r.raise_hand(t, c.ana).unwrap();
    let n = drain(&mut c.r);
    assert_eq!(updates_in(&n)[0].peer, c.ana);
    assert!(updates_in(&n)[0].hand);
    assert_eq!(events(&n)[0].0, "hand");
    assert_eq!(events(&n)[0].1["raised"], true);
    c.r.raise_hand(t, c.ana).unwrap();
    assert!(drain(&mut c.r).is_empty(), "already raised");

    assert_eq!(
        code(c.r.lower_hand(t, c.ben, Some(c.ana))),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(c.r.lower_hand(t, c.f, Some(PeerId::random()))),
        ErrorCode::UnknownPeer
    );
    assert_eq!(
        code(c.r.lower_hand(t, c.display, None)),
        ErrorCode::Forbidden
    );
    assert!(drain(&mut c.r).is_empty());
    c.r.lower_hand(t, c.f, Some(c.ana)).unwrap();
    let n = drain(&mut c.r);
    assert!(!updates_in(&n)[0].hand);
    assert_eq!(events(&n)[0].1["by"], c.f.to_string());
    c.r.raise_hand(t, c.ben).unwrap();
    c.r.lower_hand(t, c.ben, None).unwrap();
    let n = drain(&mut c.r);
    assert_eq!(
        updates_in(&n).iter().map(|p| p.hand).collect::<Vec<_>>(),
        [true, false]
    );
    // Raising and lowering over and over is limited.
    let mut refused = false;
    for _ in 0..20 {
        refused |= c.r.raise_hand(t, c.ben).is_err() || c.r.lower_hand(t, c.ben, None).is_err();
    }
    assert!(refused);
}

#[test]
fn stage_brings_participants_on_to_publish_camera_and_microphone() {
    let mut c = class();
    let t = c.t0;
    assert_eq!(
        code(c.r.check_publish(c.ana)),
        ErrorCode::Forbidden,
        "off stage"
    );
    c.r.raise_hand(t, c.ana).unwrap();
    drain(&mut c.r);
    // Only the facilitator, only participants, only who is here.
    assert_eq!(
        code(c.r.set_stage(c.ben, c.ana, true)),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(c.r.set_stage(c.ana, c.ana, true)),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(c.r.set_stage(c.f, c.display, true)),
        ErrorCode::Invalid
    );
    assert_eq!(code(c.r.set_stage(c.f, c.f, true)), ErrorCode::Invalid);
    assert_eq!(
        code(c.r.set_stage(c.f, PeerId::random(), true)),
        ErrorCode::UnknownPeer
    );
    assert!(drain(&mut c.r).is_empty());

    c.r.set_stage(c.f, c.ana, true).unwrap();
    let n = drain(&mut c.r);
    let [u] = updates_in(&n).try_into().unwrap();
    assert!(u.stage && !u.hand, "on stage, the hand goes down");
    assert_eq!(events(&n)[0].0, "stage");
    assert_eq!(events(&n)[0].1["on"], true);
    assert!(c.r.on_stage(c.ana));
    c.r.check_publish(c.ana).unwrap();
    assert_eq!(
        code(c.r.publish(c.ana, Source::Screen)),
        ErrorCode::Forbidden,
        "the screen is the facilitator's"
    );
    let cam = c.r.publish(c.ana, Source::Camera).unwrap();
    let mic = c.r.publish(c.ana, Source::Microphone).unwrap();
    assert!(drain(&mut c.r).contains(&Notice::TrackAdded { track: cam }));
    // Everyone receives it but Ana; the room display too.
    assert!(!c.r.receives(c.ana, cam));
    assert!(c.r.receives(c.f, cam));
    assert!(c.r.receives(c.ben, cam));
    assert!(c.r.receives(c.display, mic));

    // Another participant cannot take Ana off; Ana can.
    assert_eq!(
        code(c.r.set_stage(c.ben, c.ana, false)),
        ErrorCode::Forbidden
    );
    c.r.set_stage(c.ana, c.ana, false).unwrap();
    let n = drain(&mut c.r);
    assert!(n.contains(&Notice::TrackRemoved { track: cam }));
    assert!(n.contains(&Notice::TrackRemoved { track: mic }));
    let close = n
        .iter()
        .position(|x| *x == Notice::ClosePublish { peer: c.ana })
        .expect("the publish connection closes");
    let removed = n
        .iter()
        .position(|x| *x == Notice::TrackRemoved { track: cam })
        .unwrap();
    assert!(removed < close, "tracks go before the connection");
    assert!(!updates_in(&n)[0].stage);
    assert_eq!(code(c.r.check_publish(c.ana)), ErrorCode::Forbidden);
    assert_eq!(
        code(c.r.publish(c.ana, Source::Camera)),
        ErrorCode::Forbidden
    );
    c.r.set_stage(c.f, c.ana, false).unwrap();
    assert!(drain(&mut c.r).is_empty(), "already off");

    // Back on stage later: publishes again, as a new track.
    c.r.set_stage(c.f, c.ana, true).unwrap();
    let cam2 = c.r.publish(c.ana, Source::Camera).unwrap();
    assert_ne!(cam2, cam);
    // Leaving removes the tracks.
    drain(&mut c.r);
    c.r.leave_at(t, c.ana);
    let n = drain(&mut c.r);
    assert!(n.contains(&Notice::TrackRemoved { track: cam2 }));
    assert_eq!(events(&n)[0].0, "leave");
}

#[test]
fn mute_is_for_stage_members_by_the_facilitator_or_themselves() {
    let mut c = class();
    assert_eq!(
        code(c.r.mute(c.f, c.ana, true)),
        ErrorCode::Invalid,
        "not on stage"
    );
    assert_eq!(
        code(c.r.mute(c.ana, c.ana, true)),
        ErrorCode::Forbidden,
        "not on stage"
    );
    c.r.set_stage(c.f, c.ana, true).unwrap();
    drain(&mut c.r);
    assert_eq!(code(c.r.mute(c.ben, c.ana, true)), ErrorCode::Forbidden);
    assert_eq!(code(c.r.mute(c.display, c.ana, true)), ErrorCode::Forbidden);
    assert_eq!(
        code(c.r.mute(c.f, PeerId::random(), true)),
        ErrorCode::UnknownPeer
    );
    assert!(drain(&mut c.r).is_empty());

    c.r.mute(c.f, c.ana, true).unwrap();
    let n = drain(&mut c.r);
    assert!(n.contains(&Notice::Mute {
        peer: c.ana,
        muted: true
    }));
    assert!(updates_in(&n)[0].muted);
    assert_eq!(events(&n)[0].0, "mute");
    assert!(c.r.is_muted(c.ana));
    c.r.mute(c.f, c.ana, true).unwrap();
    assert!(drain(&mut c.r).is_empty());
    c.r.mute(c.ana, c.ana, false).unwrap();
    assert!(drain(&mut c.r).contains(&Notice::Mute {
        peer: c.ana,
        muted: false
    }));
    c.r.mute(c.ana, c.ana, true).unwrap();
    drain(&mut c.r);
    // Off stage, the mute is lifted (and the media plane told).
    c.r.set_stage(c.f, c.ana, false).unwrap();
    assert!(drain(&mut c.r).contains(&Notice::Mute {
        peer: c.ana,
        muted: false
    }));
    assert!(!c.r.is_muted(c.ana));
}

#[test]
fn removal_disconnects_the_person_keeps_them_out_and_may_revoke_the_invite() {
    let mut c = class();
    let t = c.t0;
    assert_eq!(code(c.r.remove(c.ben, c.ana, false)), ErrorCode::Forbidden);
    assert_eq!(code(c.r.remove(c.f, c.f, false)), ErrorCode::Forbidden);
    assert_eq!(
        code(c.r.remove(c.f, PeerId::random(), false)),
        ErrorCode::UnknownPeer
    );
    assert!(drain(&mut c.r).is_empty());
    // Ana has a second tab open.
    let ana2 = PeerId::random();
    c.r.join(t, ana2, person(Role::Participant, "Ana", "ana"));
    drain(&mut c.r);

    c.r.remove(c.f, c.ana, true).unwrap();
    let n = drain(&mut c.r);
    let gone = disconnected(&n);
    assert_eq!(gone.len(), 2, "{gone:?}");
    assert!(gone.contains(&(c.ana, ErrorCode::Removed)));
    assert!(gone.contains(&(ana2, ErrorCode::Removed)));
    assert!(n.contains(&Notice::RevokeInvite {
        invite: "invite-ana".into()
    }));
    assert_eq!(events(&n)[0].0, "removed");
    assert_eq!(events(&n)[0].1["revoke"], true);
    assert_eq!(ErrorCode::Removed.close_code(), Some(4403));
    assert_eq!(r_role(&c.r, c.ana), None);

    // The person cannot come back.
    let ana3 = PeerId::random();
    c.r.join(t, ana3, person(Role::Participant, "Ana", "ana"));
    assert_eq!(disconnected(&drain(&mut c.r)), [(ana3, ErrorCode::Removed)]);
    // Without `revoke`, or without an invite, nothing is revoked.
    c.r.remove(c.f, c.ben, false).unwrap();
    assert!(!drain(&mut c.r)
        .iter()
        .any(|n| matches!(n, Notice::RevokeInvite { .. })));
    let x = PeerId::random();
    c.r.join(t, x, Admission::new(Role::Participant, None));
    c.r.remove(c.f, x, true).unwrap();
    assert!(!drain(&mut c.r)
        .iter()
        .any(|n| matches!(n, Notice::RevokeInvite { .. })));
    // The room display may be removed too.
    c.r.remove(c.f, c.display, false).unwrap();
    assert_eq!(r_role(&c.r, c.display), None);
}

fn r_role(r: &Room, p: PeerId) -> Option<Role> {
    r.role_of(p)
}

#[test]
fn consent_is_needed_to_be_recorded() {
    let mut r = room();
    let t = Instant::now();
    let f = PeerId::random();
    r.join(t, f, Admission::new(Role::Facilitator, None));
    let without = |name: &str, role: Role| Admission {
        consented: false,
        ..Admission::new(role, Some(name.into()))
    };
    // Not recording: anyone joins.
    let early = PeerId::random();
    r.join(t, early, without("Early", Role::Participant));
    let consenting = PeerId::random();
    r.join(t, consenting, Admission::new(Role::Participant, None));
    let display = PeerId::random();
    r.join(t, display, without("Room", Role::RoomDisplay));
    assert!(disconnected(&drain(&mut r)).is_empty());

    r.request_recording(f, true).unwrap();
    // While starting: a participant without consent is refused.
    let p = PeerId::random();
    r.join(t, p, without("Late", Role::Participant));
    assert_eq!(
        disconnected(&drain(&mut r)),
        [(p, ErrorCode::ConsentRequired)]
    );
    // Once on, those already here without consent are disconnected; the room display and the
    // facilitator are not asked.
    r.recorder_started(RecordingId::random(), 1);
    let n = drain(&mut r);
    assert_eq!(disconnected(&n), [(early, ErrorCode::ConsentRequired)]);
    assert_eq!(ErrorCode::ConsentRequired.close_code(), Some(4451));
    assert!(r.role_of(consenting).is_some());
    assert!(r.role_of(display).is_some());
    let f2 = PeerId::random();
    r.join(t, f2, without("Dr. Joseph", Role::Facilitator));
    assert!(disconnected(&drain(&mut r)).iter().all(|(p, _)| *p != f2));
    let p = PeerId::random();
    r.join(t, p, without("Later", Role::Participant));
    assert_eq!(
        disconnected(&drain(&mut r)),
        [(p, ErrorCode::ConsentRequired)]
    );
    // Stopped: they may join again.
    r.request_recording(f2, false).unwrap();
    let p = PeerId::random();
    r.join(t, p, without("Later", Role::Participant));
    assert!(disconnected(&drain(&mut r)).is_empty());
}

#[test]
fn members_who_receive_no_media_get_no_tracks() {
    let mut r = room();
    let t = Instant::now();
    let (f, ingest, p) = (PeerId::random(), PeerId::random(), PeerId::random());
    r.join(t, f, Admission::new(Role::Facilitator, None));
    r.join(
        t,
        ingest,
        Admission {
            receives_media: false,
            ..Admission::new(Role::Participant, None)
        },
    );
    r.join(t, p, Admission::new(Role::Participant, None));
    let cam = r.publish(f, Source::Camera).unwrap();
    assert!(!r.receives(ingest, cam));
    assert!(r.receives(p, cam));
    assert!(!r.receives(f, cam), "not one's own");
    // The facilitator's own tracks, across a reconnection, are still its own.
    let f2 = PeerId::random();
    r.join(t, f2, Admission::new(Role::Facilitator, None));
    assert!(!r.receives(f2, cam));
}
