//! The live discussion and the stage with headless clients: chat, Q&A with votes, hands, a
//! participant brought on stage who publishes (and is muted, then taken off), removal, erasure,
//! consent to recording.

use std::time::Duration;

use lectern_e2e::TestServer;
use lectern_proto::{
    ChatMessage, ClientMsg, ErrorCode, LowerHand, MarkQuestion, Mute, Participant, PeerId,
    Question, QuestionId, QuestionState, Remove, Role, ServerMsg, SetStage, Source, Text, Vote,
};
use lectern_testkit::{LecternPublish, Publisher, PublisherOptions, Signal, ViewerOptions};

const WAIT: Duration = Duration::from_secs(5);

/// The next `error` frame's code, skipping other frames.
async fn next_error(s: &mut Signal) -> anyhow::Result<ErrorCode> {
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Error(e) => {
            assert!(!e.fatal, "{e:?}");
            Some(e.code)
        }
        _ => None,
    })
    .await
}

/// The connection still answers a ping (also: every frame sent before was handled).
async fn still_open(s: &mut Signal) -> anyhow::Result<()> {
    s.send(&ClientMsg::Ping(lectern_proto::Ping { id: Some(9) }))
        .await?;
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Pong(p) if p.id == Some(9) => Some(()),
        _ => None,
    })
    .await
}

async fn next_chat(s: &mut Signal) -> anyhow::Result<ChatMessage> {
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Chat(c) => Some(c.clone()),
        _ => None,
    })
    .await
}

/// The next `question` frame for which `f` holds.
async fn question_where(s: &mut Signal, f: impl Fn(&Question) -> bool) -> anyhow::Result<Question> {
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Question(q) if f(&q.question) => Some(q.question.clone()),
        _ => None,
    })
    .await
}

/// The next `participant_updated` about `peer` for which `f` holds.
async fn update_of(
    s: &mut Signal,
    peer: PeerId,
    f: impl Fn(&Participant) -> bool,
) -> anyhow::Result<Participant> {
    s.wait_for(WAIT, |m| match m {
        ServerMsg::ParticipantUpdated(u) if u.participant.peer == peer && f(&u.participant) => {
            Some(u.participant.clone())
        }
        _ => None,
    })
    .await
}

