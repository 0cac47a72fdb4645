//! Smoke test of the web client in headless Firefox (Debian's `firefox-esr`, driven over
//! WebDriver BiDi, no geckodriver needed).
//!
//! Firefox gathers no loopback ICE candidates here (even with
//! `media.peerconnection.ice.loopback`), and Firefox never pairs a non-loopback local candidate
//! with the server's loopback one, so media between Firefox and a server on 127.0.0.1 cannot
//! flow on this machine. What this test proves in Firefox: the pages and their modules load
//! without script errors, the facilitator page gets the (fake) camera and microphone, and a
//! participant joins over the signalling WebSocket and follows the session's state (live while
//! a Chromium facilitator broadcasts, then ended). Media in Firefox needs a test network of
//! namespaces (a later step).

use std::time::Duration;

use lectern_e2e::TestServer;
use lectern_testkit::browser::Browser;
use lectern_testkit::firefox::Firefox;

const LONG: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_load_and_follow_the_session_in_firefox() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let mut ff = Firefox::launch().await?;

    // The start page and the facilitator page load; the preview shows the fake camera.
    let home = ff.open(&t.http_url()).await?;
    ff.wait_for(
        &home,
        "document.readyState === 'complete' && !!document.querySelector('form')",
        LONG,
    )
    .await?;
    let fac_url = format!(
        "{}/facilitate/{}#k={}",
        t.http_url(),
        s.id,
        s.facilitator_key
    );
    let preview = ff.open(&fac_url).await?;
    ff.wait_for(
        &preview,
        "document.getElementById('camera-preview').videoWidth > 0 && !document.getElementById('go-live').disabled",
        LONG,
    )
    .await?;

    // A Chromium facilitator goes live (this one replaces the Firefox preview's connection).
    let mut chromium = Browser::launch().await?;
    let fac = chromium.open(&fac_url).await?;
    chromium
        .wait_for(
            &fac,
            "document.getElementById('camera-preview').videoWidth > 0 && !document.getElementById('go-live').disabled",
            LONG,
        )
        .await?;
    chromium
        .eval(&fac, "document.getElementById('go-live').click(); true")
        .await?;
    chromium
        .wait_for(&fac, "document.body.dataset.state === 'live'", LONG)
        .await?;

    // A Firefox participant joins and follows the session.
    let p = ff
        .open(&format!(
            "{}/watch/{}#k={}",
            t.http_url(),
            s.id,
            s.participant_key
        ))
        .await?;
    ff.wait_for(
        &p,
        "!!window.lecternClient && !!document.getElementById('join')",
        LONG,
    )
    .await?;
    ff.eval(
        &p,
        "(document.getElementById('display-name').value = 'Firefox participant', document.getElementById('join').click())",
    )
    .await?;
    // `joined` arrived with the live session's two tracks (media itself cannot reach Firefox
    // over loopback, see above).
    ff.wait_for(
        &p,
        "window.lecternClient.role === 'participant' && window.lecternClient.sessionState === 'live' && window.lecternClient.tracks.size >= 2",
        LONG,
    )
    .await?;

    chromium
        .eval(&fac, "document.getElementById('end-session').click(); true")
        .await?;
    chromium
        .wait_for(
            &fac,
            "document.getElementById('end-session-confirm').offsetParent !== null",
            LONG,
        )
        .await?;
    chromium
        .eval(
            &fac,
            "document.getElementById('end-session-confirm').click(); true",
        )
        .await?;
    ff.wait_for(&p, "document.body.dataset.state === 'ended'", LONG)
        .await?;
    let errors: Vec<&String> = ff
        .logs()
        .iter()
        // Expected noise: media cannot flow over loopback (see above), and the preview tab's
        // connection is replaced by the Chromium facilitator's.
        .filter(|l| {
            l.contains("error")
                && !l.contains("ICE failed")
                && !l.contains("was interrupted while the page was loading")
        })
        .collect();
    assert!(errors.is_empty(), "script errors in Firefox: {errors:?}");

    chromium.quit().await;
    ff.quit().await;
    t.stop().await;
    Ok(())
}
