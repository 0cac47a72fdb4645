//! The signalling client.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use lectern_proto::{ClientMsg, Join, Joined, ServerMsg, SessionId, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A signalling WebSocket.
pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Signal {
    /// Opens `ws_url` (e.g. `ws://127.0.0.1:8080/ws`).
    pub async fn connect(ws_url: &str) -> anyhow::Result<Signal> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .with_context(|| format!("connecting to {ws_url}"))?;
        Ok(Signal { ws })
    }

    /// Connects and joins; returns the `joined` frame.
    pub async fn join(
        ws_url: &str,
        session: SessionId,
        key: &str,
        name: &str,
    ) -> anyhow::Result<(Signal, Joined)> {
        let mut s = Signal::connect(ws_url).await?;
        s.send(&ClientMsg::Join(Join {
            version: PROTOCOL_VERSION,
            session,
            key: key.to_string(),
            name: Some(name.to_string()),
            role: None,
            consent: Some(lectern_proto::NOTICE_VERSION.to_string()),
        }))
        .await?;
        loop {
            match s.recv(Duration::from_secs(10)).await? {
                ServerMsg::Joined(j) => return Ok((s, *j)),
                ServerMsg::Error(e) => bail!("join refused: {} ({})", e.code, e.message),
                _ => continue,
            }
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.send_text(serde_json::to_string(msg)?).await
    }

    /// Sends any text, valid or not (for bad-input tests).
    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a binary frame (for bad-input tests).
    pub async fn send_binary(&mut self, data: Vec<u8>) -> anyhow::Result<()> {
        self.ws.send(Message::binary(data)).await?;
        Ok(())
    }

    /// The next server frame, skipping nothing.
    pub async fn recv(&mut self, timeout: Duration) -> anyhow::Result<ServerMsg> {
        loop {
            let frame = tokio::time::timeout(timeout, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame within {timeout:?}"))?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .with_context(|| format!("server sent {t}"));
                }
                Some(Ok(Message::Close(c))) => bail!("closed: {c:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => bail!("websocket: {e}"),
                None => bail!("websocket ended"),
            }
        }
    }

    /// The next frame, or the close code if the server closes.
    pub async fn recv_or_close(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<Result<ServerMsg, Option<u16>>> {
        loop {
            let frame = tokio::time::timeout(timeout, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame within {timeout:?}"))?;
            match frame {
                Some(Ok(Message::Text(t))) => return Ok(Ok(serde_json::from_str(t.as_str())?)),
                Some(Ok(Message::Close(c))) => return Ok(Err(c.map(|c| u16::from(c.code)))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Ok(Err(None)),
            }
        }
    }

    /// Waits for a frame matching `f`, discarding others.
    pub async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&ServerMsg) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.recv(left).await?;
            if let Some(t) = f(&m) {
                return Ok(t);
            }
        }
    }

    /// The raw stream, for clients that multiplex it with other work.
    pub(crate) async fn next_msg(&mut self) -> Option<anyhow::Result<ServerMsg>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).map_err(Into::into))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}
