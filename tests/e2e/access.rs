//! Who may do what: the authorization matrix (role × action, plus forged, expired, revoked,
//! missing keys and another course's key) over signalling, the replay API, media files, the
//! admin API; invites and rosters from the admin API and the command line; the consent and audit
//! logs.

use std::collections::BTreeMap;
use std::time::Duration;

use lectern_e2e::TestServer;
use lectern_proto::{
    ClientMsg, ErrorCode, Join, Role, ServerMsg, NOTICE_VERSION, PROTOCOL_VERSION,
};
use lectern_testkit::{http, PublisherOptions, Signal};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Admin,
    Facilitator,
    Participant,
    ReplayViewer,
    RoomDisplay,
    /// A participant of another course.
    Stranger,
    Forged,
    Expired,
    Revoked,
    Nobody,
}

const EVERYONE: [Who; 10] = [
    Who::Admin,
    Who::Facilitator,
    Who::Participant,
    Who::ReplayViewer,
    Who::RoomDisplay,
    Who::Stranger,
    Who::Forged,
    Who::Expired,
    Who::Revoked,
    Who::Nobody,
];

struct Keys(BTreeMap<Who, String>);

impl Keys {
    async fn make(t: &TestServer) -> anyhow::Result<Keys> {
        let mut k = BTreeMap::new();
        k.insert(Who::Admin, t.key(Role::Admin));
        k.insert(Who::Facilitator, t.invite(Role::Facilitator, "Fay", |_| {}));
        k.insert(Who::Participant, t.invite(Role::Participant, "Pat", |_| {}));
        k.insert(
            Who::ReplayViewer,
            t.invite(Role::ReplayViewer, "Rae", |_| {}),
        );
        k.insert(
            Who::RoomDisplay,
            t.invite(Role::RoomDisplay, "Room", |_| {}),
        );
        let other = t.server.create_session("Another course", "Elsewhere")?;
        k.insert(Who::Stranger, other.participant_key.clone());
        // A genuine key with its last character changed.
        let good = t.invite(Role::Participant, "Forger", |_| {});
        let mut forged = good.clone();
        let last = forged.pop().unwrap_or('A');
        forged.push(if last == 'A' { 'B' } else { 'A' });
        k.insert(Who::Forged, forged);
        k.insert(
            Who::Expired,
            t.invite(Role::Participant, "Late", |n| {
                n.expires_at_ms = lectern_store::now_ms() + 1200;
            }),
        );
        let revoked = t.invite(Role::Participant, "Gone", |_| {});
        k.insert(Who::Revoked, revoked);
        k.insert(Who::Nobody, String::new());
        // The revocation goes through the admin API.
        let id = invite_id(t, &k[&Who::Revoked]).await?;
        let (code, _) = call(
            t,
            "POST",
            &format!("/api/admin/invites/{id}/revoke"),
            &k[&Who::Admin],
            None,
        )
        .await?;
        assert_eq!(code, 200);
        tokio::time::sleep(Duration::from_millis(1300)).await;
        Ok(Keys(k))
    }

    fn get(&self, w: Who) -> &str {
        &self.0[&w]
    }
}

/// The invite id a key names (through `/api/me`, before it is revoked).
async fn invite_id(t: &TestServer, key: &str) -> anyhow::Result<String> {
    let (code, me) = call(t, "GET", "/api/me", key, None).await?;
    assert_eq!(code, 200, "{me}");
    Ok(me["invite"].as_str().unwrap_or_default().to_string())
}

/// An HTTP call with `Authorization: Bearer key` (none when empty): status and JSON body.
async fn call(
    t: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<(&str, &str)>,
) -> anyhow::Result<(u16, Value)> {
    let r = raw(t, method, path, key, body).await?;
    Ok((r.status, r.json().unwrap_or(Value::Null)))
}

async fn raw(
    t: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<(&str, &str)>,
) -> anyhow::Result<http::Response> {
    let bearer = format!("Bearer {key}");
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if !key.is_empty() {
        headers.push(("Authorization", &bearer));
    }
    let addr = t.server.http_addr.to_string();
    match body {
        Some((ctype, text)) => {
            http::request_with_body(&addr, method, path, &headers, ctype, text.as_bytes()).await
        }
        None => http::request(&addr, method, path, &headers).await,
    }
}

