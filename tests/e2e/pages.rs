//! Steps on the web client's pages shared by the browser tests.

use std::time::Duration;

use lectern_e2e::TestServer;
use lectern_testkit::browser::{Browser, Page};
use lectern_testkit::http;
use serde_json::Value;

/// How long a page step may take.
pub const LONG: Duration = Duration::from_secs(30);

/// Opens the facilitator page at `url` (with `script` run before the page's own, if given),
/// waits for the camera preview, and goes live.
pub async fn go_live(b: &mut Browser, url: &str, script: Option<&str>) -> anyhow::Result<Page> {
    let fac = match script {
        Some(s) => b.open_with_script(url, s).await?,
        None => b.open(url).await?,
    };
    b.wait_for(
        &fac,
        "document.getElementById('camera-preview').videoWidth > 0 && !document.getElementById('go-live').disabled",
        LONG,
    )
    .await?;
    b.eval(&fac, "document.getElementById('go-live').click(); true")
        .await?;
    b.wait_for(&fac, "document.body.dataset.state === 'live'", LONG)
        .await?;
    Ok(fac)
}

/// The facilitator shares the screen and sees its preview.
pub async fn share_screen(b: &mut Browser, fac: &Page) -> anyhow::Result<()> {
    b.eval(fac, "document.getElementById('share-screen').click(); true")
        .await?;
    b.wait_for(
        fac,
        "document.getElementById('screen-preview').videoWidth > 0",
        LONG,
    )
    .await
}

/// Opens the demo session's facilitator page and waits until its signalling is connected.
pub async fn open_facilitator(b: &mut Browser, t: &TestServer) -> anyhow::Result<Page> {
    let s = &t.session;
    let fac = b
        .open(&format!(
            "{}/facilitate/{}#k={}",
            t.http_url(),
            s.id,
            s.facilitator_key
        ))
        .await?;
    b.wait_for(
        &fac,
        "window.lecternClient && window.lecternClient.connectionState === 'connected'",
        LONG,
    )
    .await?;
    Ok(fac)
}

/// Opens the participant page at `url` and joins as `name`, accepting the recording notice.
pub async fn join_participant(b: &mut Browser, url: &str, name: &str) -> anyhow::Result<Page> {
    let p = b.open(url).await?;
    // The page's module must have loaded (it sets `window.lecternClient`) before the click.
    b.wait_for(
        &p,
        "!!window.lecternClient && !!document.getElementById('join')",
        LONG,
    )
    .await?;
    b.eval(
        &p,
        &format!(
            "document.getElementById('display-name').value = {name:?}; \
             document.getElementById('join').click(); true"
        ),
    )
    .await?;
    Ok(p)
}

/// An HTTP call to the server with `Authorization: Bearer <key>`: the status and the body as JSON
/// (`Null` when it is not JSON).
pub async fn api(
    t: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let bearer = format!("Bearer {key}");
    let headers = [("Authorization", bearer.as_str())];
    let addr = t.server.http_addr.to_string();
    let r = match body {
        Some(b) => {
            let text = b.to_string();
            http::request_with_body(
                &addr,
                method,
                path,
                &headers,
                "application/json",
                text.as_bytes(),
            )
            .await?
        }
        None => http::request(&addr, method, path, &headers).await?,
    };
    Ok((r.status, r.json().unwrap_or(Value::Null)))
}

/// Records every WebSocket's close code in `window.lecternCloseCodes` (run before the page).
pub const RECORD_CLOSE_CODES: &str = "window.lecternCloseCodes = []; \
    (() => { const Real = window.WebSocket; \
      window.WebSocket = class extends Real { constructor(...a) { super(...a); \
        this.addEventListener('close', (e) => window.lecternCloseCodes.push(e.code)); } }; })();";

/// Opens the course page with `key` and waits until it has loaded (or refused the key).
pub async fn open_course(b: &mut Browser, base: &str, key: &str) -> anyhow::Result<Page> {
    let page = b.open(&format!("{base}/course#k={key}")).await?;
    b.wait_for(
        &page,
        "['ready', 'error'].includes(document.body.dataset.state)",
        LONG,
    )
    .await?;
    Ok(page)
}

/// Follows the course page's button for `session` in the same tab.
pub async fn follow_session(b: &mut Browser, course: &Page, session: &str) -> anyhow::Result<()> {
    b.eval(
        course,
        &format!(
            "document.querySelector('.session-item[data-session={session:?}] a.session-open').click(); true"
        ),
    )
    .await?;
    Ok(())
}

/// The facilitator presses `action` (`stage-on`, `stage-off`, `remove`, …) on the person named
/// `name` in the people list.
pub async fn person_action(
    b: &mut Browser,
    fac: &Page,
    name: &str,
    action: &str,
) -> anyhow::Result<()> {
    let find = format!(
        "[...document.querySelectorAll('#people-list .person')].find(li => li.textContent.includes({name:?}))"
    );
    b.wait_for(
        fac,
        &format!("!!({find})?.querySelector('[data-action={action:?}]')"),
        LONG,
    )
    .await?;
    b.eval(
        fac,
        &format!("({find}).querySelector('[data-action={action:?}]').click(); true"),
    )
    .await?;
    Ok(())
}

/// How many frames a video element has shown.
pub async fn frames_shown(b: &mut Browser, page: &Page, video: &str) -> anyhow::Result<u64> {
    let v = b
        .eval(
            page,
            &format!(
                "(() => {{ const v = document.getElementById({video:?}); \
                 return v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0; }})()"
            ),
        )
        .await?;
    Ok(v.as_u64().unwrap_or(0))
}

/// Waits until a video element plays a picture whose frames keep coming.
pub async fn video_plays(b: &mut Browser, page: &Page, video: &str) -> anyhow::Result<()> {
    b.wait_for(
        page,
        &format!("document.getElementById({video:?}).videoWidth > 0"),
        LONG,
    )
    .await?;
    let before = frames_shown(b, page, video).await?;
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = frames_shown(b, page, video).await?;
        if now > before + 5 {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "#{video}: frames do not advance ({before} → {now})"
        );
    }
}
