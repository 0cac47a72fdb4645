//! Bad input gets a documented error, changes nothing, and never disturbs other peers.

use std::time::Duration;

use lectern_e2e::TestServer;
use lectern_proto::{
    Answer, ClientMsg, ErrorCode, Join, Offer, PcKind, PublishedMid, ServerMsg, SessionId, Source,
    PROTOCOL_VERSION,
};
use lectern_testkit::{PublisherOptions, Signal, ViewerOptions};

const WAIT: Duration = Duration::from_secs(5);

/// The next `error` frame's code, skipping other frames.
async fn next_error(s: &mut Signal) -> anyhow::Result<ErrorCode> {
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Error(e) => Some(e.code),
        _ => None,
    })
    .await
}

/// The connection still answers a ping.
async fn still_open(s: &mut Signal) -> anyhow::Result<()> {
    s.send(&ClientMsg::Ping(lectern_proto::Ping { id: Some(77) }))
        .await?;
    s.wait_for(WAIT, |m| match m {
        ServerMsg::Pong(p) if p.id == Some(77) => Some(()),
        _ => None,
    })
    .await
}

/// Expects an error frame with `code`, then a close with `close`.
async fn expect_fatal(s: &mut Signal, code: ErrorCode, close: u16) -> anyhow::Result<()> {
    match s.recv_or_close(WAIT).await? {
        Ok(ServerMsg::Error(e)) => {
            assert_eq!(e.code, code, "{}", e.message);
            assert!(e.fatal);
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    match s.recv_or_close(WAIT).await? {
        Err(c) => assert_eq!(c, Some(close)),
        Ok(m) => panic!("expected a close, got {m:?}"),
    }
    Ok(())
}

/// A publish offer of `sdp` that says mid `mid` carries the camera.
fn camera_offer(sdp: &str, mid: &str) -> ClientMsg {
    ClientMsg::Offer(Offer {
        pc: PcKind::Publish,
        sdp: sdp.into(),
        tracks: vec![PublishedMid {
            mid: mid.into(),
            source: Source::Camera,
        }],
    })
}

fn join(session: SessionId, key: &str, version: u32) -> ClientMsg {
    ClientMsg::Join(Join {
        version,
        session,
        key: key.into(),
        name: None,
        role: None,
        consent: None,
    })
}

/// An offer whose only video codec is one the server does not forward.
const AV1_ONLY_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 45\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
a=rtcp-mux\r\na=rtpmap:45 AV1/90000\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_everyone_else_keeps_watching() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = &t.session;
    let ws = t.ws_url();

    // A live session that must not notice any of what follows.
    let viewer = t.viewer(ViewerOptions::default()).await?;
    let publisher = t.publisher(PublisherOptions::default()).await?;
    let cam = publisher.track(Source::Camera).expect("camera");
    viewer
        .wait_for_packets(cam, 30, Duration::from_secs(10))
        .await?;
    let before = viewer.count(cam);

    // Before join.
    let mut c = Signal::connect(&ws).await?;
    c.send_text("{not json".into()).await?;
    assert_eq!(next_error(&mut c).await?, ErrorCode::BadJson);
    c.send_text(r#"{"type":"teleport"}"#.into()).await?;
    assert_eq!(next_error(&mut c).await?, ErrorCode::UnknownType);
    c.send_text(r#"{"no":"type"}"#.into()).await?;
    assert_eq!(next_error(&mut c).await?, ErrorCode::UnknownType);
    c.send_text(r#"{"type":"join","version":"1"}"#.into())
        .await?;
    assert_eq!(next_error(&mut c).await?, ErrorCode::BadJson);
    c.send(&ClientMsg::EndSession).await?;
    assert_eq!(next_error(&mut c).await?, ErrorCode::NotJoined);
    c.send_binary(vec![1, 2, 3]).await?;
    assert_eq!(next_error(&mut c).await?, ErrorCode::BinaryFrame);
    still_open(&mut c).await?;

    // Fatal join errors close with their documented codes.
    c.send(&join(SessionId::random(), "whatever", PROTOCOL_VERSION))
        .await?;
    expect_fatal(&mut c, ErrorCode::UnknownSession, 4404).await?;
    let mut c = Signal::connect(&ws).await?;
    c.send(&join(s.id, "forged-key", PROTOCOL_VERSION)).await?;
    expect_fatal(&mut c, ErrorCode::BadKey, 4401).await?;
    // A facilitator link opened where a participant is expected cannot take over.
    let mut c = Signal::connect(&ws).await?;
    c.send(&ClientMsg::Join(Join {
        version: PROTOCOL_VERSION,
        session: s.id,
        key: s.facilitator_key.clone(),
        name: None,
        role: Some(lectern_proto::Role::Participant),
        consent: None,
    }))
    .await?;
    expect_fatal(&mut c, ErrorCode::BadKey, 4401).await?;
    let mut c = Signal::connect(&ws).await?;
    c.send(&join(s.id, &s.participant_key, 2)).await?;
    expect_fatal(&mut c, ErrorCode::UnsupportedVersion, 4400).await?;
    let mut c = Signal::connect(&ws).await?;
    c.send_text(format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(70_000)
    ))
    .await?;
    expect_fatal(&mut c, ErrorCode::TooLarge, 1009).await?;

    // After join, as a participant.
    let (mut p, _) = Signal::join(&ws, s.id, &s.participant_key, "Curious").await?;
    p.send(&join(s.id, &s.participant_key, PROTOCOL_VERSION))
        .await?;
    assert_eq!(next_error(&mut p).await?, ErrorCode::AlreadyJoined);
    p.send(&camera_offer(AV1_ONLY_OFFER, "0")).await?;
    assert_eq!(next_error(&mut p).await?, ErrorCode::Forbidden);
    p.send(&ClientMsg::EndSession).await?;
    assert_eq!(next_error(&mut p).await?, ErrorCode::Forbidden);
    p.send(&ClientMsg::Answer(Answer {
        pc: PcKind::Subscribe,
        sdp: "v=0\r\n".into(),
    }))
    .await?;
    assert_eq!(next_error(&mut p).await?, ErrorCode::BadSdp);
    still_open(&mut p).await?;

    // As a second facilitator connection: offers the server cannot take. (This connection
    // replaces the running publisher's signalling, so use a second session for it.)
    let other = t.server.create_session("Another course", "Side session")?;
    let (mut f, _) = Signal::join(&ws, other.id, &other.facilitator_key, "Facilitator").await?;
    f.send(&camera_offer(AV1_ONLY_OFFER, "0")).await?;
    assert_eq!(next_error(&mut f).await?, ErrorCode::UnsupportedCodec);
    f.send(&ClientMsg::Offer(Offer {
        pc: PcKind::Publish,
        sdp: "garbage".into(),
        tracks: vec![],
    }))
    .await?;
    assert_eq!(next_error(&mut f).await?, ErrorCode::BadSdp);
    f.send(&camera_offer(AV1_ONLY_OFFER, "7")).await?;
    assert_eq!(next_error(&mut f).await?, ErrorCode::BadTrack);
    still_open(&mut f).await?;

    // The live session carried on throughout.
    let after = viewer.count(cam);
    viewer
        .wait_for_packets(cam, after + 30, Duration::from_secs(5))
        .await?;
    assert!(after > before);
    assert!(viewer.ended().is_none());

    publisher.stop().await?;
    viewer.stop().await?;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_http_paths_are_refused() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let base = t.http_url();
    for path in [
        "/../Cargo.toml",
        "/js/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/.git/config",
        "//etc/passwd",
        "/nope.js",
    ] {
        let status = http_status(&base, path).await?;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(http_status(&base, "/").await?, 200);
    assert_eq!(
        http_status(&base, &format!("/watch/{}", t.session.id)).await?,
        200
    );
    assert_eq!(http_status(&base, "/healthz").await?, 200);
    t.stop().await;
    Ok(())
}

/// A minimal HTTP/1.1 GET over a raw socket, so paths reach the server unnormalised.
async fn http_status(base: &str, path: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(host).await?;
    sock.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    sock.read_to_end(&mut buf).await?;
    let head = String::from_utf8_lossy(&buf);
    let status = head
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no status in {head}"))?;
    Ok(status.parse()?)
}
