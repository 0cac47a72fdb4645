//! A small driver for headless Chromium over the DevTools protocol (a WebSocket carrying
//! JSON-RPC), enough for end-to-end tests: open pages, evaluate JavaScript, read results.
//!
//! Chromium runs with a fake camera, microphone and screen
//! (`--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`) and a fresh profile.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The Chromium binary: `$LECTERN_CHROMIUM`, or Debian's `/usr/bin/chromium`.
pub fn chromium_path() -> PathBuf {
    std::env::var_os("LECTERN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// A running headless Chromium.
pub struct Browser {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    profile: PathBuf,
    /// Console messages and uncaught exceptions of all pages, newest last.
    logs: Vec<String>,
}

/// What both browser drivers offer, so they share [`wait_until_true`].
pub(crate) trait Scripted {
    type Page;
    /// Evaluates JavaScript in a page and returns its value.
    async fn eval_in(&mut self, page: &Self::Page, expression: &str) -> anyhow::Result<Value>;
    /// The browser's recent console output.
    fn log_lines(&self) -> &[String];
    /// The browser's name, for messages.
    fn name(&self) -> &'static str;
}

/// Evaluates `expression` every 100 ms until it returns `true`; on timeout the error carries the
/// last value and the browser's recent console output.
pub(crate) async fn wait_until_true<B: Scripted>(
    b: &mut B,
    page: &B::Page,
    expression: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        match b.eval_in(page, expression).await {
            Ok(Value::Bool(true)) => return Ok(()),
            Ok(v) => last = v,
            Err(e) => last = json!(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = b.log_lines();
    let recent = lines[lines.len().saturating_sub(15)..].join("\n  ");
    bail!(
        "`{expression}` not true within {timeout:?} in {} (last: {last})\npage log:\n  {recent}",
        b.name()
    )
}

impl Scripted for Browser {
    type Page = Page;
    async fn eval_in(&mut self, page: &Page, expression: &str) -> anyhow::Result<Value> {
        self.eval(page, expression).await
    }
    fn log_lines(&self) -> &[String] {
        &self.logs
    }
    fn name(&self) -> &'static str {
        "Chromium"
    }
}

/// A page (tab) of the browser.
#[derive(Clone, Debug)]
pub struct Page {
    session: String,
    target: String,
}

impl Browser {
    /// Starts Chromium. Fails with a clear message when it is not installed.
    pub async fn launch() -> anyhow::Result<Browser> {
        let bin = chromium_path();
        if !bin.exists() {
            bail!(
                "Chromium is missing at {} (install Debian's `chromium` package, or set LECTERN_CHROMIUM)",
                bin.display()
            );
        }
        let profile = std::env::temp_dir().join(format!(
            "lectern-chromium-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&profile)?;
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                // Every tab runs as if in front: painted test media keeps its frame rate.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return Ok(url.trim().to_string());
                }
            }
            Err(anyhow!("Chromium exited before opening DevTools"))
        })
        .await
        .map_err(|_| anyhow!("Chromium did not open DevTools within 30 s"))??;
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        Ok(Browser {
            child,
            ws,
            next_id: 1,
            profile,
            logs: Vec::new(),
        })
    }

    /// Sends a command (to a page when `session` is given) and waits for its result.
    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).await?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .map_err(|_| anyhow!("no answer to {method} within 60 s"))?
                .ok_or_else(|| anyhow!("DevTools connection closed"))??;
            let Message::Text(t) = frame else { continue };
            let v: Value = serde_json::from_str(t.as_str())?;
            self.record_log(&v);
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = v.get("error") {
                    bail!("{method}: {e}");
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
        }
    }

    fn record_log(&mut self, v: &Value) {
        let line = match v.get("method").and_then(Value::as_str) {
            Some("Runtime.consoleAPICalled") => {
                let args: Vec<String> = v["params"]["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                x.get("value")
                                    .map(|v| v.to_string())
                                    .or_else(|| x.get("description").map(|d| d.to_string()))
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "console.{}: {}",
                    v["params"]["type"].as_str().unwrap_or("log"),
                    args.join(" ")
                )
            }
            Some("Runtime.exceptionThrown") => format!(
                "exception: {}",
                v["params"]["exceptionDetails"]["exception"]["description"]
            ),
            _ => return,
        };
        self.logs.push(line);
        if self.logs.len() > 200 {
            self.logs.remove(0);
        }
    }

    /// Console output and exceptions seen so far (all pages).
    pub fn logs(&self) -> &[String] {
        &self.logs
    }

    /// Opens a new tab at `url`.
    pub async fn open(&mut self, url: &str) -> anyhow::Result<Page> {
        let r = self
            .call(None, "Target.createTarget", json!({"url": url}))
            .await?;
        let target = r["targetId"]
            .as_str()
            .ok_or_else(|| anyhow!("no targetId"))?
            .to_string();
        let r = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await?;
        let session = r["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId"))?
            .to_string();
        self.call(Some(&session), "Runtime.enable", json!({}))
            .await?;
        Ok(Page { session, target })
    }

    /// Opens a new tab at `url` with `script` run in every document before the page's own
    /// scripts (to replace `getUserMedia` with painted canvases, for example).
    pub async fn open_with_script(&mut self, url: &str, script: &str) -> anyhow::Result<Page> {
        let page = self.open("about:blank").await?;
        self.call(Some(&page.session), "Page.enable", json!({}))
            .await?;
        self.call(
            Some(&page.session),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        )
        .await?;
        self.call(Some(&page.session), "Page.navigate", json!({ "url": url }))
            .await?;
        Ok(page)
    }

    /// Evaluates JavaScript in the page (awaiting promises) as if from a user gesture, and
    /// returns the value. An exception becomes an error.
    pub async fn eval(&mut self, page: &Page, expression: &str) -> anyhow::Result<Value> {
        let r = self
            .call(
                Some(&page.session),
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("script failed: {}", e);
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expression` until it returns `true`.
    pub async fn wait_for(
        &mut self,
        page: &Page,
        expression: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        wait_until_true(self, page, expression, timeout).await
    }

    /// A PNG screenshot of the page.
    pub async fn screenshot(&mut self, page: &Page) -> anyhow::Result<Vec<u8>> {
        use base64::Engine;
        let r = self
            .call(
                Some(&page.session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .await?;
        let data = r["data"].as_str().ok_or_else(|| anyhow!("no screenshot"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }

    /// Closes a tab.
    pub async fn close(&mut self, page: &Page) -> anyhow::Result<()> {
        self.call(None, "Target.closeTarget", json!({"targetId": page.target}))
            .await?;
        Ok(())
    }

    /// Quits Chromium and removes its profile.
    pub async fn quit(mut self) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
