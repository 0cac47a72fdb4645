//! WHIP ingest (RFC 9725): OBS Studio, GStreamer's `whipclientsink` or any WHIP client goes live
//! as the session's facilitator with one HTTP request.
//!
//! - `POST /whip/{session}` with an SDP offer (`application/sdp`) and
//!   `Authorization: Bearer <facilitator key>` → `201 Created`, the SDP answer, and `Location`
//!   of the WHIP session resource.
//! - `DELETE /whip/{session}/{resource}` (same bearer token) ends the ingest: its tracks are
//!   unpublished and the facilitator has left (the session pauses, as when a browser
//!   facilitator leaves).
//! - `PATCH` on the resource answers `405`: the server is ICE-lite with its candidates in the
//!   answer and learns the client's address from its connectivity checks, so neither trickle
//!   ICE nor ICE restarts are offered (RFC 9725 §4.3.1).
//! - `OPTIONS` on both answers CORS preflights without authentication.
//!
//! The WHIP client joins the room through the same machinery as a browser: an in-server
//! signalling peer sends [`Control::Join`] as a publish-only facilitator, then a publish offer
//! whose tracks come from the offer's m-lines ([`tracks_of_offer`]), and returns the room's
//! answer. A task drains the peer's outbound queue while the resource lives; when the room
//! closes it (replaced by a newer facilitator connection, session ended, media connection
//! lost) the resource is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use lectern_proto::{
    ClientMsg, ErrorCode, MediaKind, Offer, PcKind, PeerId, ProtocolError, PublishedMid, Role,
    ServerMsg, SessionId, Source,
};
use lectern_sfu::{Control, Outbound, RoomHandle, OUTBOUND_QUEUE};
use lectern_store::{Invite, InviteUse, Session};
use tokio::sync::{mpsc, oneshot};

use crate::auth::bearer;
use crate::AppState;

/// Largest SDP offer taken (offers are a few KiB).
pub(crate) const MAX_OFFER_BYTES: usize = 64 * 1024;

/// How long the room may take to answer an offer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client may send to each WHIP URL.
const ENDPOINT_METHODS: &str = "POST, OPTIONS";
const RESOURCE_METHODS: &str = "DELETE, OPTIONS";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/whip/{session}", post(create).options(endpoint_options))
        .route(
            "/whip/{session}/{resource}",
            axum::routing::delete(end)
                .patch(patch)
                .options(resource_options),
        )
}

// ---------------------------------------------------------------------------------------------
// Authorization

/// Checks that `token` (the bearer token of the request) is a current facilitator invite of
/// `session`'s course, and returns the session and the invite. The one place where WHIP
/// requests are authorized. It changes nothing: a `POST` counts the invite's use for the
/// session ([`count_use`]) only once its offer has passed every check.
///
/// Unknown session → `unknown_session` (404); no, a forged, or another course's token →
/// `bad_key` (401); an expired or revoked invite → `key_expired`, `key_revoked` (401); a token
/// of another role, or a facilitator the session does not name when it names its facilitators →
/// `forbidden` (403); an ended session → `session_over` (410).
pub(crate) fn authorize(
    state: &AppState,
    session: &str,
    token: Option<&str>,
) -> Result<(Session, Invite), ProtocolError> {
    let unknown = || ProtocolError::new(ErrorCode::UnknownSession, "no such session");
    let id: SessionId = session.parse().map_err(|_| unknown())?;
    let store = state.store();
    let catalogue = |e: lectern_store::StoreError| {
        tracing::error!("WHIP for session {id}: {e}");
        ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
    };
    let session = store.session(id).map_err(catalogue)?.ok_or_else(unknown)?;
    let token = token.ok_or_else(|| {
        ProtocolError::new(
            ErrorCode::BadKey,
            "send the facilitator key as `Authorization: Bearer <key>`",
        )
    })?;
    let invite = state
        .keys
        .authenticate(&store, token, lectern_store::now_ms())?;
    if invite.course_id.as_deref() != Some(session.course_id.as_str()) {
        return Err(ProtocolError::new(
            ErrorCode::BadKey,
            "the token is not valid for this session",
        ));
    }
    if invite.role != Role::Facilitator {
        return Err(ProtocolError::new(
            ErrorCode::Forbidden,
            format!(
                "a {} key may not publish; use a facilitator key",
                invite.role
            ),
        ));
    }
    if session.ended {
        return Err(ProtocolError::new(
            ErrorCode::SessionOver,
            "the session has ended",
        ));
    }
    if !crate::auth::may_facilitate(&store, &invite, session.id)? {
        return Err(ProtocolError::new(
            ErrorCode::Forbidden,
            "this session has other facilitators",
        ));
    }
    Ok((session, invite))
}

