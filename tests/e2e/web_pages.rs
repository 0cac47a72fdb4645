//! The classroom from the links people are given, in headless Chromium against the real server:
//! a personal invite opens the course page, whose button joins the session with the invite's
//! name and the recording notice accepted; a raised hand brought on stage publishes camera and
//! microphone, seen by another participant and the room display until taken off; a removal with
//! revocation closes the page (4403) and keeps the link out; declining the recording notice is
//! asked again when recording starts; and the admin page runs a course from its forms.

use lectern_e2e::TestServer;
use lectern_proto::Role;
use lectern_testkit::browser::{Browser, Page};
use serde_json::{json, Value};

use crate::pages::{
    self, api, follow_session, open_course, person_action, video_plays, LONG, RECORD_CLOSE_CODES,
};

/// Text of an element by id.
async fn text_of(b: &mut Browser, p: &Page, id: &str) -> anyhow::Result<String> {
    Ok(b.eval(
        p,
        &format!("(document.getElementById({id:?}) || {{}}).textContent || ''"),
    )
    .await?
    .as_str()
    .unwrap_or_default()
    .to_string())
}

async fn no_missing_strings(b: &mut Browser, p: &Page, what: &str) -> anyhow::Result<()> {
    let missing = b
        .eval(p, "JSON.stringify(window.lecternI18n.missing)")
        .await?;
    assert_eq!(missing, json!("[]"), "{what}: missing strings");
    Ok(())
}

