//! Steps on the web client's pages shared by the browser tests.

use std::time::Duration;

use lectern_testkit::browser::{Browser, Page};

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
