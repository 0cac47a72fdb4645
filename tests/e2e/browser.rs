//! The web client in real headless Chromium with a fake camera, microphone and screen: a
//! facilitator goes live with camera, microphone and a screen share; two participants decode
//! both videos and receive audio; the facilitator ends the session and the participants show it.

use std::time::Duration;

use lectern_e2e::{TestServer, UdpBlock};
use lectern_testkit::browser::{Browser, Page};

use crate::pages::LONG;
use crate::pages::{self, join_participant};
use serde_json::Value;

/// Inbound RTP stats of the participant's subscribe connection, as
/// `[{kind, framesDecoded, frameWidth, packetsReceived, totalSamplesReceived}]`.
const INBOUND: &str = r#"(async () => {
  const pc = window.lecternClient && window.lecternClient.subscribePc;
  if (!pc) return [];
  const out = [];
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp') out.push({kind: r.kind, mid: r.mid,
      framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0,
      packetsReceived: r.packetsReceived || 0,
      totalSamplesReceived: r.totalSamplesReceived || 0});
  });
  return out;
})()"#;

async fn inbound(b: &mut Browser, p: &Page) -> anyhow::Result<Vec<Value>> {
    Ok(b.eval(p, INBOUND)
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn video_frames(stats: &[Value]) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = stats
        .iter()
        .filter(|s| s["kind"] == "video")
        .map(|s| {
            (
                s["framesDecoded"].as_u64().unwrap_or(0),
                s["frameWidth"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    v.sort_unstable();
    v
}

async fn state(b: &mut Browser, p: &Page) -> String {
    b.eval(p, "document.body.dataset.state || ''")
        .await
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Opens the facilitator page of the test's session and goes live.
async fn go_live(b: &mut Browser, t: &TestServer) -> anyhow::Result<Page> {
    let s = &t.session;
    let url = format!(
        "{}/facilitate/{}#k={}",
        t.http_url(),
        s.id,
        s.facilitator_key
    );
    pages::go_live(b, &url, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facilitator_and_two_participants_in_chromium() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let mut b = Browser::launch().await?;

    // The facilitator previews, goes live, and shares the screen.
    let fac = go_live(&mut b, &t).await?;
    pages::share_screen(&mut b, &fac).await?;

    // Two participants join and decode camera and screen, and receive audio.
    let watch = format!("{}/watch/{}#k={}", t.http_url(), s.id, s.participant_key);
    let p1 = join_participant(&mut b, &watch, "Officer One").await?;
    let p2 = join_participant(&mut b, &watch, "Officer Two").await?;
    for p in [&p1, &p2] {
        b.wait_for(p, "document.body.dataset.state === 'live'", LONG)
            .await?;
        b.wait_for(
            p,
            "document.getElementById('camera').videoWidth > 0 && document.getElementById('screen').videoWidth > 0",
            LONG,
        )
        .await?;
    }
    let first = [inbound(&mut b, &p1).await?, inbound(&mut b, &p2).await?];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = [inbound(&mut b, &p1).await?, inbound(&mut b, &p2).await?];
    for i in 0..2 {
        let a = video_frames(&first[i]);
        let z = video_frames(&second[i]);
        assert_eq!(
            z.len(),
            2,
            "participant {i}: two video streams: {:?}",
            second[i]
        );
        for (before, after) in a.iter().zip(&z) {
            assert!(
                after.0 > before.0,
                "participant {i}: frames decoded keep growing {a:?} → {z:?}"
            );
            assert!(after.1 > 0, "participant {i}: non-zero frame size");
        }
        let audio: Vec<&Value> = second[i].iter().filter(|s| s["kind"] == "audio").collect();
        assert_eq!(audio.len(), 1, "participant {i}: one audio stream");
        assert!(
            audio[0]["packetsReceived"].as_u64().unwrap_or(0) > 50,
            "participant {i}: audio flows"
        );
        assert!(
            audio[0]["totalSamplesReceived"].as_u64().unwrap_or(0) > 0,
            "participant {i}: audio decodes"
        );
    }
    // RTCP reports flow both ways: the server's sender reports (the publisher's, translated to
    // each viewer's stream, with that viewer's own counts) reach participants, its receiver
    // reports reach the facilitator.
    let reports = r#"(async (pcName, type) => {
      const pc = window.lecternClient[pcName];
      let n = 0;
      (await pc.getStats()).forEach(r => {
        if (r.type === type && (type !== 'remote-outbound-rtp' || r.packetsSent > 0)) n++;
      });
      return n;
    })"#;
    b.wait_for(
        &p1,
        &format!("{reports}('subscribePc', 'remote-outbound-rtp').then(n => n >= 2)"),
        LONG,
    )
    .await?;
    b.wait_for(
        &fac,
        &format!("{reports}('publishPc', 'remote-inbound-rtp').then(n => n >= 2)"),
        LONG,
    )
    .await?;

    let widths = b
        .eval(&p1, "[document.getElementById('camera').videoWidth, document.getElementById('screen').videoWidth]")
        .await?;
    println!("participant sees camera and screen at widths {widths}");

    // Time from join to the first decoded camera frame, over ten joins.
    let mut joins = Vec::new();
    for i in 0..10 {
        let p = b.open(&watch).await?;
        b.wait_for(
            &p,
            "!!window.lecternClient && !!document.getElementById('join')",
            LONG,
        )
        .await?;
        let ms = b
            .eval(
                &p,
                &format!(
                    r#"(async () => {{
                      document.getElementById('display-name').value = 'Join {i}';
                      const t0 = performance.now();
                      document.getElementById('join').click();
                      while (performance.now() - t0 < 20000) {{
                        const pc = window.lecternClient && window.lecternClient.subscribePc;
                        if (pc) {{
                          let decoded = 0;
                          (await pc.getStats()).forEach(r => {{
                            if (r.type === 'inbound-rtp' && r.kind === 'video') decoded = Math.max(decoded, r.framesDecoded || 0);
                          }});
                          if (decoded > 0) return performance.now() - t0;
                        }}
                        await new Promise(r => setTimeout(r, 5));
                      }}
                      return -1;
                    }})()"#
                ),
            )
            .await?
            .as_f64()
            .unwrap_or(-1.0);
        assert!(ms > 0.0, "join {i} decoded no frame within 20 s");
        joins.push(ms);
        b.close(&p).await?;
    }
    joins.sort_by(f64::total_cmp);
    let median = (joins[4] + joins[5]) / 2.0;
    println!("join → first decoded frame: median {median:.0} ms over 10 joins ({joins:.0?})");
    assert!(median < 3000.0, "median join time {median} ms");

    // Muting the microphone is a toggle that disables the sent track; the layout switch cycles.
    b.eval(&fac, "document.getElementById('mute-mic').click(); true")
        .await?;
    b.wait_for(
        &fac,
        "document.getElementById('mute-mic').getAttribute('aria-pressed') === 'true' && \
         window.lecternClient.publishPc.getSenders().some(s => s.track && s.track.kind === 'audio' && !s.track.enabled)",
        LONG,
    )
    .await?;
    b.eval(&fac, "document.getElementById('mute-mic').click(); true")
        .await?;
    b.wait_for(
        &fac,
        "document.getElementById('mute-mic').getAttribute('aria-pressed') === 'false'",
        LONG,
    )
    .await?;
    let layout = "document.getElementById('stage').dataset.layout";
    let before = b.eval(&p1, layout).await?;
    b.eval(
        &p1,
        "document.getElementById('layout-toggle').click(); true",
    )
    .await?;
    let after = b.eval(&p1, layout).await?;
    assert_ne!(before, after, "the layout switch changes the layout");

    // Stopping the screen share renegotiates; participants lose the screen, keep the camera.
    b.eval(
        &fac,
        "document.getElementById('share-screen').click(); true",
    )
    .await?;
    for p in [&p1, &p2] {
        b.wait_for(
            p,
            "document.getElementById('screen').srcObject === null",
            LONG,
        )
        .await?;
        b.wait_for(p, "document.getElementById('camera').videoWidth > 0", LONG)
            .await?;
    }

    // Sharing again (the browser reuses the stopped transceiver) brings the screen back.
    b.eval(
        &fac,
        "document.getElementById('share-screen').click(); true",
    )
    .await?;
    for p in [&p1, &p2] {
        b.wait_for(p, "document.getElementById('screen').videoWidth > 0", LONG)
            .await?;
    }

    // A page reload of the facilitator pauses the session; the page comes back live on its own
    // (it remembers it was live) and the participants resume. Each participant page records the
    // states it shows, so a short pause is not missed between two polls.
    for p in [&p1, &p2] {
        b.eval(
            p,
            "window.__states = []; new MutationObserver(() => window.__states.push(document.body.dataset.state))\
             .observe(document.body, {attributes: true, attributeFilter: ['data-state']}); true",
        )
        .await?;
    }
    b.eval(&fac, "location.reload(); true").await?;
    b.wait_for(
        &fac,
        "!!window.lecternClient && document.body.dataset.state === 'live'",
        LONG,
    )
    .await?;
    for p in [&p1, &p2] {
        b.wait_for(
            p,
            "window.__states.includes('paused') && document.body.dataset.state === 'live'",
            LONG,
        )
        .await?;
    }
    let before = video_frames(&inbound(&mut b, &p1).await?);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = video_frames(&inbound(&mut b, &p1).await?);
    let total = |v: &[(u64, u64)]| v.iter().map(|f| f.0).sum::<u64>();
    assert!(
        total(&after) > total(&before) + 10,
        "camera frames keep being decoded after the facilitator came back: {before:?} → {after:?}"
    );

    // The facilitator ends the session; both participants show it.
    b.eval(&fac, "document.getElementById('end-session').click(); true")
        .await?;
    b.wait_for(&fac, "!!document.getElementById('end-session-confirm') && document.getElementById('end-session-confirm').offsetParent !== null", LONG).await?;
    b.eval(
        &fac,
        "document.getElementById('end-session-confirm').click(); true",
    )
    .await?;
    for p in [&p1, &p2] {
        b.wait_for(p, "document.body.dataset.state === 'ended'", LONG)
            .await?;
    }
    assert_eq!(state(&mut b, &fac).await, "ended");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !t.server.session(s.id).is_some_and(|s| s.ended) {
        assert!(
            std::time::Instant::now() < deadline,
            "the catalogue records the end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    b.quit().await;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_falls_back_to_ice_tcp_when_udp_is_blocked() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let _block = UdpBlock::new(t.server.media_addr.port())?;
    let mut b = Browser::launch().await?;
    let _facilitator = go_live(&mut b, &t).await?;
    let watch = format!("{}/watch/{}#k={}", t.http_url(), s.id, s.participant_key);
    let p = join_participant(&mut b, &watch, "Behind a firewall").await?;
    b.wait_for(&p, "document.getElementById('camera').videoWidth > 0", LONG)
        .await?;
    let protocol = b
        .eval(
            &p,
            r#"(async () => {
              const stats = await window.lecternClient.subscribePc.getStats();
              let pair = null;
              stats.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
              if (!pair) stats.forEach(r => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
              return pair ? stats.get(pair.localCandidateId).protocol : 'none';
            })()"#,
        )
        .await?;
    assert_eq!(protocol, "tcp", "media must flow over ICE-TCP");
    b.quit().await;
    t.stop().await;
    Ok(())
}
