//! A small driver for headless Firefox over WebDriver BiDi (Firefox's built-in remote protocol,
//! no geckodriver needed), enough for a smoke test of the web client: open tabs, evaluate
//! JavaScript, read results.
//!
//! Firefox runs with a fresh profile whose preferences give it a fake camera and microphone
//! without a prompt, and allow ICE over loopback (off by default in Firefox).

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

use crate::browser::{wait_until_true, Scripted};

/// The Firefox binary: `$LECTERN_FIREFOX`, or Debian's `/usr/bin/firefox-esr`.
pub fn firefox_path() -> PathBuf {
    std::env::var_os("LECTERN_FIREFOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/firefox-esr"))
}

const PREFS: &str = r#"
user_pref("media.navigator.streams.fake", true);
user_pref("media.navigator.permission.disabled", true);
user_pref("media.autoplay.default", 0);
user_pref("media.autoplay.blocking_policy", 0);
user_pref("media.peerconnection.ice.loopback", true);
user_pref("media.peerconnection.ice.obfuscate_host_addresses", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("app.update.disabledForTesting", true);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("remote.prefs.recommended", true);
"#;

/// A running headless Firefox.
pub struct Firefox {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    profile: PathBuf,
    /// Console messages and errors of all tabs, newest last.
    logs: Vec<String>,
}

/// A tab (browsing context).
#[derive(Clone, Debug)]
pub struct Tab {
    context: String,
}

impl Firefox {
    /// Starts Firefox. Fails with a clear message when it is not installed.
    pub async fn launch() -> anyhow::Result<Firefox> {
        let bin = firefox_path();
        if !bin.exists() {
            bail!(
                "Firefox is missing at {} (install Debian's `firefox-esr` package, or set LECTERN_FIREFOX)",
                bin.display()
            );
        }
        let profile = std::env::temp_dir().join(format!(
            "lectern-firefox-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&profile)?;
        std::fs::write(profile.join("user.js"), PREFS)?;
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-remote",
                "--remote-debugging-port",
                "0",
                "--profile",
            ])
            .arg(&profile)
            .arg("about:blank")
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.split("WebDriver BiDi listening on ").nth(1) {
                    return Ok(url.trim().to_string());
                }
            }
            Err(anyhow!("Firefox exited before opening WebDriver BiDi"))
        })
        .await
        .map_err(|_| anyhow!("Firefox did not open WebDriver BiDi within 60 s"))??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(format!("{url}/session")).await?;
        let mut ff = Firefox {
            child,
            ws,
            next_id: 1,
            profile,
            logs: Vec::new(),
        };
        ff.call("session.new", json!({"capabilities": {}})).await?;
        ff.call("session.subscribe", json!({"events": ["log.entryAdded"]}))
            .await?;
        Ok(ff)
    }

    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws.send(Message::text(msg.to_string())).await?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .map_err(|_| anyhow!("no answer to {method} within 60 s"))?
                .ok_or_else(|| anyhow!("BiDi connection closed"))??;
            let Message::Text(t) = frame else { continue };
            let v: Value = serde_json::from_str(t.as_str())?;
            if v.get("method").and_then(Value::as_str) == Some("log.entryAdded") {
                let e = &v["params"];
                self.logs.push(format!(
                    "{} {}: {}",
                    e["type"].as_str().unwrap_or(""),
                    e["level"].as_str().unwrap_or(""),
                    e["text"].as_str().unwrap_or("")
                ));
                if self.logs.len() > 200 {
                    self.logs.remove(0);
                }
            }
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if v.get("type").and_then(Value::as_str) == Some("error") {
                    bail!("{method}: {} {}", v["error"], v["message"]);
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
        }
    }

    /// Opens a tab at `url` and waits for it to load.
    pub async fn open(&mut self, url: &str) -> anyhow::Result<Tab> {
        let r = self
            .call("browsingContext.create", json!({"type": "tab"}))
            .await?;
        let context = r["context"]
            .as_str()
            .ok_or_else(|| anyhow!("no context"))?
            .to_string();
        self.call(
            "browsingContext.navigate",
            json!({"context": context, "url": url, "wait": "complete"}),
        )
        .await?;
        Ok(Tab { context })
    }

    /// Evaluates JavaScript (awaiting promises) with user activation, and returns its value
    /// (passed through JSON).
    pub async fn eval(&mut self, tab: &Tab, expression: &str) -> anyhow::Result<Value> {
        let wrapped = format!("(async () => JSON.stringify(await ({expression})))()");
        let r = self
            .call(
                "script.evaluate",
                json!({
                    "expression": wrapped,
                    "target": {"context": tab.context},
                    "awaitPromise": true,
                    "userActivation": true,
                }),
            )
            .await?;
        if r["type"] == "exception" {
            bail!("script failed: {}", r["exceptionDetails"]["text"]);
        }
        match r["result"]["value"].as_str() {
            Some(json) => Ok(serde_json::from_str(json).unwrap_or(Value::Null)),
            None => Ok(Value::Null),
        }
    }

    /// Evaluates `expression` until it returns `true`.
    pub async fn wait_for(
        &mut self,
        tab: &Tab,
        expression: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        wait_until_true(self, tab, expression, timeout).await
    }

    /// Console output and errors seen so far (all tabs).
    pub fn logs(&self) -> &[String] {
        &self.logs
    }

    /// Quits Firefox and removes its profile.
    pub async fn quit(mut self) {
        let _ = self.call("browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Scripted for Firefox {
    type Page = Tab;
    async fn eval_in(&mut self, tab: &Tab, expression: &str) -> anyhow::Result<Value> {
        self.eval(tab, expression).await
    }
    fn log_lines(&self) -> &[String] {
        &self.logs
    }
    fn name(&self) -> &'static str {
        "Firefox"
    }
}