/// Counts a use of the invite for the session (the first of each session counts; reconnecting
/// is free), as a browser's join does; refused with `key_used_up` (401) when it has used up its
/// sessions. Logged in the audit log.
fn count_use(state: &AppState, session: &Session, invite: &Invite) -> Result<(), ProtocolError> {
    let store = state.store();
    let used = store.use_invite(&invite.id, session.id).map_err(|e| {
        tracing::error!("WHIP for session {}: {e}", session.id);
        ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
    })?;
    if used == InviteUse::UsedUp {
        return Err(ProtocolError::new(
            ErrorCode::KeyUsedUp,
            "this key has been used for as many sessions as it allows",
        ));
    }
    crate::audit::log(
        &store,
        invite,
        "whip",
        &session.id.to_string(),
        "WHIP ingest",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The offer's m-lines

/// Maps the sending m-lines of a WHIP offer to sources: the first video is the camera, the
/// second video the screen, the audio the microphone. An m-line sends unless it is
/// `recvonly`/`inactive` or has port 0 (`sendonly`, `sendrecv` and no direction all send);
/// other kinds of m-line (data channels) are left alone. Refused: no sending audio or video,
/// a sending m-line without `a=mid`, more than two video or more than one audio.
pub(crate) fn tracks_of_offer(sdp: &str) -> Result<Vec<PublishedMid>, ProtocolError> {
    // A direction attribute before the first m-line applies to every m-line.
    let session_not_sending = sdp
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| !l.starts_with("m="))
        .any(|l| l == "a=recvonly" || l == "a=inactive");
    let mut tracks: Vec<PublishedMid> = Vec::new();
    let mut videos = 0;
    for section in lectern_sfu::offer::sections(sdp) {
        let Some(kind) = section.kind else { continue };
        if section.not_sending || session_not_sending {
            continue;
        }
        let Some(mid) = section.mid else {
            return Err(ProtocolError::new(
                ErrorCode::BadSdp,
                "every m-line needs an a=mid (WHIP uses BUNDLE)",
            ));
        };
        let source = match kind {
            MediaKind::Video => {
                videos += 1;
                match videos {
                    1 => Source::Camera,
                    2 => Source::Screen,
                    _ => {
                        return Err(ProtocolError::new(
                            ErrorCode::BadTrack,
                            "at most two video m-lines (camera, then screen)",
                        ))
                    }
                }
            }
            MediaKind::Audio => {
                if tracks.iter().any(|t| t.source == Source::Microphone) {
                    return Err(ProtocolError::new(
                        ErrorCode::BadTrack,
                        "at most one audio m-line",
                    ));
                }
                Source::Microphone
            }
        };
        tracks.push(PublishedMid { mid, source });
    }
    if tracks.is_empty() {
        return Err(ProtocolError::new(
            ErrorCode::BadSdp,
            "the offer sends no audio or video",
        ));
    }
    Ok(tracks)
}

// ---------------------------------------------------------------------------------------------
// Resources

/// The live WHIP sessions of the server, by resource id.
#[derive(Default)]
pub(crate) struct Resources {
    live: Mutex<HashMap<String, Resource>>,
}

struct Resource {
    session: SessionId,
    peer: PeerId,
    room: RoomHandle,
    /// Tells the resource's task to stop draining.
    stop: oneshot::Sender<()>,
}

impl Resources {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resource>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes a resource of `session`.
    fn take(&self, session: SessionId, id: &str) -> Option<Resource> {
        let mut live = self.lock();
        if live.get(id).is_some_and(|r| r.session == session) {
            live.remove(id)
        } else {
            None
        }
    }

    /// Removes a resource if it is still `peer`'s.
    fn forget(&self, id: &str, peer: PeerId) {
        let mut live = self.lock();
        if live.get(id).is_some_and(|r| r.peer == peer) {
            live.remove(id);
        }
    }

    /// How many WHIP sessions are live.
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Joins the session's room as a publish-only facilitator, sends the offer and waits for the
/// answer; on success the resource lives on (its id and the answer are returned).
async fn start(
    state: &Arc<AppState>,
    session: &Session,
    invite: &Invite,
    sdp: String,
    tracks: Vec<PublishedMid>,
) -> Result<(String, String), ProtocolError> {
    let room = state.room_for(session);
    let peer = PeerId::random();
    let (tx, mut rx) = mpsc::channel(OUTBOUND_QUEUE);
    // As a browser facilitator with the same invite would join (the WHIP client sends no name).
    let person = if invite.name.is_empty() {
        peer.to_string()
    } else {
        invite.id.clone()
    };
    let admission = lectern_room::Admission {
        role: Role::Facilitator,
        name: (!invite.name.is_empty()).then(|| invite.name.clone()),
        affiliation: invite.affiliation.clone(),
        person,
        invite: Some(invite.id.clone()),
        // Consent is the recording notice for those who watch; the facilitator records.
        consented: true,
        receives_media: false,
    };
    let over = || ProtocolError::new(ErrorCode::SessionOver, "the session has ended");
    if !room
        .send(Control::Join {
            peer,
            admission: Box::new(admission),
            out: tx,
        })
        .await
    {
        return Err(over());
    }
    let offer = ClientMsg::Offer(Offer {
        pc: PcKind::Publish,
        sdp,
        tracks,
    });
    if room.try_send(Control::Signal { peer, msg: offer }).is_err() {
        let _ = room.send(Control::Gone { peer }).await;
        return Err(ProtocolError::new(
            ErrorCode::Busy,
            "the session is busy; try again",
        ));
    }
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    let answer = loop {
        let failure = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Outbound::Frame(ServerMsg::Answer(a)))) => break a.sdp,
            Ok(Some(Outbound::Frame(ServerMsg::Error(e)))) => ProtocolError::new(e.code, e.message),
            Ok(Some(Outbound::Frame(ServerMsg::SessionEnded(_)))) | Ok(None) => over(),
            Ok(Some(Outbound::Close { reason, .. })) => ProtocolError::new(
                ErrorCode::Busy,
                format!("the room closed the ingest: {reason}"),
            ),
            Ok(Some(Outbound::Frame(_))) => continue,
            Err(_) => {
                tracing::warn!(
                    "session {}: no answer to a WHIP offer within 10 s",
                    session.id
                );
                ProtocolError::new(ErrorCode::Busy, "the session did not answer in time")
            }
        };
        let _ = room.send(Control::Gone { peer }).await;
        return Err(failure);
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (stop, stop_rx) = oneshot::channel();
    state.whip.lock().insert(
        id.clone(),
        Resource {
            session: session.id,
            peer,
            room: room.clone(),
            stop,
        },
    );
    tokio::spawn(drain(state.clone(), id.clone(), peer, room, rx, stop_rx));
    tracing::info!("session {}: WHIP ingest {id} started", session.id);
    Ok((id, answer))
}