/// Joins the live session with `key`: `Ok(role)` when admitted, `Err(code)` when refused.
async fn join(t: &TestServer, key: &str) -> anyhow::Result<Result<Role, ErrorCode>> {
    join_session(t, t.session.id, key).await
}

async fn join_session(
    t: &TestServer,
    session: lectern_proto::SessionId,
    key: &str,
) -> anyhow::Result<Result<Role, ErrorCode>> {
    let mut s = Signal::connect(&t.ws_url()).await?;
    s.send(&ClientMsg::Join(Join {
        version: PROTOCOL_VERSION,
        session,
        key: key.to_string(),
        name: Some("Tester".into()),
        role: None,
        consent: Some(NOTICE_VERSION.into()),
    }))
    .await?;
    // `joined` (or the refusal) is the first frame, even when this join replaces the
    // facilitator's other connection.
    let out = match s.recv_or_close(WAIT).await? {
        Ok(ServerMsg::Joined(j)) => Ok(j.role),
        Ok(ServerMsg::Error(e)) => Err(e.code),
        other => panic!("unexpected first answer to join: {other:?}"),
    };
    s.send(&ClientMsg::Leave).await.ok();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() -> anyhow::Result<()> {
    let t = TestServer::start_with(|a| a.record_all = true).await?;
    // A short recording of the session to replay.
    let publisher = t.publisher(PublisherOptions::default()).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (mut fac, _) = Signal::join(
        &t.ws_url(),
        t.session.id,
        &t.session.facilitator_key,
        "Facilitator",
    )
    .await?;
    fac.send(&ClientMsg::StopRecording).await?;
    publisher.stop().await?;
    let admin_key = t.key(Role::Admin);
    let recording = wait_for_recording(&t, &admin_key).await?;
    let keys = Keys::make(&t).await?;

    // Live: the three live roles join in their role; everyone else is refused with the reason.
    use ErrorCode::*;
    for who in EVERYONE {
        let got = join(&t, keys.get(who)).await?;
        let want = match who {
            Who::Facilitator => Ok(Role::Facilitator),
            Who::Participant => Ok(Role::Participant),
            Who::RoomDisplay => Ok(Role::RoomDisplay),
            Who::Expired => Err(KeyExpired),
            Who::Revoked => Err(KeyRevoked),
            _ => Err(BadKey),
        };
        assert_eq!(got, want, "join as {who:?}");
    }

    // HTTP: status per role and endpoint.
    let manifest_path = format!("/api/recordings/{recording}");
    let export_path = format!("/api/recordings/{recording}/export?format=webm");
    let unauth = |who: Who| matches!(who, Who::Forged | Who::Expired | Who::Revoked | Who::Nobody);
    for who in EVERYONE {
        let key = keys.get(who);
        let replays = matches!(
            who,
            Who::Admin | Who::Facilitator | Who::Participant | Who::ReplayViewer
        );
        let expect = |ok: u16, refused: u16| {
            if unauth(who) {
                401
            } else if replays {
                ok
            } else {
                refused
            }
        };
        let (me, _) = call(&t, "GET", "/api/me", key, None).await?;
        assert_eq!(
            me,
            if unauth(who) { 401 } else { 200 },
            "/api/me as {who:?}"
        );
        let (lib, body) = call(&t, "GET", "/api/library", key, None).await?;
        let stranger_sees_nothing = who != Who::Stranger
            || body["courses"]
                .as_array()
                .is_some_and(|c| c.iter().all(|c| c["id"] != json!(t.session.course_id)));
        assert!(
            stranger_sees_nothing,
            "a stranger lists this course: {body}"
        );
        let lib_expect = if who == Who::Stranger {
            200
        } else {
            expect(200, 403)
        };
        assert_eq!(lib, lib_expect, "/api/library as {who:?}");
        let (m, _) = call(&t, "GET", &manifest_path, key, None).await?;
        let m_expect = if who == Who::Stranger {
            404
        } else {
            expect(200, 403)
        };
        assert_eq!(m, m_expect, "manifest as {who:?}");
        let (x, _) = call(&t, "POST", &export_path, key, None).await?;
        let x_expect = if who == Who::Stranger {
            404
        } else {
            expect(202, 403)
        };
        assert_eq!(x, x_expect, "export as {who:?}");
        let (a, _) = call(&t, "GET", "/api/admin/courses", key, None).await?;
        let a_expect = if unauth(who) {
            401
        } else if who == Who::Admin {
            200
        } else {
            403
        };
        assert_eq!(a, a_expect, "admin API as {who:?}");
        let (ai, _) = call(
            &t,
            "POST",
            "/api/admin/invites",
            key,
            Some((
                "application/json",
                &json!({"course": t.session.course_id, "role": "participant", "name": "X"})
                    .to_string(),
            )),
        )
        .await?;
        let ai_expect = if unauth(who) {
            401
        } else if who == Who::Admin {
            201
        } else {
            403
        };
        assert_eq!(ai, ai_expect, "minting an invite as {who:?}");
        if unauth(who) {
            let r = raw(&t, "GET", "/api/me", key, None).await?;
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"lectern\"")
            );
        }
    }

    // Media tickets: issued per person, useless once their invite is revoked.
    let pkey = keys.get(Who::Participant).to_string();
    let (_, manifest) = call(&t, "GET", &manifest_path, &pkey, None).await?;
    let url = manifest["files"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(url.contains("?ticket="), "{manifest}");
    assert_eq!(raw(&t, "GET", &url, "", None).await?.status, 200);
    let pid = invite_id(&t, &pkey).await?;
    let (code, _) = call(
        &t,
        "POST",
        &format!("/api/admin/invites/{pid}/revoke"),
        &admin_key,
        None,
    )
    .await?;
    assert_eq!(code, 200);
    assert_eq!(raw(&t, "GET", &url, "", None).await?.status, 401);
    assert_eq!(join(&t, &pkey).await?, Err(KeyRevoked));

    // The audit log has the joins, the replays and the revocations, and exports as CSV.
    let (code, log) = call(&t, "GET", "/api/admin/audit", &admin_key, None).await?;
    assert_eq!(code, 200);
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for a in ["join", "leave", "replay", "invite.revoke", "invite.create"] {
        assert!(actions.contains(&a), "no {a} in the audit log: {actions:?}");
    }
    let r = raw(
        &t,
        "GET",
        "/api/admin/audit?format=csv&action=join",
        &admin_key,
        None,
    )
    .await?;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/csv")));
    let text = String::from_utf8(r.body)?;
    assert!(text.starts_with("time_utc,at_ms,actor,actor_name,role,action,target,detail"));
    assert!(text.lines().skip(1).all(|l| l.contains(",join,")), "{text}");
    assert!(text.lines().count() >= 4, "{text}");
    // The consent log has the joins that accepted the notice.
    let (_, consents) = call(&t, "GET", "/api/admin/consents", &admin_key, None).await?;
    let names: Vec<&str> = consents["consents"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"Pat") && names.contains(&"Fay"),
        "{consents}"
    );
    t.stop().await;
    Ok(())
}

