use super::*;

fn room() -> Room {
    room_with(RoomConfig {
        grace: Duration::from_secs(10),
        ..RoomConfig::default()
    })
}

fn room_with(config: RoomConfig) -> Room {
    Room::new(
        SessionInfo {
            id: lectern_proto::SessionId::random(),
            title: "Day 1".into(),
            course: "Border security".into(),
            state: SessionState::Waiting,
        },
        config,
    )
}

fn drain(r: &mut Room) -> Vec<Notice> {
    std::iter::from_fn(|| r.poll_notice()).collect()
}

fn states(notices: &[Notice]) -> Vec<SessionState> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Broadcast {
                msg: ServerMsg::SessionState(s),
                ..
            } => Some(s.state),
            _ => None,
        })
        .collect()
}

#[test]
fn join_sends_joined_and_announces() {
    let mut r = room();
    let now = Instant::now();
    let f = PeerId::random();
    let p = PeerId::random();
    r.join(
        now,
        f,
        Admission::new(Role::Facilitator, Some("  Dr. Joseph \u{7} ".into())),
    );
    r.join(now, p, Admission::new(Role::Participant, None));
    let n = drain(&mut r);
    let joined_p = n
        .iter()
        .find_map(|n| match n {
            Notice::Send {
                to,
                msg: ServerMsg::Joined(j),
            } if *to == p => Some(j.clone()),
            _ => None,
        })
        .expect("participant gets joined");
    assert_eq!(joined_p.role, Role::Participant);
    assert_eq!(joined_p.participants.len(), 2);
    let names: Vec<_> = joined_p
        .participants
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert!(names.contains(&"Dr. Joseph"), "{names:?}");
    assert!(names.contains(&"Participant"));
}

#[test]
fn only_facilitator_publishes_and_ends() {
    let mut r = room();
    let now = Instant::now();
    let f = PeerId::random();
    let p = PeerId::random();
    r.join(now, f, Admission::new(Role::Facilitator, None));
    r.join(now, p, Admission::new(Role::Participant, None));
    assert_eq!(
        r.publish(p, Source::Camera).unwrap_err().code,
        ErrorCode::Forbidden
    );
    assert_eq!(r.end_by(p).unwrap_err().code, ErrorCode::Forbidden);
    assert_eq!(
        r.publish(PeerId::random(), Source::Camera)
            .unwrap_err()
            .code,
        ErrorCode::NotJoined
    );
    drain(&mut r);
    let cam = r.publish(f, Source::Camera).unwrap();
    let n = drain(&mut r);
    assert!(n.contains(&Notice::TrackAdded { track: cam }));
    assert_eq!(states(&n), vec![SessionState::Live]);
    // Publishing the same source again is idempotent.
    assert_eq!(r.publish(f, Source::Camera).unwrap(), cam);
    assert!(drain(&mut r).is_empty());
    r.end_by(f).unwrap();
    let n = drain(&mut r);
    assert!(n.contains(&Notice::TrackRemoved { track: cam }));
    assert!(n.contains(&Notice::Ended {
        reason: EndReason::EndedByFacilitator
    }));
    assert!(r.is_ended());
}

#[test]
fn facilitator_reconnect_resumes_same_track_ids() {
    let mut r = room();
    let t0 = Instant::now();
    let f1 = PeerId::random();
    r.join(t0, f1, Admission::new(Role::Facilitator, None));
    let cam = r.publish(f1, Source::Camera).unwrap();
    let mic = r.publish(f1, Source::Microphone).unwrap();
    drain(&mut r);

    r.leave_at(t0, f1);
    let n = drain(&mut r);
    assert!(n.contains(&Notice::TrackPaused { track: cam }));
    assert!(n.contains(&Notice::TrackPaused { track: mic }));
    assert_eq!(states(&n), vec![SessionState::Paused]);
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(10)));

    let f2 = PeerId::random();
    r.join(
        t0 + Duration::from_secs(3),
        f2,
        Admission::new(Role::Facilitator, None),
    );
    assert_eq!(
        r.poll_timeout(),
        None,
        "grace stops when the facilitator is back"
    );
    assert_eq!(r.publish(f2, Source::Camera).unwrap(), cam);
    let n = drain(&mut r);
    assert!(n.contains(&Notice::TrackResumed { track: cam }));
    assert_eq!(states(&n), vec![SessionState::Live]);
    assert_eq!(r.track_publisher(cam), Some(f2));
}