fn text(t: &str) -> Text {
    Text { text: t.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_questions_reach_everyone() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let (mut fac, _) = t.join(Role::Facilitator, "Dr. Joseph").await?;
    // Ana and Ben have invites of their own: each is one person however often they join.
    let ana_key = t.person(Role::Participant, "Ana");
    let (mut ana, _) = t.join_with(&ana_key).await?;
    let (mut ben, _) = t.join_with(&t.person(Role::Participant, "Ben")).await?;

    // Chat: cleaned, numbered, timestamped, seen by the others.
    ana.send(&ClientMsg::Chat(text("  Hello \u{7}everyone ")))
        .await?;
    let seen = next_chat(&mut ben).await?;
    assert_eq!(seen.text, "Hello everyone");
    assert_eq!(seen.name, "Ana");
    assert!(seen.id >= 1);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    assert!(seen.at_ms <= now_ms && seen.at_ms + 10_000 > now_ms);
    assert_eq!(next_chat(&mut fac).await?, seen);
    assert_eq!(next_chat(&mut ana).await?, seen, "the sender sees it too");

    // Bad input: an error, nothing else.
    ben.send(&ClientMsg::Chat(text(" \u{1} "))).await?;
    assert_eq!(next_error(&mut ben).await?, ErrorCode::Invalid);
    ben.send(&ClientMsg::Chat(text(&"x".repeat(501)))).await?;
    assert_eq!(next_error(&mut ben).await?, ErrorCode::Invalid);

    // Q&A: Ana asks, Ana and Ben vote, the facilitator marks it answered.
    ana.send(&ClientMsg::Ask(text("When is the exam?"))).await?;
    let q = question_where(&mut ben, |q| q.text == "When is the exam?").await?;
    assert_eq!(
        (q.votes, q.state, q.name.as_str()),
        (0, QuestionState::Open, "Ana")
    );
    for s in [&mut ana, &mut ben] {
        s.send(&ClientMsg::Vote(Vote {
            question: q.id,
            up: true,
        }))
        .await?;
    }
    let voted = question_where(&mut fac, |x| x.id == q.id && x.votes == 2).await?;
    assert_eq!(voted.state, QuestionState::Open);
    // Voting twice changes nothing.
    ben.send(&ClientMsg::Vote(Vote {
        question: q.id,
        up: true,
    }))
    .await?;
    still_open(&mut ben).await?;

    // Ana reloads: the history, the questions and her vote come back, and she cannot vote
    // again.
    ana.send(&ClientMsg::Leave).await?;
    let (mut ana, joined) = t.join_with(&ana_key).await?;
    assert!(joined.chat.iter().any(|c| c.text == "Hello everyone"));
    assert_eq!(joined.questions.len(), 1);
    assert_eq!(joined.questions[0].votes, 2);
    assert_eq!(joined.voted, vec![q.id]);
    ana.send(&ClientMsg::Vote(Vote {
        question: q.id,
        up: true,
    }))
    .await?;
    still_open(&mut ana).await?;

    // Only the facilitator marks; unknown questions are refused.
    ben.send(&ClientMsg::MarkQuestion(MarkQuestion {
        question: q.id,
        state: QuestionState::Answered,
    }))
    .await?;
    assert_eq!(next_error(&mut ben).await?, ErrorCode::Forbidden);
    ben.send(&ClientMsg::Vote(Vote {
        question: QuestionId::random(),
        up: true,
    }))
    .await?;
    assert_eq!(next_error(&mut ben).await?, ErrorCode::UnknownQuestion);
    fac.send(&ClientMsg::MarkQuestion(MarkQuestion {
        question: q.id,
        state: QuestionState::Answered,
    }))
    .await?;
    for s in [&mut ana, &mut ben] {
        let answered = question_where(s, |x| x.id == q.id).await?;
        assert_eq!(answered.state, QuestionState::Answered);
        assert_eq!(answered.votes, 2, "the reload did not vote twice");
    }
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_rate_limited() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let (mut ana, _) = t.join(Role::Participant, "Ana").await?;
    let (mut ben, _) = t.join(Role::Participant, "Ben").await?;
    for i in 0..8 {
        ana.send(&ClientMsg::Chat(text(&format!("message {i}"))))
            .await?;
    }
    still_open(&mut ana).await?;
    // A burst of 5, then one a second: 5 or 6 got through, the rest were refused.
    let mut got = Vec::new();
    while let Ok(m) = ben.recv(Duration::from_millis(500)).await {
        if let ServerMsg::Chat(c) = m {
            got.push(c.text);
        }
    }
    assert!((5..=6).contains(&got.len()), "{got:?}");
    assert_eq!(
        got[..5],
        [
            "message 0",
            "message 1",
            "message 2",
            "message 3",
            "message 4"
        ]
    );
    // Ben is not limited by Ana's messages.
    ben.send(&ClientMsg::Chat(text("mine"))).await?;
    assert_eq!(next_chat(&mut ben).await?.text, "mine");
    // After a pause Ana may talk again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ana.send(&ClientMsg::Chat(text("later"))).await?;
    assert_eq!(next_chat(&mut ben).await?.text, "later");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_on_stage_publishes_is_muted_and_taken_off() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let (mut fac, _) = t.join(Role::Facilitator, "Dr. Joseph").await?;
    let viewer = t
        .viewer(ViewerOptions {
            name: "Watcher".into(),
            ..ViewerOptions::default()
        })
        .await?;

    // Not on stage: publishing is refused.
    let refused = Publisher::start(
        &t.ws_url(),
        t.session.id,
        &t.key(Role::Participant),
        PublisherOptions::default(),
    )
    .await;
    let e = format!(
        "{:#}",
        refused
            .err()
            .expect("a participant off stage may not publish")
    );
    assert!(e.contains("forbidden"), "{e}");

    // Hand up, brought on stage (the hand goes down), publishes.
    let (mut sam, joined) = t.join(Role::Participant, "Sam").await?;
    let sam_id = joined.peer;
    sam.send(&ClientMsg::RaiseHand).await?;
    update_of(&mut fac, sam_id, |p| p.hand).await?;
    // A participant cannot bring anyone on stage.
    sam.send(&ClientMsg::SetStage(SetStage {
        peer: sam_id,
        on: true,
    }))
    .await?;
    assert_eq!(next_error(&mut sam).await?, ErrorCode::Forbidden);
    fac.send(&ClientMsg::SetStage(SetStage {
        peer: sam_id,
        on: true,
    }))
    .await?;
    let on = update_of(&mut sam, sam_id, |p| p.stage).await?;
    assert!(!on.hand, "coming on stage lowers the hand");
    let publisher =
        Publisher::start_with(LecternPublish::over(sam), PublisherOptions::default()).await?;
    let cam = publisher.track(Source::Camera).expect("camera");
    let mic = publisher.track(Source::Microphone).expect("microphone");

    // Another participant receives it, from a keyframe, every packet what was sent.
    viewer
        .wait_for_packets(cam, 60, Duration::from_secs(15))
        .await?;
    viewer
        .wait_for_packets(mic, 30, Duration::from_secs(15))
        .await?;
    let sent = publisher.sent();
    let video: Vec<_> = viewer
        .received()
        .into_iter()
        .filter(|p| p.track == cam)
        .collect();
    let first = video.iter().min_by_key(|p| p.index).expect("video");
    assert!(first.keyframe, "the viewer starts at a keyframe");
    let by_index: std::collections::HashMap<u64, _> = sent
        .iter()
        .filter(|s| s.video)
        .map(|s| (s.index, s))
        .collect();
    let seq_off = first.seq.wrapping_sub(by_index[&first.index].seq);
    for p in &video {
        let s = by_index
            .get(&p.index)
            .unwrap_or_else(|| panic!("received a frame never sent: {p:?}"));
        assert_eq!(p.seq.wrapping_sub(s.seq), seq_off, "one constant offset");
    }

    // Muted by the facilitator: the microphone stops reaching the viewer, the camera goes on.
    fac.send(&ClientMsg::Mute(Mute {
        peer: sam_id,
        muted: true,
    }))
    .await?;
    update_of(&mut fac, sam_id, |p| p.muted).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mic0, cam0) = (viewer.count(mic), viewer.count(cam));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        viewer.count(mic),
        mic0,
        "a muted microphone is not forwarded"
    );
    assert!(viewer.count(cam) > cam0 + 10, "the camera still flows");
    fac.send(&ClientMsg::Mute(Mute {
        peer: sam_id,
        muted: false,
    }))
    .await?;
    viewer
        .wait_for_packets(mic, mic0 + 20, Duration::from_secs(5))
        .await?;

    // Off stage: the tracks go away for everyone and nothing more arrives.
    fac.send(&ClientMsg::SetStage(SetStage {
        peer: sam_id,
        on: false,
    }))
    .await?;
    let mut gone = Vec::new();
    while gone.len() < 2 {
        let t = fac
            .wait_for(WAIT, |m| match m {
                ServerMsg::TrackUnpublished(u) => Some(u.track),
                _ => None,
            })
            .await?;
        gone.push(t);
    }
    gone.sort();
    let mut expected = vec![cam, mic];
    expected.sort();
    assert_eq!(gone, expected);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mic1, cam1) = (viewer.count(mic), viewer.count(cam));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!((viewer.count(mic), viewer.count(cam)), (mic1, cam1));
    // Off stage, the facilitator's lower_hand of a stranger is refused cleanly.
    fac.send(&ClientMsg::LowerHand(LowerHand {
        peer: Some(PeerId::random()),
    }))
    .await?;
    assert_eq!(next_error(&mut fac).await?, ErrorCode::UnknownPeer);

    let _ = publisher.stop().await;
    viewer.stop().await?;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_closes_4403_and_keeps_the_person_out() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let (mut fac, fac_joined) = t.join(Role::Facilitator, "Dr. Joseph").await?;
    let (mut ana, _) = t.join(Role::Participant, "Ana").await?;
    let eve_key = t.person(Role::Participant, "Eve");
    let (mut eve, eve_joined) = t.join_with(&eve_key).await?;

    // Only the facilitator removes, never the facilitator, and only who is here.
    ana.send(&ClientMsg::Remove(Remove {
        peer: eve_joined.peer,
        revoke: false,
    }))
    .await?;
    assert_eq!(next_error(&mut ana).await?, ErrorCode::Forbidden);
    fac.send(&ClientMsg::Remove(Remove {
        peer: fac_joined.peer,
        revoke: false,
    }))
    .await?;
    assert_eq!(next_error(&mut fac).await?, ErrorCode::Forbidden);
    fac.send(&ClientMsg::Remove(Remove {
        peer: PeerId::random(),
        revoke: false,
    }))
    .await?;
    assert_eq!(next_error(&mut fac).await?, ErrorCode::UnknownPeer);

    fac.send(&ClientMsg::Remove(Remove {
        peer: eve_joined.peer,
        revoke: false,
    }))
    .await?;
    loop {
        match eve.recv_or_close(WAIT).await? {
            Ok(ServerMsg::Error(e)) => {
                assert_eq!(e.code, ErrorCode::Removed);
                assert!(e.fatal);
            }
            Ok(_) => continue,
            Err(code) => {
                assert_eq!(code, Some(4403));
                break;
            }
        }
    }
    let left = ana
        .wait_for(WAIT, |m| match m {
            ServerMsg::ParticipantLeft(l) => Some(l.peer),
            _ => None,
        })
        .await?;
    assert_eq!(left, eve_joined.peer);

    // The same person cannot come back (her invite still works elsewhere: it was not revoked).
    let again = t.join_with(&eve_key).await;
    let e = format!(
        "{:#}",
        again.err().expect("a removed person may not rejoin")
    );
    assert!(e.contains("removed"), "{e}");
    still_open(&mut ana).await?;

    // Removed with `revoke`: the invite stops working everywhere, and the log says who did it.
    let zed_key = t.person(Role::Participant, "Zed");
    let (mut zed, zed_joined) = t.join_with(&zed_key).await?;
    fac.send(&ClientMsg::Remove(Remove {
        peer: zed_joined.peer,
        revoke: true,
    }))
    .await?;
    loop {
        if let Err(code) = zed.recv_or_close(WAIT).await? {
            assert_eq!(code, Some(4403));
            break;
        }
    }
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let me = lectern_testkit::http::request(
            &t.server.http_addr.to_string(),
            "GET",
            "/api/me",
            &[("Authorization", &format!("Bearer {zed_key}"))],
        )
        .await?;
        if me.status == 401 {
            assert_eq!(me.json()?["error"], "key_revoked");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the invite is still valid"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = t.server.with_store(|s| s.audit_log(&Default::default()))?;
    assert!(
        log.iter()
            .any(|e| e.action == "invite.revoke" && e.actor == "facilitator"),
        "{log:?}"
    );
    // Every change was kept as a session event.
    let events = t
        .server
        .with_store(|s| s.session_events(t.session.id, 0, i64::MAX))?;
    for kind in ["join", "removed", "leave"] {
        assert!(
            events.iter().any(|e| e.kind == kind),
            "no {kind} in {events:?}"
        );
    }
    t.stop().await;
    Ok(())
}

