//! One signalling WebSocket: checks the `join`, then relays frames between the client and its
//! room task. Errors become `error` frames and close codes in one place, [`reply_error`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use lectern_proto::{
    parse_client_frame, ClientMsg, ErrorCode, Join, PeerId, ProtocolError, ServerMsg, SessionId,
    NOTICE_VERSION, PROTOCOL_VERSION,
};
use lectern_room::Admission;
use lectern_sfu::{Control, Outbound, RoomHandle, OUTBOUND_QUEUE};
use lectern_store::{Consent, Invite, InviteUse};
use tokio::sync::mpsc;

use crate::AppState;

/// Frames above the protocol limit are still read (up to this) so the client can be told
/// `too_large` instead of seeing a broken connection.
pub(crate) const TRANSPORT_LIMIT: usize = 1024 * 1024;
const _: () = assert!(TRANSPORT_LIMIT > lectern_proto::MAX_FRAME_BYTES);

/// A client silent for this long is disconnected (clients ping every 10 s).
const IDLE: Duration = Duration::from_secs(30);

/// The first frame must arrive within this.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

pub(crate) async fn serve_socket(state: Arc<AppState>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let Some(admitted) = accept_join(&state, &mut sink, &mut stream).await else {
        return;
    };
    let Admitted {
        peer,
        room,
        mut out,
        ..
    } = admitted;
    let mut idle = Box::pin(tokio::time::sleep(IDLE));
    loop {
        tokio::select! {
            frame = stream.next() => {
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE);
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let e = ProtocolError::new(ErrorCode::BinaryFrame, "frames are JSON text");
                        if reply_error(&mut sink, e).await { break } else { continue }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                match parse_client_frame(text.as_str()) {
                    Ok(ClientMsg::Join(_)) => {
                        let e = ProtocolError::new(ErrorCode::AlreadyJoined, "this connection has already joined");
                        if reply_error(&mut sink, e).await { break }
                    }
                    Ok(ClientMsg::Leave) => {
                        let _ = close(&mut sink, 1000, "left").await;
                        break;
                    }
                    Ok(msg) => {
                        if room.try_send(Control::Signal { peer, msg }).is_err() {
                            let e = ProtocolError::new(ErrorCode::Busy, "the session is busy; try again");
                            if reply_error(&mut sink, e).await { break }
                        }
                    }
                    Err(e) => {
                        if reply_error(&mut sink, e).await { break }
                    }
                }
            }
            o = out.recv() => match o {
                Some(Outbound::Frame(msg)) => {
                    if send(&mut sink, &msg).await.is_err() { break }
                }
                Some(Outbound::Close { code, reason }) => {
                    let _ = close(&mut sink, code, &reason).await;
                    break;
                }
                None => {
                    let _ = close(&mut sink, 1001, "session closed").await;
                    break;
                }
            },
            _ = idle.as_mut() => {
                let _ = reply_error(&mut sink, ProtocolError::new(ErrorCode::Idle, "no frame for 30 s")).await;
                break;
            }
        }
    }
    let _ = room.send(Control::Gone { peer }).await;
    crate::audit::log(
        &state.store(),
        &admitted.invite,
        "leave",
        &admitted.session.to_string(),
        &format!("peer {peer} ({})", admitted.name),
    );
}

/// Reads frames until a valid `join`, answering everything else; `None` when the connection
/// ends or the join is refused.
async fn accept_join(
    state: &Arc<AppState>,
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Option<Admitted> {
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    loop {
        let frame = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(f))) => f,
            Ok(_) => return None,
            Err(_) => {
                let e = ProtocolError::new(ErrorCode::Idle, "no join within 15 s");
                reply_error(sink, e).await;
                return None;
            }
        };
        let text = match frame {
            Message::Text(t) => t,
            Message::Binary(_) => {
                let e = ProtocolError::new(ErrorCode::BinaryFrame, "frames are JSON text");
                if reply_error(sink, e).await {
                    return None;
                }
                continue;
            }
            Message::Close(_) => return None,
            _ => continue,
        };
        let result = match parse_client_frame(text.as_str()) {
            Ok(ClientMsg::Join(join)) => admit(state, join).await,
            Ok(ClientMsg::Ping(p)) => {
                if send(sink, &ServerMsg::Pong(p)).await.is_err() {
                    return None;
                }
                continue;
            }
            Ok(other) => Err(ProtocolError::new(
                ErrorCode::NotJoined,
                format!("send join before {}", other.type_name()),
            )),
            Err(e) => Err(e),
        };
        match result {
            Ok(admitted) => return Some(admitted),
            Err(e) => {
                if reply_error(sink, e).await {
                    return None;
                }
            }
        }
    }
}

/// A member admitted to a room.
pub(crate) struct Admitted {
    peer: PeerId,
    room: RoomHandle,
    out: mpsc::Receiver<Outbound>,
    invite: Invite,
    name: String,
    session: SessionId,
}