#[test]
fn grace_expiry_ends_session() {
    let mut r = room();
    let t0 = Instant::now();
    let f = PeerId::random();
    let p = PeerId::random();
    r.join(t0, f, Admission::new(Role::Facilitator, None));
    r.join(t0, p, Admission::new(Role::Participant, None));
    r.publish(f, Source::Camera).unwrap();
    r.leave_at(t0, f);
    drain(&mut r);
    r.handle_timeout(t0 + Duration::from_secs(9));
    assert!(!r.is_ended());
    r.handle_timeout(t0 + Duration::from_secs(10));
    assert!(r.is_ended());
    let n = drain(&mut r);
    assert!(n.contains(&Notice::Ended {
        reason: EndReason::FacilitatorGone
    }));
    // Joining an ended session is refused.
    let late = PeerId::random();
    r.join(
        t0 + Duration::from_secs(11),
        late,
        Admission::new(Role::Participant, None),
    );
    match drain(&mut r).as_slice() {
        [Notice::Disconnect { peer, error }] => {
            assert_eq!(*peer, late);
            assert_eq!(error.code, ErrorCode::SessionOver);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn second_facilitator_connection_replaces_first() {
    let mut r = room();
    let now = Instant::now();
    let f1 = PeerId::random();
    let f2 = PeerId::random();
    r.join(now, f1, Admission::new(Role::Facilitator, None));
    let cam = r.publish(f1, Source::Camera).unwrap();
    drain(&mut r);
    r.join(now, f2, Admission::new(Role::Facilitator, None));
    let n = drain(&mut r);
    assert!(n.iter().any(|n| matches!(n,
        Notice::Disconnect { peer, error } if *peer == f1 && error.code == ErrorCode::Replaced)));
    assert!(n.contains(&Notice::TrackPaused { track: cam }));
    assert_eq!(states(&n), vec![SessionState::Paused]);
    assert_eq!(
        r.poll_timeout(),
        None,
        "the facilitator is present: no grace timer"
    );
    assert_eq!(r.role_of(f1), None);
    assert_eq!(r.publish(f2, Source::Camera).unwrap(), cam);
    assert_eq!(r.state(), SessionState::Live);
}

#[test]
fn unpublish_removes_track() {
    let mut r = room();
    let now = Instant::now();
    let f = PeerId::random();
    r.join(now, f, Admission::new(Role::Facilitator, None));
    let screen = r.publish(f, Source::Screen).unwrap();
    drain(&mut r);
    r.unpublish(f, Source::Screen);
    let n = drain(&mut r);
    assert!(n.contains(&Notice::TrackRemoved { track: screen }));
    assert_eq!(r.tracks().count(), 0);
}

fn recording_frames(notices: &[Notice]) -> Vec<RecordingState> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Broadcast {
                msg: ServerMsg::Recording(f),
                ..
            } => Some(f.state),
            _ => None,
        })
        .collect()
}

#[test]
fn facilitator_starts_and_stops_recording_everyone_sees_it() {
    let mut r = room();
    let now = Instant::now();
    let (f, p) = (PeerId::random(), PeerId::random());
    r.join(now, f, Admission::new(Role::Facilitator, None));
    r.join(now, p, Admission::new(Role::Participant, None));
    drain(&mut r);
    // A participant may not.
    assert_eq!(
        r.request_recording(p, true).unwrap_err().code,
        ErrorCode::Forbidden
    );
    assert!(
        drain(&mut r).is_empty(),
        "a refused request changes nothing"
    );
    assert_eq!(
        r.request_recording(PeerId::random(), true)
            .unwrap_err()
            .code,
        ErrorCode::NotJoined
    );

    r.request_recording(f, true).unwrap();
    let n = drain(&mut r);
    assert!(n.contains(&Notice::StartRecorder));
    assert_eq!(recording_frames(&n), [RecordingState::Starting]);
    // Asking twice changes nothing.
    r.request_recording(f, true).unwrap();
    assert!(drain(&mut r).is_empty());

    let id = RecordingId::random();
    r.recorder_started(id, 1234);
    let n = drain(&mut r);
    assert_eq!(recording_frames(&n), [RecordingState::On]);
    assert_eq!(r.recording().recording, Some(id));
    assert_eq!(r.recording().since_ms, Some(1234));

    // A late joiner learns it from `joined`.
    let late = PeerId::random();
    r.join(now, late, Admission::new(Role::Participant, None));
    let joined = drain(&mut r)
        .into_iter()
        .find_map(|n| match n {
            Notice::Send {
                msg: ServerMsg::Joined(j),
                ..
            } => Some(j),
            _ => None,
        })
        .unwrap();
    assert_eq!(joined.recording.state, RecordingState::On);

    r.request_recording(f, false).unwrap();
    let n = drain(&mut r);
    assert!(n.contains(&Notice::StopRecorder));
    assert_eq!(recording_frames(&n), [RecordingState::Off]);
}

