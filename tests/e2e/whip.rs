//! WHIP ingest (RFC 9725) with an independent client: aiortc, driven by `tests/whip/publish.py`
//! (installed by `scripts/test.sh`, which sets `LECTERN_PYTHON`), publishes synthetic video and
//! audio; headless participants receive them. The HTTP error matrix goes through the raw test
//! client, so statuses and headers are seen exactly as sent.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use lectern_e2e::TestServer;
use lectern_proto::{Role, SessionState, Source};
use lectern_testkit::http;
use lectern_testkit::media::VideoCodec;
use lectern_testkit::{PublisherOptions, ViewerOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/whip/publish.py");

/// The Python that has aiortc: `LECTERN_PYTHON` (set by scripts/test.sh), else `python3`.
/// Fails with what to do when aiortc is missing.
async fn python() -> anyhow::Result<String> {
    let python = std::env::var("LECTERN_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = tokio::process::Command::new(&python)
        .args(["-c", "import aiortc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !ok {
        bail!(
            "the WHIP tests need Python 3 with aiortc, and {python:?} has none: run \
             scripts/test.sh (it installs aiortc in a venv and sets LECTERN_PYTHON), or \
             `pip install aiortc` and set LECTERN_PYTHON to that Python"
        );
    }
    Ok(python)
}

/// The aiortc WHIP client, as a child process speaking JSON lines.
struct WhipClient {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl WhipClient {
    async fn start(url: &str, token: &str, extra: &[&str]) -> anyhow::Result<WhipClient> {
        let mut child = tokio::process::Command::new(python().await?)
            .arg(SCRIPT)
            .args(["--url", url, "--token", token])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the WHIP client")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        Ok(WhipClient {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Reads events until one of type `event`; a refusal or the client's exit is an error.
    async fn wait_for(
        &mut self,
        event: &str,
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .map_err(|_| anyhow!("no {event:?} from the WHIP client within {timeout:?}"))??
                .ok_or_else(|| anyhow!("the WHIP client exited before {event:?}"))?;
            let v: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("WHIP client printed {line:?}"))?;
            if v["event"] == event {
                return Ok(v);
            }
            if v["event"] == "refused" {
                bail!("the server refused the WHIP offer: {v}");
            }
        }
    }

    /// Tells the client to stop: it DELETEs its resource; returns that response's status.
    async fn stop(mut self) -> anyhow::Result<u64> {
        self.stdin.write_all(b"stop\n").await?;
        self.stdin.flush().await?;
        let deleted = self.wait_for("deleted", Duration::from_secs(20)).await?;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        deleted["status"]
            .as_u64()
            .ok_or_else(|| anyhow!("no status in {deleted}"))
    }
}

impl WhipClient {
    /// Kills the client: no DELETE, its packets simply stop (a machine that went away).
    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

fn addr(t: &TestServer) -> String {
    t.server.http_addr.to_string()
}

/// How many frames (distinct RTP timestamps) of `track` a viewer got, and their codec.
fn frames(v: &lectern_testkit::Viewer, track: lectern_proto::TrackId) -> (usize, BTreeSet<String>) {
    let packets: Vec<_> = v
        .received()
        .into_iter()
        .filter(|p| p.track == track)
        .collect();
    let stamps: BTreeSet<u32> = packets.iter().map(|p| p.ts).collect();
    let codecs = packets.iter().map(|p| format!("{:?}", p.codec)).collect();
    (stamps.len(), codecs)
}

/// aiortc publishes with `codec`; a participant receives the camera in that codec and the
/// microphone; DELETE takes both tracks away; the resource is then gone.
async fn publish_and_delete(
    codec: &str,
    expected: VideoCodec,
    in_browser: bool,
) -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let viewer = t.viewer(ViewerOptions::default()).await?;
    let mut whip = WhipClient::start(
        &t.whip_url(),
        &t.key(Role::Facilitator),
        &["--codec", codec],
    )
    .await?;
    let created = whip.wait_for("created", Duration::from_secs(20)).await?;
    assert_eq!(created["status"], 201);
    let location = created["location"].as_str().unwrap_or_default().to_string();
    let prefix = format!("{}/", t.whip_url());
    assert!(
        location.starts_with(&prefix),
        "Location {location:?} is not under {prefix}"
    );
    let answer = created["answer"].as_str().unwrap_or_default();
    assert!(answer.contains("a=ice-lite"), "answer: {answer}");

    let cam = viewer
        .wait_for_track(Source::Camera, Duration::from_secs(20))
        .await?;
    let mic = viewer
        .wait_for_track(Source::Microphone, Duration::from_secs(20))
        .await?;
    viewer
        .wait_for_packets(cam, 100, Duration::from_secs(20))
        .await?;
    viewer
        .wait_for_packets(mic, 100, Duration::from_secs(20))
        .await?;
    let (video_frames, codecs) = frames(&viewer, cam);
    assert!(video_frames >= 30, "only {video_frames} video frames");
    assert_eq!(
        codecs,
        BTreeSet::from([format!("{:?}", Some(expected))]),
        "camera codec"
    );
    let (audio_frames, _) = frames(&viewer, mic);
    assert!(audio_frames >= 50, "only {audio_frames} audio frames");
    if in_browser {
        // A participant's browser decodes the WHIP camera, and its picture moves.
        let mut b = lectern_testkit::browser::Browser::launch().await?;
        let watch = format!(
            "{}/watch/{}#k={}",
            t.http_url(),
            t.session.id,
            t.session.participant_key
        );
        let page = crate::pages::join_participant(&mut b, &watch, "Officer at home").await?;
        b.wait_for(
            &page,
            "document.getElementById('camera').videoWidth > 0",
            Duration::from_secs(30),
        )
        .await?;
        let t0: f64 = b
            .eval(&page, "document.getElementById('camera').currentTime")
            .await?
            .as_f64()
            .unwrap_or(0.0);
        b.wait_for(
            &page,
            &format!("document.getElementById('camera').currentTime > {t0} + 1"),
            Duration::from_secs(15),
        )
        .await?;
        b.quit().await;
    }
    assert_eq!(viewer.session_state(), Some(SessionState::Live));
    // The ingest is a facilitator that receives nothing: no participant is sent its own media
    // back, and the counters show one ingest.
    let metrics = http::get(&addr(&t), "/metrics").await?;
    assert!(
        String::from_utf8_lossy(&metrics.body).contains("lectern_whip_sessions 1"),
        "metrics"
    );

    assert_eq!(whip.stop().await?, 200, "DELETE of the WHIP session");
    viewer
        .wait_for_track_gone(cam, Duration::from_secs(10))
        .await?;
    viewer
        .wait_for_track_gone(mic, Duration::from_secs(10))
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while viewer.session_state() != Some(SessionState::Paused) {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "session not paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The resource is gone.
    let path = location.trim_start_matches(&t.http_url()).to_string();
    let bearer = format!("Bearer {}", t.key(Role::Facilitator));
    let again = http::request(&addr(&t), "DELETE", &path, &[("Authorization", &bearer)]).await?;
    assert_eq!(again.status, 404);
    let metrics = http::get(&addr(&t), "/metrics").await?;
    assert!(String::from_utf8_lossy(&metrics.body).contains("lectern_whip_sessions 0"));
    viewer.stop().await?;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_client_publishes_vp8_and_opus_to_participants() -> anyhow::Result<()> {
    publish_and_delete("vp8", VideoCodec::Vp8, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_client_with_an_h264_only_offer_is_received_as_h264() -> anyhow::Result<()> {
    // OBS Studio offers H.264 only by default.
    publish_and_delete("h264", VideoCodec::H264, false).await
}

/// The newest facilitator connection wins, whichever way: a WHIP ingest takes over from a
/// browser-like facilitator on the same track ids, and a new facilitator connection ends the
/// WHIP session (its DELETE then finds nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_browser_facilitators_replace_each_other() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let viewer = t.viewer(ViewerOptions::default()).await?;
    let first = t.publisher(PublisherOptions::default()).await?;
    let cam = viewer
        .wait_for_track(Source::Camera, Duration::from_secs(20))
        .await?;
    viewer
        .wait_for_packets(cam, 50, Duration::from_secs(20))
        .await?;

    let mut whip = WhipClient::start(&t.whip_url(), &t.key(Role::Facilitator), &[]).await?;
    whip.wait_for("created", Duration::from_secs(20)).await?;
    // The camera track resumes under its id, now fed by aiortc.
    let before = viewer.count(cam);
    viewer
        .wait_for_packets(cam, before + 100, Duration::from_secs(20))
        .await?;
    assert_eq!(
        viewer
            .wait_for_track(Source::Camera, Duration::from_secs(1))
            .await?,
        cam
    );

    let second = t.publisher(PublisherOptions::default()).await?;
    let before = viewer.count(cam);
    viewer
        .wait_for_packets(cam, before + 100, Duration::from_secs(20))
        .await?;
    assert_eq!(whip.stop().await?, 404, "the replaced WHIP session is gone");
    assert_eq!(viewer.session_state(), Some(SessionState::Live));
    second.stop().await?;
    let _ = first.stop().await;
    viewer.stop().await?;
    t.stop().await;
    Ok(())
}

/// A WHIP client that vanishes without DELETE is a dropped facilitator once its media
/// connection fails: the session pauses with the tracks kept, and the WHIP session is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_client_that_vanishes_pauses_the_session() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let viewer = t.viewer(ViewerOptions::default()).await?;
    let mut whip = WhipClient::start(&t.whip_url(), &t.key(Role::Facilitator), &[]).await?;
    whip.wait_for("created", Duration::from_secs(20)).await?;
    let cam = viewer
        .wait_for_track(Source::Camera, Duration::from_secs(20))
        .await?;
    viewer
        .wait_for_packets(cam, 50, Duration::from_secs(20))
        .await?;
    whip.kill().await?;
    // ICE timeouts: the connection is disconnected after 5 s of silence and failed 25 s later.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while viewer.session_state() != Some(SessionState::Paused) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the session did not pause after the WHIP client vanished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        viewer.tracks().iter().any(|tr| tr.id == cam),
        "a dropped facilitator's tracks are kept for its return"
    );
    let metrics = http::get(&addr(&t), "/metrics").await?;
    assert!(String::from_utf8_lossy(&metrics.body).contains("lectern_whip_sessions 0"));
    viewer.stop().await?;
    t.stop().await;
    Ok(())
}

/// Every refusal has its status, and changes nothing: the live facilitator keeps publishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_refuses_bad_requests_with_their_statuses() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let a = addr(&t);
    let viewer = t.viewer(ViewerOptions::default()).await?;
    let publisher = t.publisher(PublisherOptions::default()).await?;
    let cam = viewer
        .wait_for_track(Source::Camera, Duration::from_secs(20))
        .await?;
    viewer
        .wait_for_packets(cam, 20, Duration::from_secs(20))
        .await?;

    let path = format!("/whip/{}", t.session.id);
    let facilitator = format!("Bearer {}", t.key(Role::Facilitator));
    let participant = format!("Bearer {}", t.key(Role::Participant));
    let sdp_type = ("Content-Type", "application/sdp");
    // A real offer's shape: ICE credentials, a fingerprint, a VP8 video m-line.
    let offer = format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
         a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n\
         a=fingerprint:sha-256 {}\r\na=setup:actpass\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n",
        ["AB"; 32].join(":")
    );
    let post = |headers: Vec<(&'static str, String)>, body: Vec<u8>, path: String| {
        let a = a.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            http::request_with_body(&a, "POST", &path, &h, "", &body).await
        }
    };
    let auth = |v: &str| ("Authorization", v.to_string());
    let ct = |v: &str| ("Content-Type", v.to_string());

    // No token: 401 with the Bearer challenge.
    let r = post(vec![ct(sdp_type.1)], offer.clone().into(), path.clone()).await?;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{r:?}"
    );
    assert_eq!(r.json()?["error"], "bad_key");
    // A forged token, and another scheme.
    for bad in ["Bearer forged-token", "Basic Zm9vOmJhcg=="] {
        let r = post(
            vec![auth(bad), ct(sdp_type.1)],
            offer.clone().into(),
            path.clone(),
        )
        .await?;
        assert_eq!(r.status, 401, "{bad}");
        assert!(r.header("www-authenticate").is_some(), "{bad}");
    }
    // A participant's or a room display's token may not publish.
    for key in [
        participant.clone(),
        format!("Bearer {}", t.key(Role::RoomDisplay)),
    ] {
        let r = post(
            vec![auth(&key), ct(sdp_type.1)],
            offer.clone().into(),
            path.clone(),
        )
        .await?;
        assert_eq!(r.status, 403);
        assert_eq!(r.json()?["error"], "forbidden");
    }
    // Facilitator invites that no longer hold, or are for another course, are refused.
    let revoked = t.invite(Role::Facilitator, "Gone", |_| {});
    let revoked_id = t
        .server
        .with_store(|s| s.invites(Some(&t.session.course_id)))?
        .into_iter()
        .find(|i| i.name == "Gone")
        .map(|i| i.id)
        .expect("the invite");
    t.server.with_store(|s| s.revoke_invite(&revoked_id))?;
    let expiring = t.invite(Role::Facilitator, "Late", |n| {
        n.expires_at_ms = lectern_store::now_ms() + 300;
    });
    let elsewhere = t.server.create_session("Another course", "Elsewhere")?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    for (key, status, code) in [
        (revoked, 401, "key_revoked"),
        (expiring, 401, "key_expired"),
        (elsewhere.facilitator_key.clone(), 401, "bad_key"),
    ] {
        let r = post(
            vec![auth(&format!("Bearer {key}")), ct(sdp_type.1)],
            offer.clone().into(),
            path.clone(),
        )
        .await?;
        assert_eq!(
            (r.status, r.json()?["error"].clone()),
            (status, code.into())
        );
    }
    // Unknown sessions.
    for p in [
        "/whip/6f1c2a1e-8a9a-4a8e-9d0e-3a1f0c0b9d11",
        "/whip/not-a-session",
    ] {
        let r = post(
            vec![auth(&facilitator), ct(sdp_type.1)],
            offer.clone().into(),
            p.into(),
        )
        .await?;
        assert_eq!(r.status, 404, "{p}");
    }
    // An ended session.
    let ended = t.server.create_session("Ended course", "Over")?;
    t.server
        .with_store(|s| s.end_session(ended.id, "ended_by_facilitator"))?;
    let r = post(
        vec![
            auth(&format!("Bearer {}", ended.facilitator_key)),
            ct(sdp_type.1),
        ],
        offer.clone().into(),
        format!("/whip/{}", ended.id),
    )
    .await?;
    assert_eq!(r.status, 410);
    assert_eq!(r.json()?["error"], "session_over");
    // A facilitator key of another course.
    let other = format!("Bearer {}", ended.facilitator_key);
    let r = post(
        vec![auth(&other), ct(sdp_type.1)],
        offer.clone().into(),
        path.clone(),
    )
    .await?;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()?["error"], "bad_key");
    // Wrong or missing content type.
    for c in ["application/json", "text/plain"] {
        let r = post(
            vec![auth(&facilitator), ct(c)],
            offer.clone().into(),
            path.clone(),
        )
        .await?;
        assert_eq!(r.status, 415, "{c}");
        assert_eq!(r.json()?["error"], "unsupported_media_type");
    }
    let r = post(vec![auth(&facilitator)], offer.clone().into(), path.clone()).await?;
    assert_eq!(r.status, 415, "no content type");
    // Malformed SDP.
    for garbage in [
        "hello".to_string(),
        "v=0\r\nthis is not SDP\r\n".to_string(),
        offer.replace("a=ice-ufrag:abcd\r\n", ""),
        offer.replace("a=mid:0\r\n", ""),
        offer.replace("a=sendonly", "a=recvonly"),
    ] {
        let r = post(
            vec![auth(&facilitator), ct(sdp_type.1)],
            garbage.clone().into(),
            path.clone(),
        )
        .await?;
        assert_eq!(
            r.status,
            400,
            "{garbage:?}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()?["error"], "bad_sdp");
    }
    let r = post(
        vec![auth(&facilitator), ct(sdp_type.1)],
        vec![0xff, 0xfe, 0x00],
        path.clone(),
    )
    .await?;
    assert_eq!(r.status, 400, "not UTF-8");
    // A codec the server does not forward.
    let av1 = offer.replace("VP8/90000", "AV1/90000");
    let r = post(
        vec![auth(&facilitator), ct(sdp_type.1)],
        av1.into(),
        path.clone(),
    )
    .await?;
    assert_eq!(r.status, 415);
    assert_eq!(r.json()?["error"], "unsupported_codec");
    // Oversized.
    let big = format!("{offer}a=x-padding:{}\r\n", "x".repeat(70 * 1024));
    let r = post(
        vec![auth(&facilitator), ct(sdp_type.1)],
        big.into(),
        path.clone(),
    )
    .await?;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()?["error"], "too_large");

    // The resource side: unknown resources, no PATCH, CORS preflights.
    let resource = format!("{path}/0123456789abcdef0123456789abcdef");
    let r = http::request(&a, "DELETE", &resource, &[("Authorization", &facilitator)]).await?;
    assert_eq!(r.status, 404);
    let r = http::request(&a, "DELETE", &resource, &[]).await?;
    assert_eq!(r.status, 401);
    let r = http::request_with_body(
        &a,
        "PATCH",
        &resource,
        &[("Authorization", &facilitator)],
        "application/trickle-ice-sdpfrag",
        b"a=end-of-candidates\r\n",
    )
    .await?;
    assert_eq!(r.status, 405);
    assert!(r
        .header("allow")
        .is_some_and(|v| v.contains("DELETE") && !v.contains("PATCH")));
    let r = http::request(
        &a,
        "OPTIONS",
        &path,
        &[
            ("Origin", "https://studio.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    .await?;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-allow-methods")
        .is_some_and(|v| v.contains("POST")));
    assert!(r
        .header("access-control-allow-headers")
        .is_some_and(|v| v.to_ascii_lowercase().contains("authorization")));

    // Nothing changed: the facilitator still publishes, nobody was replaced.
    let before = viewer.count(cam);
    viewer
        .wait_for_packets(cam, before + 50, Duration::from_secs(10))
        .await?;
    assert!(!publisher.finished());
    assert_eq!(viewer.session_state(), Some(SessionState::Live));
    let metrics = http::get(&a, "/metrics").await?;
    assert!(String::from_utf8_lossy(&metrics.body).contains("lectern_whip_sessions 0"));
    publisher.stop().await?;
    viewer.stop().await?;
    t.stop().await;
    Ok(())
}