/// Reads the ingest's signalling frames while it lives (nothing needs an answer: it receives no
/// media, so it is never sent a subscribe offer), until it is deleted or the room closes it.
async fn drain(
    state: Arc<AppState>,
    id: String,
    peer: PeerId,
    room: RoomHandle,
    mut rx: mpsc::Receiver<Outbound>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            o = rx.recv() => match o {
                Some(Outbound::Frame(ServerMsg::Error(e))) => {
                    tracing::warn!("WHIP ingest {id}: {} {}", e.code, e.message);
                }
                Some(Outbound::Frame(_)) => {}
                Some(Outbound::Close { code, reason }) => {
                    tracing::info!("WHIP ingest {id} closed by the room: {code} {reason}");
                    break;
                }
                None => break,
            },
        }
    }
    state.whip.forget(&id, peer);
    // Harmless when the room already removed the peer.
    let _ = room.send(Control::Gone { peer }).await;
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn create(
    State(state): State<Arc<AppState>>,
    UrlPath(session): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match create_session(&state, &session, &headers, body).await {
        Ok(r) => r,
        Err(e) => error(e),
    }
}

async fn create_session(
    state: &Arc<AppState>,
    session: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ProtocolError> {
    let (session, invite) = authorize(state, session, bearer(headers))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/sdp") {
        return Err(ProtocolError::new(
            ErrorCode::UnsupportedMediaType,
            format!("the offer must be application/sdp, not {content_type:?}"),
        ));
    }
    let too_large = || {
        ProtocolError::new(
            ErrorCode::TooLarge,
            format!("an offer is at most {MAX_OFFER_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_OFFER_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_OFFER_BYTES)
        .await
        .map_err(|_| too_large())?;
    let sdp = String::from_utf8(bytes.to_vec())
        .map_err(|_| ProtocolError::new(ErrorCode::BadSdp, "the offer is not UTF-8 text"))?;
    // Everything is checked before the room sees the offer: a bad offer changes nothing (in
    // particular, it does not replace the facilitator who is live).
    lectern_sfu::offer::check_offer_sdp(&sdp)?;
    let tracks = tracks_of_offer(&sdp)?;
    lectern_sfu::offer::check_publish_offer(&sdp, &tracks)?;
    count_use(state, &session, &invite)?;
    let (id, answer) = start(state, &session, &invite, sdp, tracks).await?;
    let mut r = (StatusCode::CREATED, answer).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/whip/{}/{id}", session.id)) {
        h.insert(header::LOCATION, location);
    }
    cors(h);
    Ok(r)
}

async fn end(
    State(state): State<Arc<AppState>>,
    UrlPath((session, resource)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    let session = match authorize(&state, &session, token) {
        Ok((s, _)) => s,
        Err(e) => return error(e),
    };
    let Some(r) = state.whip.take(session.id, &resource) else {
        let e = ProtocolError::new(ErrorCode::UnknownSession, "no such WHIP session");
        return error(e);
    };
    // Stopping on purpose: the tracks go away (a dropped connection would only pause them).
    let _ = r.room.send(Control::Unpublish { peer: r.peer }).await;
    let _ = r.room.send(Control::Gone { peer: r.peer }).await;
    let _ = r.stop.send(());
    tracing::info!("session {}: WHIP ingest {resource} deleted", session.id);
    let mut resp = StatusCode::OK.into_response();
    cors(resp.headers_mut());
    resp
}

/// Neither trickle ICE nor ICE restarts: RFC 9725 asks for 405 when PATCH is not supported for
/// any purpose.
async fn patch() -> Response {
    let mut r = (
        StatusCode::METHOD_NOT_ALLOWED,
        "this server is ICE-lite: no trickle ICE, no ICE restart",
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(RESOURCE_METHODS));
    cors(h);
    r
}

async fn endpoint_options() -> Response {
    options(ENDPOINT_METHODS, true)
}

async fn resource_options() -> Response {
    options(RESOURCE_METHODS, false)
}

/// A CORS preflight (or a plain OPTIONS): no authentication, no body.
fn options(methods: &'static str, endpoint: bool) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(methods));
    if endpoint {
        h.insert("accept-post", HeaderValue::from_static("application/sdp"));
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    cors(h);
    r
}

/// WHIP clients may run in a browser on another origin; the bearer token, not a cookie,
/// authorizes, so any origin may call.
fn cors(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location"),
    );
}

/// An error response, through the server's one refusal function (status from the code table,
/// the `WWW-Authenticate` challenge on a 401), with `Retry-After` on a 503 and CORS headers.
fn error(e: ProtocolError) -> Response {
    let busy = e.code.http_status() == 503;
    let mut r = crate::playback::refuse(e);
    let h = r.headers_mut();
    if busy {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    cors(h);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(media: &[&str]) -> String {
        let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for m in media {
            s.push_str(m);
        }
        s
    }

    const VIDEO: &str = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
    const AUDIO: &str = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";

    fn section(base: &str, mid: &str, direction: &str) -> String {
        format!("{base}a=mid:{mid}\r\n{direction}")
    }

    fn sources(sdp: &str) -> Vec<(String, Source)> {
        tracks_of_offer(sdp)
            .unwrap()
            .into_iter()
            .map(|t| (t.mid, t.source))
            .collect()
    }

    #[test]
    fn maps_m_lines_to_sources() {
        // OBS: video then audio, sendonly.
        let obs = sdp(&[
            &section(VIDEO, "0", "a=sendonly\r\n"),
            &section(AUDIO, "1", "a=sendonly\r\n"),
        ]);
        assert_eq!(
            sources(&obs),
            vec![
                ("0".into(), Source::Camera),
                ("1".into(), Source::Microphone)
            ]
        );
        // Audio first, two videos (the second is the screen), sendrecv and no direction send.
        let three = sdp(&[
            &section(AUDIO, "a", "a=sendrecv\r\n"),
            &section(VIDEO, "v1", ""),
            &section(VIDEO, "v2", "a=sendonly\r\n"),
        ]);
        assert_eq!(
            sources(&three),
            vec![
                ("a".into(), Source::Microphone),
                ("v1".into(), Source::Camera),
                ("v2".into(), Source::Screen)
            ]
        );
    }

    #[test]
    fn sections_that_do_not_send_are_skipped() {
        let offer = sdp(&[
            &section(VIDEO, "0", "a=inactive\r\n"),
            &section(VIDEO, "1", "a=sendonly\r\n"),
            &section(AUDIO, "2", "a=recvonly\r\n"),
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n",
            &section(&AUDIO.replace(" 9 ", " 0 "), "4", "a=sendonly\r\n"),
        ]);
        assert_eq!(sources(&offer), vec![("1".into(), Source::Camera)]);
    }

    #[test]
    fn refuses_offers_it_cannot_map() {
        let code = |sdp: &str| tracks_of_offer(sdp).unwrap_err().code;
        assert_eq!(code(&sdp(&[])), ErrorCode::BadSdp, "no media");
        assert_eq!(code("garbage"), ErrorCode::BadSdp);
        assert_eq!(
            code(&sdp(&[&section(VIDEO, "0", "a=recvonly\r\n")])),
            ErrorCode::BadSdp,
            "nothing sends"
        );
        let recvonly_session =
            sdp(&[&section(VIDEO, "0", "")]).replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n");
        assert_eq!(
            code(&recvonly_session),
            ErrorCode::BadSdp,
            "session-level recvonly"
        );
        assert_eq!(code(&sdp(&[VIDEO])), ErrorCode::BadSdp, "no mid");
        assert_eq!(
            code(&sdp(&[
                &section(VIDEO, "0", ""),
                &section(VIDEO, "1", ""),
                &section(VIDEO, "2", ""),
            ])),
            ErrorCode::BadTrack
        );
        assert_eq!(
            code(&sdp(&[&section(AUDIO, "0", ""), &section(AUDIO, "1", "")])),
            ErrorCode::BadTrack
        );
    }

    #[test]
    fn error_statuses_come_from_the_code_table() {
        let r = error(ProtocolError::new(ErrorCode::BadKey, "x"));
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="lectern""#
        );
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let r = error(ProtocolError::new(ErrorCode::Forbidden, "x"));
        assert_eq!(r.status(), 403);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        for (code, status) in [
            (ErrorCode::UnknownSession, 404),
            (ErrorCode::SessionOver, 410),
            (ErrorCode::UnsupportedMediaType, 415),
            (ErrorCode::BadSdp, 400),
            (ErrorCode::TooLarge, 413),
            (ErrorCode::Busy, 503),
            (ErrorCode::KeyExpired, 401),
            (ErrorCode::KeyUsedUp, 401),
        ] {
            assert_eq!(error(ProtocolError::new(code, "x")).status(), status);
        }
    }
}