#[test]
fn recorder_failure_is_broadcast_and_a_late_recorder_is_stopped() {
    let mut r = room();
    let now = Instant::now();
    let f = PeerId::random();
    r.join(now, f, Admission::new(Role::Facilitator, None));
    r.request_recording(f, true).unwrap();
    r.request_recording(f, false).unwrap();
    drain(&mut r);
    // The recorder comes up after the facilitator stopped it: it is stopped at once.
    r.recorder_started(RecordingId::random(), 1);
    assert_eq!(drain(&mut r), [Notice::StopRecorder]);
    assert_eq!(r.recording().state, RecordingState::Off);

    r.request_recording(f, true).unwrap();
    r.recorder_started(RecordingId::random(), 1);
    drain(&mut r);
    r.recorder_failed(None, "disk full".into());
    let n = drain(&mut r);
    assert_eq!(recording_frames(&n), [RecordingState::Failed]);
    assert_eq!(r.recording().message.as_deref(), Some("disk full"));
    // It can be started again after a failure.
    r.request_recording(f, true).unwrap();
    assert!(drain(&mut r).contains(&Notice::StartRecorder));
}

#[test]
fn record_from_start_and_end_stops_the_recorder() {
    let mut r = room_with(RoomConfig {
        record_from_start: true,
        ..RoomConfig::default()
    });
    let now = Instant::now();
    let f = PeerId::random();
    r.join(now, f, Admission::new(Role::Facilitator, None));
    assert!(!drain(&mut r).contains(&Notice::StartRecorder));
    r.publish(f, Source::Camera).unwrap();
    let n = drain(&mut r);
    assert!(n.contains(&Notice::StartRecorder), "{n:?}");
    r.recorder_started(RecordingId::random(), 5);
    drain(&mut r);
    r.end(EndReason::EndedByFacilitator);
    let n = drain(&mut r);
    let stop = n.iter().position(|n| *n == Notice::StopRecorder).unwrap();
    let ended = n
        .iter()
        .position(|n| matches!(n, Notice::Ended { .. }))
        .unwrap();
    assert!(stop < ended, "the recorder stops before the room ends");
}

#[test]
fn chapters_mark_a_running_recording_only() {
    let mut r = room();
    let now = Instant::now();
    let (f, p) = (PeerId::random(), PeerId::random());
    r.join(now, f, Admission::new(Role::Facilitator, None));
    r.join(now, p, Admission::new(Role::Participant, None));
    drain(&mut r);
    assert_eq!(
        r.add_chapter(f, "Intro").unwrap_err().code,
        ErrorCode::NotRecording
    );
    r.request_recording(f, true).unwrap();
    r.recorder_started(RecordingId::random(), 1);
    drain(&mut r);
    assert_eq!(
        r.add_chapter(p, "Intro").unwrap_err().code,
        ErrorCode::Forbidden
    );
    assert_eq!(
        r.add_chapter(f, " \u{7} ").unwrap_err().code,
        ErrorCode::BadJson
    );
    assert_eq!(
        r.add_chapter(f, &"x".repeat(201)).unwrap_err().code,
        ErrorCode::BadJson
    );
    assert!(drain(&mut r).is_empty(), "refusals change nothing");
    r.add_chapter(f, "  Border checks \u{7}").unwrap();
    assert_eq!(
        drain(&mut r),
        [Notice::RecordEvent {
            kind: "chapter",
            data: r#"{"title":"Border checks"}"#.into()
        }]
    );
}

mod classroom;