async fn wait_for_recording(t: &TestServer, key: &str) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, lib) = call(t, "GET", "/api/library", key, None).await?;
        let rec = &lib["courses"][0]["sessions"][0]["recordings"][0];
        if rec["playable"] == true {
            return Ok(rec["id"].as_str().unwrap_or_default().to_string());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "no recording: {lib}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_runs_courses_sessions_and_rosters() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let admin = t.key(Role::Admin);
    let json_body = |v: Value| v.to_string();

    // A course, its settings checked before anything is made.
    let (code, e) = call(
        &t,
        "POST",
        "/api/admin/courses",
        &admin,
        Some((
            "application/json",
            &json_body(json!({"title": "X", "language": "de"})),
        )),
    )
    .await?;
    assert_eq!((code, e["error"].as_str()), (400, Some("invalid")), "{e}");
    let (code, e) = call(
        &t,
        "POST",
        "/api/admin/courses",
        &admin,
        Some(("application/json", "{not json")),
    )
    .await?;
    assert_eq!((code, e["error"].as_str()), (400, Some("bad_json")), "{e}");
    let (code, e) = call(
        &t,
        "POST",
        "/api/admin/courses",
        &admin,
        Some((
            "application/json",
            &json_body(json!({"title": "X", "colour": "red"})),
        )),
    )
    .await?;
    assert_eq!(code, 400, "unknown fields are refused: {e}");
    let (_, before) = call(&t, "GET", "/api/admin/courses", &admin, None).await?;
    assert_eq!(
        before["courses"].as_array().map(Vec::len),
        Some(1),
        "nothing was made: {before}"
    );
    let (code, course) = call(&t, "POST", "/api/admin/courses", &admin, Some(("application/json", &json_body(json!({
        "title": "Countering trafficking", "language": "fr", "retention_days": 30, "record_by_default": true
    }))))).await?;
    assert_eq!(code, 201, "{course}");
    let cid = course["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(course["language"], "fr");
    assert_eq!(course["retention_days"], 30);
    let (code, course) = call(
        &t,
        "PATCH",
        &format!("/api/admin/courses/{cid}"),
        &admin,
        Some((
            "application/json",
            &json_body(json!({"retention_days": null})),
        )),
    )
    .await?;
    assert_eq!(code, 200);
    assert_eq!(
        course["retention_days"],
        Value::Null,
        "null keeps recordings"
    );
    let (code, _) = call(
        &t,
        "PATCH",
        "/api/admin/courses/nope",
        &admin,
        Some(("application/json", "{}")),
    )
    .await?;
    assert_eq!(code, 404);

    // Sessions: scheduled, listed, cancelled.
    let (code, e) = call(&t, "POST", &format!("/api/admin/courses/{cid}/sessions"), &admin, Some(("application/json", &json_body(json!({"title": "Day 1", "starts_at_ms": 2_000_000_000_000i64, "ends_at_ms": 1_000_000_000_000i64}))))).await?;
    assert_eq!(code, 400, "{e}");
    let (code, s) = call(&t, "POST", &format!("/api/admin/courses/{cid}/sessions"), &admin, Some(("application/json", &json_body(json!({"title": "Day 1", "starts_at_ms": 1_800_000_000_000i64, "ends_at_ms": 1_800_003_600_000i64}))))).await?;
    assert_eq!(code, 201, "{s}");
    assert_eq!(s["starts_at_ms"], 1_800_000_000_000i64);
    let sid = s["id"].as_str().unwrap_or_default().to_string();
    let (_, list) = call(
        &t,
        "GET",
        &format!("/api/admin/courses/{cid}/sessions"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1));

    // A roster: one bad line and nothing is made; then the links CSV.
    let bad = "name,affiliation,email,role\nAna,TTPS,ana@example.org,participant\nBo,Customs,bo@example.org,chief\n";
    let r = raw(
        &t,
        "POST",
        &format!("/api/admin/courses/{cid}/roster"),
        &admin,
        Some(("text/csv", bad)),
    )
    .await?;
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("line 3"),
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    let (_, inv) = call(
        &t,
        "GET",
        &format!("/api/admin/invites?course={cid}"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(
        inv["invites"].as_array().map(Vec::len),
        Some(0),
        "a bad roster made invites"
    );
    let roster = "Name,Affiliation,Email,Role\r\n\
                  Ana Pérez,Trinidad and Tobago Police Service,ana@example.org,participant\r\n\
                  \"O'Neil, Brian\",Jamaica Customs Agency,brian@example.org,facilitator\r\n\
                  Classroom,,,room_display\r\n";
    let r = raw(
        &t,
        "POST",
        &format!("/api/admin/courses/{cid}/roster?valid_days=5&max_uses=3"),
        &admin,
        Some(("text/csv", roster)),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let csv = String::from_utf8(r.body)?;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("name,affiliation,email,role,invite,expires_utc,link"));
    assert!(lines[2].starts_with("\"O'Neil, Brian\",Jamaica Customs Agency"));
    // Each personal link works for its person, with the roster's name and affiliation.
    let link = lines[1].rsplit(',').next().unwrap_or_default();
    let key = link.split_once("#k=").map(|(_, k)| k).unwrap_or_default();
    let (code, me) = call(&t, "GET", "/api/me", key, None).await?;
    assert_eq!(code, 200, "{me}");
    assert_eq!(me["name"], "Ana Pérez");
    assert_eq!(me["affiliation"], "Trinidad and Tobago Police Service");
    assert_eq!(me["role"], "participant");
    assert_eq!(me["course"]["id"], json!(cid));
    assert_eq!(me["sessions"][0]["id"], json!(sid));
    let (_, inv) = call(
        &t,
        "GET",
        &format!("/api/admin/invites?course={cid}"),
        &admin,
        None,
    )
    .await?;
    let invites = inv["invites"].as_array().cloned().unwrap_or_default();
    assert_eq!(invites.len(), 3);
    assert!(invites
        .iter()
        .all(|i| i["max_uses"] == 3 && i["origin"] == "roster"));

    // Cancelling a session: it can no longer be joined.
    let (code, s) = call(
        &t,
        "POST",
        &format!("/api/admin/sessions/{sid}/cancel"),
        &admin,
        None,
    )
    .await?;
    assert_eq!((code, s["ended"].as_bool()), (200, Some(true)));
    t.stop().await;
    Ok(())
}

/// What the server answers to `msg`: the error code, or `None` when it was accepted (the ping
/// sent after it comes back first).
async fn outcome(s: &mut Signal, msg: ClientMsg, n: u64) -> anyhow::Result<Option<ErrorCode>> {
    s.send(&msg).await?;
    s.send(&ClientMsg::Ping(lectern_proto::Ping { id: Some(n) }))
        .await?;
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Error(e) => Some(Some(e.code)),
        ServerMsg::Pong(p) if p.id == Some(n) => Some(None),
        _ => None,
    })
    .await
}

/// Signalling, frame by frame: what each live role may send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalling_matrix() -> anyhow::Result<()> {
    use lectern_proto::{LowerHand, MarkQuestion, PeerId, QuestionId, QuestionState, Remove, Text};
    let t = TestServer::start().await?;
    let (mut fac, _) = t.join(Role::Facilitator, "Fay").await?;
    let (mut par, _) = t.join(Role::Participant, "Pat").await?;
    let (mut dis, _) = t.join_with(&t.key(Role::RoomDisplay)).await?;
    let (_other, oj) = t.join(Role::Participant, "Other").await?;
    let text = |s: &str| Text { text: s.into() };
    let frames = |peer: PeerId| -> Vec<(&'static str, ClientMsg)> {
        vec![
            ("chat", ClientMsg::Chat(text("hello"))),
            ("ask", ClientMsg::Ask(text("why?"))),
            ("raise_hand", ClientMsg::RaiseHand),
            (
                "lower_hand (someone else's)",
                ClientMsg::LowerHand(LowerHand { peer: Some(peer) }),
            ),
            (
                "mark_question",
                ClientMsg::MarkQuestion(MarkQuestion {
                    question: QuestionId::random(),
                    state: QuestionState::Answered,
                }),
            ),
            (
                "remove",
                ClientMsg::Remove(Remove {
                    peer: PeerId::random(),
                    revoke: false,
                }),
            ),
            ("start_recording", ClientMsg::StartRecording),
            ("stop_recording", ClientMsg::StopRecording),
        ]
    };
    use ErrorCode::*;
    // (frame, facilitator, participant, room display); None = accepted.
    type Row = (
        &'static str,
        Option<ErrorCode>,
        Option<ErrorCode>,
        Option<ErrorCode>,
    );
    let expected: Vec<Row> = vec![
        ("chat", None, None, Some(Forbidden)),
        ("ask", None, None, Some(Forbidden)),
        ("raise_hand", Some(Forbidden), None, Some(Forbidden)),
        (
            "lower_hand (someone else's)",
            None,
            Some(Forbidden),
            Some(Forbidden),
        ),
        (
            "mark_question",
            Some(UnknownQuestion),
            Some(Forbidden),
            Some(Forbidden),
        ),
        (
            "remove",
            Some(UnknownPeer),
            Some(Forbidden),
            Some(Forbidden),
        ),
        ("start_recording", None, Some(Forbidden), Some(Forbidden)),
        ("stop_recording", None, Some(Forbidden), Some(Forbidden)),
    ];
    let mut n = 0;
    for (who, s) in [
        ("facilitator", &mut fac),
        ("participant", &mut par),
        ("room display", &mut dis),
    ] {
        for (name, msg) in frames(oj.peer) {
            n += 1;
            let got = outcome(s, msg, n).await?;
            let row = expected.iter().find(|r| r.0 == name).expect("a row");
            let want = match who {
                "facilitator" => row.1,
                "participant" => row.2,
                _ => row.3,
            };
            assert_eq!(got, want, "{name} from the {who}");
        }
    }
    t.stop().await;
    Ok(())
}