/// Mints a personal invite to the demo course through the admin API: its id and key.
async fn mint(
    t: &TestServer,
    admin: &str,
    role: &str,
    name: &str,
    affiliation: &str,
) -> anyhow::Result<(String, String, String)> {
    let (code, made) = api(
        t,
        "POST",
        "/api/admin/invites",
        admin,
        Some(&json!({
            "course": t.session.course_id,
            "role": role,
            "name": name,
            "affiliation": affiliation,
            "email": "someone@example.org",
        })),
    )
    .await?;
    assert_eq!(code, 201, "{made}");
    Ok((
        made["invite"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        made["key"].as_str().unwrap_or_default().to_string(),
        made["link"].as_str().unwrap_or_default().to_string(),
    ))
}

async fn invite_state(t: &TestServer, admin: &str, id: &str) -> anyhow::Result<String> {
    let (code, list) = api(
        t,
        "GET",
        &format!("/api/admin/invites?course={}", t.session.course_id),
        admin,
        None,
    )
    .await?;
    assert_eq!(code, 200, "{list}");
    Ok(list["invites"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == id)
        .and_then(|i| i["state"].as_str())
        .unwrap_or("missing")
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_link_opens_the_course_page_and_joins_with_consent_in_chromium() -> anyhow::Result<()>
{
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let base = t.http_url();
    let admin = t.key(Role::Admin);

    // The demo session is scheduled; a second one is cancelled.
    let starts = lectern_store::now_ms() + 3_600_000;
    let ends = starts + 5_400_000;
    let (code, body) = api(
        &t,
        "PATCH",
        &format!("/api/admin/sessions/{}", s.id),
        &admin,
        Some(&json!({ "starts_at_ms": starts, "ends_at_ms": ends })),
    )
    .await?;
    assert_eq!(code, 200, "{body}");
    let (code, cancelled) = api(
        &t,
        "POST",
        &format!("/api/admin/courses/{}/sessions", s.course_id),
        &admin,
        Some(&json!({ "title": "Module zero" })),
    )
    .await?;
    assert_eq!(code, 201, "{cancelled}");
    let cancelled = cancelled["id"].as_str().unwrap_or_default().to_string();
    let (code, body) = api(
        &t,
        "POST",
        &format!("/api/admin/sessions/{cancelled}/cancel"),
        &admin,
        None,
    )
    .await?;
    assert_eq!((code, &body["cancelled"]), (200, &json!(true)), "{body}");

    // A personal invite; its link is the course page.
    let (invite, key, link) = mint(
        &t,
        &admin,
        "participant",
        "Keisha Baptiste",
        "Trinidad and Tobago Police Service",
    )
    .await?;
    assert!(link.ends_with(&format!("/course#k={key}")), "{link}");

    // A link that expires while the test runs.
    let expires_at = lectern_store::now_ms() + 1000;
    let expired = t.invite(Role::Participant, "Late", |n| {
        n.expires_at_ms = expires_at;
    });

    let mut b = Browser::launch().await?;
    let course = open_course(&mut b, &base, &key).await?;
    assert_eq!(
        b.eval(&course, "document.body.dataset.state").await?,
        json!("ready")
    );
    assert_eq!(
        text_of(&mut b, &course, "who-name").await?,
        "Keisha Baptiste"
    );
    assert_eq!(
        text_of(&mut b, &course, "who-affiliation").await?,
        "Trinidad and Tobago Police Service"
    );
    assert_eq!(text_of(&mut b, &course, "who-role").await?, "Participant");
    let (_, me) = api(&t, "GET", "/api/me", &key, None).await?;
    assert_eq!(
        json!(text_of(&mut b, &course, "course-title").await?),
        me["course"]["title"]
    );
    // The session, its time in the viewer's time zone and language, and its button.
    let item = format!(".session-item[data-session=\"{}\"]", s.id);
    let shown = b
        .eval(
            &course,
            &format!(
                "(() => {{ const li = document.querySelector('{item}'); const a = li.querySelector('a.session-open'); \
                 const start = new Intl.DateTimeFormat('en', {{dateStyle: 'full', timeStyle: 'short'}}).format(new Date({starts})); \
                 return {{state: li.dataset.sessionState, text: a.textContent, href: a.getAttribute('href'), \
                          when: li.querySelector('.session-when').textContent, start}}; }})()"
            ),
        )
        .await?;
    assert_eq!(shown["state"], "open");
    assert_eq!(shown["text"], "Join");
    assert_eq!(
        shown["href"],
        json!(format!("/watch/{}#k={}", s.id, key)),
        "{shown}"
    );
    let start = shown["start"].as_str().unwrap_or("?");
    assert!(
        shown["when"].as_str().unwrap_or("").starts_with(start),
        "{shown}"
    );
    let other = b
        .eval(
            &course,
            &format!(
                "(() => {{ const li = document.querySelector('.session-item[data-session=\"{cancelled}\"]'); \
                 return {{state: li.dataset.sessionState, badge: li.querySelector('.state-badge').textContent, \
                          button: !!li.querySelector('a.session-open')}}; }})()"
            ),
        )
        .await?;
    assert_eq!(
        other,
        json!({"state": "cancelled", "badge": "Cancelled", "button": false})
    );
    assert_eq!(
        b.eval(
            &course,
            "!document.getElementById('replays').hidden && document.getElementById('recordings-link').getAttribute('href')"
        )
        .await?,
        json!(format!("/recordings#k={key}"))
    );
    no_missing_strings(&mut b, &course, "course page").await?;

    // Its button opens the watch page, which shows the invite's name instead of asking for one;
    // accepting the notice joins with that name, whatever is typed.
    follow_session(&mut b, &course, &s.id.to_string()).await?;
    b.wait_for(
        &course,
        "location.pathname.startsWith('/watch/') && !!window.lecternClient && !!document.getElementById('join')",
        LONG,
    )
    .await?;
    b.wait_for(
        &course,
        "document.getElementById('display-name').readOnly \
         && document.getElementById('display-name').value === 'Keisha Baptiste'",
        LONG,
    )
    .await?;
    b.eval(
        &course,
        "document.getElementById('display-name').value = 'Somebody Else'; \
         document.getElementById('join').click(); true",
    )
    .await?;
    b.wait_for(
        &course,
        "window.lecternClient.connectionState === 'connected' && !!window.lecternClient.self",
        LONG,
    )
    .await?;
    assert_eq!(
        b.eval(&course, "window.lecternClient.self.name").await?,
        json!("Keisha Baptiste")
    );
    let (code, consents) = api(
        &t,
        "GET",
        &format!("/api/admin/consents?session={}", s.id),
        &admin,
        None,
    )
    .await?;
    assert_eq!(code, 200);
    let mine: Vec<&Value> = consents["consents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["invite"] == invite.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{consents}");
    assert_eq!(mine[0]["notice"], "2026-11");
    assert_eq!(mine[0]["name"], "Keisha Baptiste");

    // The other roles' buttons; the replay viewer only has the recordings.
    for (role, path, label) in [
        (Role::Facilitator, "facilitate", "Facilitate"),
        (Role::RoomDisplay, "display", "Open on the room display"),
    ] {
        let k = t.invite(role, "Someone", |_| {});
        let p = open_course(&mut b, &base, &k).await?;
        let a = b
            .eval(
                &p,
                &format!("(() => {{ const a = document.querySelector('{item} a.session-open'); return [a.getAttribute('href'), a.textContent]; }})()"),
            )
            .await?;
        assert_eq!(
            a,
            json!([format!("/{path}/{}#k={k}", s.id), label]),
            "{role}"
        );
        assert_eq!(
            b.eval(&p, "document.getElementById('replays').hidden")
                .await?,
            json!(role == Role::RoomDisplay),
            "{role}: recordings"
        );
        b.close(&p).await?;
    }
    let k = t.invite(Role::ReplayViewer, "Reviewer", |_| {});
    let p = open_course(&mut b, &base, &k).await?;
    assert_eq!(
        b.eval(
            &p,
            "document.getElementById('sessions-section').hidden && !document.getElementById('replays').hidden"
        )
        .await?,
        json!(true)
    );
    b.close(&p).await?;

    // Refusals: a revoked link, no key, an expired link; an admin's link goes to the admin page.
    let (code, _) = api(
        &t,
        "POST",
        &format!("/api/admin/invites/{invite}/revoke"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(code, 200);
    while lectern_store::now_ms() <= expires_at {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for (k, code, words) in [
        (key.as_str(), "key_revoked", "was revoked"),
        ("", "noKey", "no key"),
        (expired.as_str(), "key_expired", "has expired"),
        ("not-a-key", "bad_key", "not valid"),
    ] {
        let p = open_course(&mut b, &base, k).await?;
        let got = b
            .eval(
                &p,
                "[document.body.dataset.state, document.body.dataset.error, document.getElementById('status').textContent, document.getElementById('course-content').hidden]",
            )
            .await?;
        assert_eq!(got[0], "error", "{code}: {got}");
        assert_eq!(got[1], code, "{got}");
        assert!(
            got[2].as_str().unwrap_or("").contains(words),
            "{code}: {got}"
        );
        assert_eq!(got[3], true, "{code}: nothing else shows");
        no_missing_strings(&mut b, &p, code).await?;
        b.close(&p).await?;
    }
    let p = b.open(&format!("{base}/course#k={admin}")).await?;
    b.wait_for(
        &p,
        "location.pathname === '/admin' && document.body.dataset.state === 'ready'",
        LONG,
    )
    .await?;
    b.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raised_hand_on_stage_reaches_participants_and_the_projector_in_chromium(
) -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let base = t.http_url();
    let speaker_key = t.invite(Role::Participant, "Marcus Charles", |n| {
        n.affiliation = "Coast Guard".into();
    });
    let mut b = Browser::launch().await?;

    let fac = pages::go_live(
        &mut b,
        &format!("{base}/facilitate/{}#k={}", s.id, s.facilitator_key),
        None,
    )
    .await?;
    let speaker = pages::join_participant(
        &mut b,
        &format!("{base}/watch/{}#k={speaker_key}", s.id),
        "",
    )
    .await?;
    let viewer = pages::join_participant(
        &mut b,
        &format!("{base}/watch/{}#k={}", s.id, s.participant_key),
        "Back Row",
    )
    .await?;
    let display = b
        .open(&format!("{base}/display/{}#k={}", s.id, s.display_key))
        .await?;
    b.wait_for(
        &display,
        "!!window.lecternClient && !!window.lecternI18n && window.lecternI18n.ready",
        LONG,
    )
    .await?;
    b.eval(&display, "document.getElementById('start').click(); true")
        .await?;
    for p in [&speaker, &viewer, &display] {
        b.wait_for(
            p,
            "window.lecternClient.connectionState === 'connected'",
            LONG,
        )
        .await?;
    }

    // The hand goes up; the facilitator brings them on stage.
    b.eval(
        &speaker,
        "document.getElementById('raise-hand').click(); true",
    )
    .await?;
    b.wait_for(
        &fac,
        "[...document.querySelectorAll('#people-list .person[data-hand=\"true\"]')].some(li => li.textContent.includes('Marcus Charles'))",
        LONG,
    )
    .await?;
    person_action(&mut b, &fac, "Marcus Charles", "stage-on").await?;

    // Their page publishes camera and microphone.
    b.wait_for(
        &speaker,
        "document.getElementById('on-stage').dataset.stage === 'on' && !document.getElementById('on-stage').hidden",
        LONG,
    )
    .await?;
    assert_eq!(
        b.eval(
            &speaker,
            "window.lecternClient.publishedSources.slice().sort().join(',')"
        )
        .await?,
        json!("camera,microphone")
    );
    video_plays(&mut b, &speaker, "stage-preview").await?;

    // Another participant decodes the speaker's video, named.
    b.wait_for(
        &viewer,
        "!document.getElementById('speaker-tile').hidden",
        LONG,
    )
    .await?;
    video_plays(&mut b, &viewer, "speaker-video").await?;
    assert_eq!(
        text_of(&mut b, &viewer, "speaker-name").await?,
        "Marcus Charles · Coast Guard"
    );

    // The projector shows the speaker's video with name and affiliation.
    b.wait_for(
        &display,
        "document.getElementById('display-stage').dataset.speaker === 'on'",
        LONG,
    )
    .await?;
    video_plays(&mut b, &display, "display-video").await?;
    assert_eq!(
        text_of(&mut b, &display, "display-speaker-name").await?,
        "Marcus Charles"
    );
    assert_eq!(
        text_of(&mut b, &display, "display-speaker-affiliation").await?,
        "Coast Guard"
    );

    // Taken off stage: the video goes everywhere, and the speaker's page says so.
    person_action(&mut b, &fac, "Marcus Charles", "stage-off").await?;
    b.wait_for(
        &speaker,
        "document.getElementById('on-stage').dataset.stage === 'off' && window.lecternClient.publishedSources.length === 0",
        LONG,
    )
    .await?;
    b.wait_for(
        &viewer,
        "document.getElementById('speaker-tile').hidden && !document.getElementById('speaker-video').srcObject",
        LONG,
    )
    .await?;
    b.wait_for(
        &display,
        "document.getElementById('display-stage').dataset.speaker === 'off' && document.getElementById('display-speaker-name').textContent === ''",
        LONG,
    )
    .await?;
    b.wait_for(&fac, "document.getElementById('speaker-tile').hidden", LONG)
        .await?;
    for (p, what) in [
        (&fac, "facilitator"),
        (&speaker, "speaker"),
        (&viewer, "viewer"),
        (&display, "display"),
    ] {
        no_missing_strings(&mut b, p, what).await?;
    }
    b.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_with_revocation_closes_the_page_and_refuses_the_link_in_chromium(
) -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let base = t.http_url();
    let admin = t.key(Role::Admin);
    let (invite, key, _) = mint(&t, &admin, "participant", "Dwayne Lewis", "").await?;
    let mut b = Browser::launch().await?;

    let fac = pages::open_facilitator(&mut b, &t).await?;
    let url = format!("{base}/watch/{}#k={key}", s.id);
    let p = b.open_with_script(&url, RECORD_CLOSE_CODES).await?;
    b.wait_for(
        &p,
        "!!window.lecternClient && !!document.getElementById('join')",
        LONG,
    )
    .await?;
    b.eval(&p, "document.getElementById('join').click(); true")
        .await?;
    b.wait_for(
        &p,
        "window.lecternClient.connectionState === 'connected'",
        LONG,
    )
    .await?;

    // Remove, ticking "revoke".
    person_action(&mut b, &fac, "Dwayne Lewis", "remove").await?;
    b.eval(
        &fac,
        "(() => { const li = [...document.querySelectorAll('#people-list .person')].find(li => li.textContent.includes('Dwayne Lewis')); \
         li.querySelector('.remove-revoke').checked = true; \
         li.querySelector('[data-action=\"remove-confirm\"]').click(); return true; })()",
    )
    .await?;

    b.wait_for(
        &p,
        "document.body.dataset.state === 'error' && window.lecternClient.fatalError && window.lecternClient.fatalError.code === 'removed' && window.lecternCloseCodes.includes(4403)",
        LONG,
    )
    .await?;
    assert!(text_of(&mut b, &p, "status").await?.contains("removed you"));
    b.wait_for(
        &fac,
        "![...document.querySelectorAll('#people-list .person')].some(li => li.textContent.includes('Dwayne Lewis'))",
        LONG,
    )
    .await?;
    // The revocation is written as the room reports it: wait for it.
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let state = invite_state(&t, &admin, &invite).await?;
        if state == "revoked" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the invite stays {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The same link again: refused as revoked.
    b.eval(&p, "location.reload(); true").await?;
    b.wait_for(
        &p,
        "!!window.lecternClient && !!document.getElementById('join') && window.lecternClient.connectionState === 'idle'",
        LONG,
    )
    .await?;
    b.eval(&p, "document.getElementById('join').click(); true")
        .await?;
    b.wait_for(
        &p,
        "document.body.dataset.state === 'error' && window.lecternClient.fatalError && window.lecternClient.fatalError.code === 'key_revoked' && window.lecternCloseCodes.includes(4401)",
        LONG,
    )
    .await?;
    assert!(text_of(&mut b, &p, "status").await?.contains("was revoked"));
    no_missing_strings(&mut b, &p, "watch page").await?;
    b.quit().await;
    Ok(())
}

/// Keeps every file the page saves (`a[download]` on a blob URL) in `window.lecternDownloads`.
const RECORD_DOWNLOADS: &str = "window.lecternDownloads = []; \
    (() => { const real = URL.createObjectURL.bind(URL); const blobs = new Map(); \
      URL.createObjectURL = (b) => { const u = real(b); blobs.set(u, b); return u; }; \
      const click = HTMLAnchorElement.prototype.click; \
      HTMLAnchorElement.prototype.click = function () { \
        if (this.download && blobs.has(this.href)) window.lecternDownloads.push({ name: this.download, blob: blobs.get(this.href) }); \
        return click.call(this); }; })();";

/// The last file the page saved: `{name, text}`.
async fn last_download(b: &mut Browser, p: &Page) -> anyhow::Result<Value> {
    b.eval(
        p,
        "(async () => { const d = window.lecternDownloads.at(-1); return d ? { name: d.name, text: await d.blob.text() } : null; })()",
    )
    .await
}

/// Sets form fields by id: strings go to `value`, booleans to `checked`.
async fn fill(b: &mut Browser, p: &Page, fields: &[(&str, Value)]) -> anyhow::Result<()> {
    for (id, v) in fields {
        let js = match v {
            Value::Bool(on) => format!("document.getElementById({id:?}).checked = {on}; true"),
            other => format!(
                "document.getElementById({id:?}).value = {}; true",
                other.as_str().map(|s| json!(s)).unwrap_or(other.clone())
            ),
        };
        b.eval(p, &js).await?;
    }
    Ok(())
}

async fn click(b: &mut Browser, p: &Page, selector: &str) -> anyhow::Result<()> {
    b.wait_for(
        p,
        &format!("!!document.querySelector({selector:?}) && !document.querySelector({selector:?}).disabled"),
        LONG,
    )
    .await?;
    b.eval(
        p,
        &format!("document.querySelector({selector:?}).click(); true"),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_runs_a_course_in_chromium() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let base = t.http_url();
    let admin = t.key(Role::Admin);
    let mut b = Browser::launch().await?;
    let p = b
        .open_with_script(&format!("{base}/admin#k={admin}"), RECORD_DOWNLOADS)
        .await?;
    b.wait_for(&p, "document.body.dataset.state === 'ready'", LONG)
        .await?;
    // The demo course is listed.
    b.wait_for(
        &p,
        &format!(
            "!!document.querySelector('#course-rows tr[data-course=\"{}\"]')",
            t.session.course_id
        ),
        LONG,
    )
    .await?;

    // A course, through the form.
    fill(
        &mut b,
        &p,
        &[
            ("course-title", json!("Forensic interviewing")),
            (
                "course-description",
                json!("Four mornings in Port of Spain"),
            ),
            ("course-language", json!("es")),
            ("course-retention", json!("30")),
            ("course-record", json!(true)),
        ],
    )
    .await?;
    click(&mut b, &p, "#course-submit").await?;
    b.wait_for(
        &p,
        "!document.getElementById('course-panel').hidden && document.getElementById('course-panel-heading').textContent.includes('Forensic interviewing') && !document.body.dataset.busy",
        LONG,
    )
    .await?;
    let (_, courses) = api(&t, "GET", "/api/admin/courses", &admin, None).await?;
    let course = courses["courses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["title"] == "Forensic interviewing")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(course["description"], "Four mornings in Port of Spain");
    assert_eq!(course["language"], "es");
    assert_eq!(course["retention_days"], 30);
    assert_eq!(course["record_by_default"], true);
    let course_id = course["id"].as_str().unwrap_or_default().to_string();

    // A session: first with its end before its start (the API's message shows), then right.
    fill(
        &mut b,
        &p,
        &[
            ("session-title", json!("Module 1: the first account")),
            ("session-starts", json!("2030-05-04T09:00")),
            ("session-ends", json!("2030-05-04T08:00")),
        ],
    )
    .await?;
    click(&mut b, &p, "#session-submit").await?;
    b.wait_for(
        &p,
        "!document.getElementById('session-error').hidden && document.getElementById('session-error').textContent.includes('ends after it starts')",
        LONG,
    )
    .await?;
    fill(&mut b, &p, &[("session-ends", json!("2030-05-04T11:30"))]).await?;
    click(&mut b, &p, "#session-submit").await?;
    b.wait_for(
        &p,
        "document.getElementById('session-error').hidden && document.querySelectorAll('#session-rows tr').length === 1",
        LONG,
    )
    .await?;
    let (_, sessions) = api(
        &t,
        "GET",
        &format!("/api/admin/courses/{course_id}/sessions"),
        &admin,
        None,
    )
    .await?;
    let sessions = sessions["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["title"], "Module 1: the first account");
    let local = b
        .eval(
            &p,
            "[new Date('2030-05-04T09:00').getTime(), new Date('2030-05-04T11:30').getTime()]",
        )
        .await?;
    assert_eq!(
        json!([sessions[0]["starts_at_ms"], sessions[0]["ends_at_ms"]]),
        local
    );

    // A roster from a file: the links come back as a download, the invites are listed.
    b.eval(
        &p,
        "(() => { document.getElementById('roster-section').open = true; \
         const dt = new DataTransfer(); \
         dt.items.add(new File(['name,affiliation,email,role\\nAna Pérez,University of the West Indies,ana@example.org,facilitator\\nBen Lee,TTPS,ben@example.org,\\n'], 'roster.csv', {type: 'text/csv'})); \
         document.getElementById('roster-file').files = dt.files; \
         document.getElementById('roster-days').value = '14'; return true; })()",
    )
    .await?;
    click(&mut b, &p, "#roster-submit").await?;
    b.wait_for(
        &p,
        "document.getElementById('roster-done').textContent.includes('2 invites') && document.querySelectorAll('#invite-rows tr').length === 2",
        LONG,
    )
    .await?;
    let links = last_download(&mut b, &p).await?;
    assert_eq!(links["name"], "links.csv");
    let csv = links["text"].as_str().unwrap_or_default();
    let lines: Vec<&str> = csv.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].contains("link"), "{csv}");
    assert!(
        lines[1].contains("Ana Pérez") && lines[1].contains("/course#k="),
        "{csv}"
    );
    let (_, invites) = api(
        &t,
        "GET",
        &format!("/api/admin/invites?course={course_id}"),
        &admin,
        None,
    )
    .await?;
    let invites = invites["invites"].as_array().cloned().unwrap_or_default();
    assert_eq!(invites.len(), 2, "{invites:?}");
    let ben = invites
        .iter()
        .find(|i| i["name"] == "Ben Lee")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(ben["role"], "participant");
    let ana = invites
        .iter()
        .find(|i| i["name"] == "Ana Pérez")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(ana["role"], "facilitator");
    let ben_id = ben["id"].as_str().unwrap_or_default().to_string();

    // One invite from the form: its link shows once.
    fill(
        &mut b,
        &p,
        &[
            ("invite-role", json!("room_display")),
            ("invite-name", json!("Room 2 projector")),
            ("invite-max-uses", json!("3")),
        ],
    )
    .await?;
    click(&mut b, &p, "#invite-submit").await?;
    b.wait_for(
        &p,
        "!document.getElementById('invite-created').hidden && document.querySelectorAll('#invite-rows tr').length === 3",
        LONG,
    )
    .await?;
    let link = b
        .eval(&p, "document.getElementById('invite-link').value")
        .await?;
    let link = link.as_str().unwrap_or_default().to_string();
    let key = link.split("#k=").nth(1).unwrap_or_default();
    assert!(link.contains("/course#k="), "{link}");
    let (code, me) = api(&t, "GET", "/api/me", key, None).await?;
    assert_eq!(code, 200, "{me}");
    assert_eq!(
        (&me["role"], &me["name"]),
        (&json!("room_display"), &json!("Room 2 projector"))
    );

    // Another administrator, from the same form: not limited to the course.
    fill(
        &mut b,
        &p,
        &[
            ("invite-role", json!("admin")),
            ("invite-name", json!("Second admin")),
        ],
    )
    .await?;
    click(&mut b, &p, "#invite-submit").await?;
    b.wait_for(
        &p,
        &format!("document.getElementById('invite-link').value !== {link:?}"),
        LONG,
    )
    .await?;
    let admin_link = b
        .eval(&p, "document.getElementById('invite-link').value")
        .await?;
    let admin_link = admin_link.as_str().unwrap_or_default().to_string();
    assert!(admin_link.contains("/admin#k="), "{admin_link}");
    let admin_key = admin_link.split("#k=").nth(1).unwrap_or_default();
    let (code, me) = api(&t, "GET", "/api/me", admin_key, None).await?;
    assert_eq!(code, 200, "{me}");
    assert_eq!(
        (&me["role"], &me["course"]),
        (&json!("admin"), &Value::Null)
    );

    // Revoke Ben's invite, confirming.
    click(
        &mut b,
        &p,
        &format!("#invite-rows button[data-action=\"revoke\"][data-id=\"{ben_id}\"]"),
    )
    .await?;
    b.wait_for(
        &p,
        &format!("document.activeElement.dataset.action === 'revoke-confirm' && document.activeElement.dataset.id === '{ben_id}'"),
        LONG,
    )
    .await?;
    click(
        &mut b,
        &p,
        &format!("#invite-rows button[data-action=\"revoke-confirm\"][data-id=\"{ben_id}\"]"),
    )
    .await?;
    b.wait_for(
        &p,
        &format!(
            "document.querySelector('#invite-rows tr[data-invite=\"{ben_id}\"]').dataset.inviteState === 'revoked'"
        ),
        LONG,
    )
    .await?;
    let (_, invites) = api(
        &t,
        "GET",
        &format!("/api/admin/invites?course={course_id}"),
        &admin,
        None,
    )
    .await?;
    let states: Vec<(String, String)> = invites["invites"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default().to_string(),
                i["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&("Ben Lee".into(), "revoked".into()))
            && states.contains(&("Ana Pérez".into(), "valid".into())),
        "{states:?}"
    );

    // The audit log, filtered, shown and downloaded as CSV.
    b.eval(
        &p,
        "document.getElementById('audit-section').open = true; true",
    )
    .await?;
    fill(&mut b, &p, &[("audit-action", json!("invite.revoke"))]).await?;
    click(&mut b, &p, "#audit-show").await?;
    b.wait_for(
        &p,
        &format!("[...document.querySelectorAll('#audit-rows tr')].length === 1 && document.getElementById('audit-rows').textContent.includes('{ben_id}')"),
        LONG,
    )
    .await?;
    click(&mut b, &p, "#audit-csv").await?;
    b.wait_for(
        &p,
        "window.lecternDownloads.length === 2 && window.lecternDownloads[1].name === 'audit.csv'",
        LONG,
    )
    .await?;
    let audit = last_download(&mut b, &p).await?;
    let csv = audit["text"].as_str().unwrap_or_default();
    let lines: Vec<&str> = csv.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "a header and the one revocation: {csv}");
    assert!(
        lines[1].contains("invite.revoke") && lines[1].contains(&ben_id),
        "{csv}"
    );
    let (_, log) = api(
        &t,
        "GET",
        "/api/admin/audit?action=audit.export",
        &admin,
        None,
    )
    .await?;
    assert_eq!(
        log["entries"].as_array().map(Vec::len),
        Some(1),
        "the download is logged: {log}"
    );
    let (_, log) = api(&t, "GET", "/api/admin/audit", &admin, None).await?;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "course.create",
        "session.create",
        "invite.import",
        "invite.create",
        "invite.revoke",
    ] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }

    // Edit the course: keep recordings for ever.
    click(
        &mut b,
        &p,
        &format!("#course-rows button[data-action=\"edit\"][data-id=\"{course_id}\"]"),
    )
    .await?;
    fill(&mut b, &p, &[("course-keep", json!(true))]).await?;
    click(&mut b, &p, "#course-submit").await?;
    b.wait_for(
        &p,
        "document.getElementById('course-done').textContent.includes('saved') && !document.body.dataset.busy",
        LONG,
    )
    .await?;
    let (_, courses) = api(&t, "GET", "/api/admin/courses", &admin, None).await?;
    let course = courses["courses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == course_id.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(course["retention_days"], Value::Null, "{course}");

    // Cancel the session, confirming.
    let session_id = sessions[0]["id"].as_str().unwrap_or_default().to_string();
    click(
        &mut b,
        &p,
        &format!("#session-rows button[data-action=\"cancel\"][data-id=\"{session_id}\"]"),
    )
    .await?;
    click(
        &mut b,
        &p,
        &format!("#session-rows button[data-action=\"cancel-confirm\"][data-id=\"{session_id}\"]"),
    )
    .await?;
    b.wait_for(
        &p,
        &format!("document.querySelector('#session-rows tr[data-session=\"{session_id}\"]').dataset.sessionState === 'cancelled'"),
        LONG,
    )
    .await?;

    // The erasure form lists the recordings the admin key may see (none yet).
    b.eval(
        &p,
        "document.getElementById('erase-section').open = true; true",
    )
    .await?;
    b.wait_for(
        &p,
        "document.getElementById('erase-recording').options.length === 1 && document.getElementById('erase-recording').value === '' && !document.body.dataset.busy",
        LONG,
    )
    .await?;
    click(&mut b, &p, "#erase-submit").await?;
    b.wait_for(&p, "!document.getElementById('erase-error').hidden", LONG)
        .await?;

    no_missing_strings(&mut b, &p, "admin page").await?;

    // A key that is not an administrator's is told so.
    let q = b
        .open(&format!("{base}/admin#k={}", t.session.participant_key))
        .await?;
    b.wait_for(
        &q,
        "document.body.dataset.state === 'error' && document.body.dataset.error === 'notAdmin' && document.getElementById('admin-content').hidden",
        LONG,
    )
    .await?;
    b.quit().await;
    Ok(())
}

/// Declining the notice in the page: the participant watches while nothing is recorded; when
/// the facilitator starts recording, the page shows the notice again (recording indicator on);
/// accepting joins again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_the_notice_and_being_asked_again_in_chromium() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let (mut fac, _) = t.join(Role::Facilitator, "Dr. Joseph").await?;
    let key = t.person(Role::Participant, "Dee Clines");
    let url = format!("{}/watch/{}#k={key}", t.http_url(), t.session.id);
    let mut b = Browser::launch().await?;
    let p = b.open(&url).await?;
    b.wait_for(
        &p,
        "!!window.lecternClient && !!document.getElementById('join-decline')",
        LONG,
    )
    .await?;
    b.eval(&p, "document.getElementById('join-decline').click(); true")
        .await?;
    b.wait_for(
        &p,
        "window.lecternClient.connectionState === 'connected' && !!window.lecternClient.self \
         && !document.getElementById('consent-declined').hidden",
        LONG,
    )
    .await?;

    fac.send(&lectern_proto::ClientMsg::StartRecording).await?;
    b.wait_for(
        &p,
        "document.body.dataset.state === 'consent' \
         && !document.getElementById('consent-required').hidden \
         && !document.getElementById('join-screen').hidden \
         && document.getElementById('recording-indicator').getAttribute('data-recording') === 'on'",
        LONG,
    )
    .await?;
    no_missing_strings(&mut b, &p, "watch page asking consent again").await?;

    b.eval(&p, "document.getElementById('join').click(); true")
        .await?;
    b.wait_for(
        &p,
        "window.lecternClient.connectionState === 'connected' && !!window.lecternClient.self \
         && document.getElementById('join-screen').hidden",
        LONG,
    )
    .await?;
    let consents = t.server.with_store(|s| s.consents(Some(t.session.id)))?;
    assert!(
        consents.iter().any(|c| c.name == "Dee Clines"),
        "{consents:?}"
    );
    b.quit().await;
    t.stop().await;
    Ok(())
}