/// A stage speaker is recorded (a viewer never is); an admin erases the speaker's contributions
/// from the recording, and only theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_speaker_is_recorded_and_can_be_erased() -> anyhow::Result<()> {
    let t = TestServer::start_with(|a| a.record_all = true).await?;
    let (mut fac, _) = t.join(Role::Facilitator, "Dr. Joseph").await?;
    let _viewer = t
        .viewer(ViewerOptions {
            name: "Only watching".into(),
            ..ViewerOptions::default()
        })
        .await?;
    // Two speakers on stage: Sam, whose contributions will be erased, and Lee.
    let mut speakers = Vec::new();
    let mut sam_key = String::new();
    for name in ["Sam", "Lee"] {
        let key = t.person(Role::Participant, name);
        let (mut s, joined) = t.join_with(&key).await?;
        fac.send(&ClientMsg::SetStage(SetStage {
            peer: joined.peer,
            on: true,
        }))
        .await?;
        update_of(&mut s, joined.peer, |p| p.stage).await?;
        speakers.push(
            Publisher::start_with(LecternPublish::over(s), PublisherOptions::default()).await?,
        );
        if name == "Sam" {
            sam_key = key;
        }
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    let admin = t.key(Role::Admin);
    let addr = t.server.http_addr.to_string();
    let bearer = format!("Bearer {admin}");
    let recording = t
        .server
        .with_store(|s| s.library())?
        .first()
        .map(|e| e.recording.id)
        .expect("a recording");
    let sam_invite = {
        let me = lectern_testkit::http::request(
            &addr,
            "GET",
            "/api/me",
            &[("Authorization", &format!("Bearer {sam_key}"))],
        )
        .await?
        .json()?;
        me["invite"].as_str().unwrap_or_default().to_string()
    };
    let erase = |body: String| {
        let (addr, bearer) = (addr.clone(), bearer.clone());
        async move {
            lectern_testkit::http::request_with_body(
                &addr,
                "POST",
                &format!("/api/admin/recordings/{recording}/erase"),
                &[("Authorization", &bearer)],
                "application/json",
                body.as_bytes(),
            )
            .await
        }
    };
    // Not while it is being written.
    let r = erase(serde_json::json!({ "invite": sam_invite }).to_string()).await?;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));

    // Stop: the speakers' camera files; none for the viewer.
    fac.send(&ClientMsg::StopRecording).await?;
    for s in speakers {
        s.stop().await?;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let files = loop {
        let rec = t
            .server
            .with_store(|s| s.recording(recording))?
            .expect("recording");
        if rec.state.playable() {
            break t.server.with_store(|s| s.files(recording))?;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not finished: {rec:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let names: Vec<&str> = files.iter().map(|f| f.publisher.as_str()).collect();
    assert!(
        names.contains(&"Sam") && names.contains(&"Lee"),
        "the speakers are recorded: {names:?}"
    );
    assert!(
        !names.contains(&"Only watching"),
        "a viewer is never recorded"
    );
    let rec_dir = t.server.recordings_dir().join(
        t.server
            .with_store(|s| s.recording(recording))?
            .expect("rec")
            .dir,
    );
    let sams: Vec<_> = files
        .iter()
        .filter(|f| f.publisher == "Sam")
        .cloned()
        .collect();
    for f in &sams {
        assert!(rec_dir.join(&f.file_name).is_file());
    }

    // Bad requests change nothing.
    for (body, status) in [
        ("{}".to_string(), 400),
        ("not json".to_string(), 400),
        (serde_json::json!({ "invite": "nobody" }).to_string(), 404),
    ] {
        let r = erase(body.clone()).await?;
        assert_eq!(r.status, status, "{body}");
    }
    assert_eq!(
        t.server.with_store(|s| s.files(recording))?.len(),
        files.len()
    );

    let r = erase(serde_json::json!({ "invite": sam_invite }).to_string()).await?;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let erased = r.json()?;
    assert_eq!(erased["files"], sams.len());
    let left = t.server.with_store(|s| s.files(recording))?;
    assert!(left.iter().all(|f| f.publisher != "Sam"), "{left:?}");
    assert_eq!(
        left.len(),
        files.len() - sams.len(),
        "the facilitator's files stay"
    );
    for f in &sams {
        assert!(
            !rec_dir.join(&f.file_name).exists(),
            "{} still on disk",
            f.file_name
        );
    }
    for f in &left {
        assert!(rec_dir.join(&f.file_name).is_file());
    }
    let manifest = std::fs::read_to_string(rec_dir.join("manifest.json"))?;
    assert!(
        !manifest.contains("\"Sam\""),
        "the manifest still names Sam"
    );
    let log = t.server.with_store(|s| s.audit_log(&Default::default()))?;
    assert!(log.iter().any(|e| e.action == "recording.erase"));
    t.stop().await;
    Ok(())
}

/// Joins with `key` without accepting the recording notice.
async fn join_declining(t: &TestServer, key: &str) -> anyhow::Result<Signal> {
    let mut s = Signal::connect(&t.ws_url()).await?;
    s.send(&ClientMsg::Join(lectern_proto::Join {
        version: lectern_proto::PROTOCOL_VERSION,
        session: t.session.id,
        key: key.to_string(),
        name: Some("Declined".into()),
        role: None,
        consent: None,
    }))
    .await?;
    Ok(s)
}

/// Declining the recording notice: watching is fine while nothing is recorded; recording
/// starting disconnects (4451); joining while recording is refused (4451); accepting gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_the_notice_keeps_a_participant_out_while_recording() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let (mut fac, _) = t.join(Role::Facilitator, "Dr. Joseph").await?;
    let key = t.person(Role::Participant, "Dee");
    let mut dee = join_declining(&t, &key).await?;
    match dee.recv_or_close(WAIT).await? {
        Ok(ServerMsg::Joined(j)) => assert_eq!(j.role, Role::Participant),
        other => panic!("not recording: declining still joins, got {other:?}"),
    }
    let (mut ana, _) = t.join(Role::Participant, "Ana").await?;

    fac.send(&ClientMsg::StartRecording).await?;
    let closed = loop {
        match dee.recv_or_close(Duration::from_secs(10)).await? {
            Ok(ServerMsg::Error(e)) => {
                assert_eq!(e.code, ErrorCode::ConsentRequired);
                assert!(e.fatal);
            }
            Ok(_) => continue,
            Err(code) => break code,
        }
    };
    assert_eq!(
        closed,
        Some(4451),
        "recording starting disconnects who declined"
    );
    // Who accepted stays, and sees the recording on.
    ana.wait_for(Duration::from_secs(10), |m| match m {
        ServerMsg::Recording(r) if r.state == lectern_proto::RecordingState::On => Some(()),
        _ => None,
    })
    .await?;
    still_open(&mut ana).await?;

    // While recording, declining is refused at the door; accepting gets in and is logged.
    let mut again = join_declining(&t, &key).await?;
    match again.recv_or_close(WAIT).await? {
        Ok(ServerMsg::Error(e)) => assert_eq!(e.code, ErrorCode::ConsentRequired),
        other => panic!("expected consent_required, got {other:?}"),
    }
    assert_eq!(again.recv_or_close(WAIT).await?.err(), Some(Some(4451)));
    let (_dee, joined) = t.join_with(&key).await?;
    assert_eq!(joined.recording.state, lectern_proto::RecordingState::On);
    let consents = t.server.with_store(|s| s.consents(Some(t.session.id)))?;
    assert!(
        consents
            .iter()
            .any(|c| c.name == "Dee" && c.notice == lectern_proto::NOTICE_VERSION),
        "{consents:?}"
    );
    t.stop().await;
    Ok(())
}