/// Checks a join's key (a signed invite: genuine, current, for this session's course and a
/// live role, uses left), logs consent and the join, and hands the peer to its room.
async fn admit(state: &Arc<AppState>, join: Join) -> Result<Admitted, ProtocolError> {
    if join.version != PROTOCOL_VERSION {
        return Err(ProtocolError::new(
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol version {PROTOCOL_VERSION}"),
        ));
    }
    let now = lectern_store::now_ms();
    let peer = PeerId::random();
    let (session, invite, name, consented) = {
        let store = state.store();
        let catalogue = |e: lectern_store::StoreError| {
            tracing::error!("admitting to session {}: {e}", join.session);
            ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
        };
        let session = store
            .session(join.session)
            .map_err(catalogue)?
            .ok_or_else(|| ProtocolError::new(ErrorCode::UnknownSession, "no such session"))?;
        let invite = state.keys.authenticate(&store, &join.key, now)?;
        if invite.course_id.as_deref() != Some(session.course_id.as_str()) {
            return Err(ProtocolError::new(
                ErrorCode::BadKey,
                "this link is not valid for the session",
            ));
        }
        if !invite.role.joins_live() {
            return Err(ProtocolError::new(
                ErrorCode::BadKey,
                format!("a {} link does not join live sessions", invite.role),
            ));
        }
        if join.role.is_some_and(|expected| expected != invite.role) {
            return Err(ProtocolError::new(
                ErrorCode::BadKey,
                format!("this link is not a {} link", role_name(join.role)),
            ));
        }
        if session.ended {
            return Err(ProtocolError::new(
                ErrorCode::SessionOver,
                "the session has ended",
            ));
        }
        if invite.role == lectern_proto::Role::Facilitator
            && !crate::auth::may_facilitate(&store, &invite, session.id)?
        {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "this session has other facilitators",
            ));
        }
        if store
            .use_invite(&invite.id, session.id)
            .map_err(catalogue)?
            == InviteUse::UsedUp
        {
            return Err(ProtocolError::new(
                ErrorCode::KeyUsedUp,
                "this link has been used for as many sessions as it allows",
            ));
        }
        let name = if invite.name.is_empty() {
            let chosen: String = join
                .name
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(lectern_proto::MAX_NAME_CHARS)
                .collect();
            chosen.trim().to_string()
        } else {
            invite.name.clone()
        };
        let consented = join.consent.as_deref() == Some(NOTICE_VERSION);
        if consented {
            store
                .log_consent(&Consent {
                    at_ms: now,
                    invite_id: invite.id.clone(),
                    name: name.clone(),
                    session_id: session.id.to_string(),
                    notice: NOTICE_VERSION.to_string(),
                })
                .map_err(catalogue)?;
        }
        store
            .add_session_member(&lectern_store::SessionMember {
                session_id: session.id,
                peer: peer.to_string(),
                invite_id: invite.id.clone(),
                name: name.clone(),
                role: invite.role.as_str().to_string(),
                joined_at_ms: now,
            })
            .map_err(catalogue)?;
        crate::audit::log(
            &store,
            &invite,
            "join",
            &session.id.to_string(),
            &format!("peer {peer}"),
        );
        (session, invite, name, consented)
    };
    let room = state.room_for(&session);
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    // A personal invite is one person; holders of a shared one are told apart by connection.
    let person = if invite.name.is_empty() {
        peer.to_string()
    } else {
        invite.id.clone()
    };
    let admission = Admission {
        role: invite.role,
        name: (!name.is_empty()).then(|| name.clone()),
        affiliation: invite.affiliation.clone(),
        person,
        invite: Some(invite.id.clone()),
        consented,
        receives_media: true,
    };
    let joined = room
        .send(Control::Join {
            peer,
            admission: Box::new(admission),
            out: tx,
        })
        .await;
    if !joined {
        return Err(ProtocolError::new(
            ErrorCode::SessionOver,
            "the session has ended",
        ));
    }
    Ok(Admitted {
        peer,
        room,
        out: rx,
        invite,
        name,
        session: session.id,
    })
}

async fn send(sink: &mut Sink, msg: &ServerMsg) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).unwrap_or_else(|e| {
        // Serializing our own types cannot fail short of a bug; tell the client so.
        format!(r#"{{"type":"error","code":"internal","message":"{e}","fatal":false}}"#)
    });
    sink.send(Message::Text(Utf8Bytes::from(text))).await
}

async fn close(sink: &mut Sink, code: u16, reason: &str) -> Result<(), axum::Error> {
    let reason: String = reason.chars().take(100).collect();
    sink.send(Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    })))
    .await
}

/// Sends an `error` frame and, for fatal codes, closes with the code's close code. Returns
/// whether the connection is now closed. The one place where errors meet the wire.
pub(crate) async fn reply_error(sink: &mut Sink, e: ProtocolError) -> bool {
    let code = e.code;
    let _ = send(sink, &ServerMsg::Error(e.into())).await;
    match code.close_code() {
        Some(c) => {
            let _ = close(sink, c, code.as_str()).await;
            true
        }
        None => false,
    }
}

fn role_name(role: Option<lectern_proto::Role>) -> &'static str {
    role.map_or("participant", lectern_proto::Role::as_str)
}
