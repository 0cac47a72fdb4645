//! The HTTP admin API (`/api/admin/…`, an admin's key as `Authorization: Bearer`) and `/api/me`
//! (any key: who am I, and what does my link open). Every change is written to the audit log.
//! Bodies are JSON (a roster is CSV); errors are `{"error": code, "message": text}` with the
//! status of the code (see `ErrorCode::http_status`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lectern_proto::{ErrorCode, ProtocolError, Role, SessionId};
use lectern_store::{
    AuditQuery, CourseDetails, CourseEdit, Invite, NewInvite, Schedule, Store, StoreError,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::playback::{caller, refuse};
use crate::AppState;

/// Largest JSON body, in bytes.
const MAX_JSON: usize = 64 * 1024;

type Reply = Result<Response, ProtocolError>;

fn respond(r: Reply) -> Response {
    match r {
        Ok(r) => {
            let mut r = r;
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => refuse(e),
    }
}

fn admin(state: &AppState, headers: &HeaderMap) -> Result<Invite, ProtocolError> {
    let invite = caller(state, headers)?;
    if invite.role != Role::Admin {
        return Err(ProtocolError::new(
            ErrorCode::Forbidden,
            "only an administrator's link opens the admin API",
        ));
    }
    Ok(invite)
}

fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    if bytes.len() > MAX_JSON {
        return Err(ProtocolError::new(
            ErrorCode::TooLarge,
            format!("a request body has at most {MAX_JSON} bytes"),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("malformed body: {e}")))
}

fn store_error(e: StoreError) -> ProtocolError {
    match e {
        StoreError::Invalid(m) => ProtocolError::new(ErrorCode::Invalid, m),
        e => {
            tracing::error!("admin API: {e}");
            ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
        }
    }
}

fn not_found(what: &str) -> ProtocolError {
    // Unknown courses, sessions and invites share the 404 of unknown sessions.
    ProtocolError::new(ErrorCode::UnknownSession, format!("no such {what}"))
}

fn course_json(c: &CourseDetails) -> Value {
    json!({
        "id": c.course.id,
        "title": c.course.title,
        "description": c.course.description,
        "language": c.language,
        "retention_days": c.retention_days,
        "record_by_default": c.course.record_by_default,
        "sessions": c.sessions,
    })
}

fn session_json(store: &Store, s: &lectern_store::Session) -> Value {
    let sched = store
        .session_schedule(s.id)
        .ok()
        .flatten()
        .unwrap_or_default();
    let facilitators = store.session_facilitators(s.id).unwrap_or_default();
    let cancelled =
        s.ended && store.session_end_reason(s.id).ok().flatten().as_deref() == Some("cancelled");
    json!({
        "id": s.id,
        "course": s.course_id,
        "title": s.title,
        "facilitators": facilitators,
        "starts_at_ms": sched.starts_at.map(|t| t * 1000),
        "ends_at_ms": sched.ends_at.map(|t| t * 1000),
        "ended": s.ended,
        "cancelled": cancelled,
    })
}

fn invite_json(i: &Invite, now: i64) -> Value {
    let state = if i.is_revoked() {
        "revoked"
    } else if i.is_expired(now) {
        "expired"
    } else {
        "valid"
    };
    json!({
        "id": i.id,
        "course": i.course_id,
        "role": i.role,
        "name": i.name,
        "affiliation": i.affiliation,
        "email": i.email,
        "created_at_ms": i.created_at_ms,
        "expires_at_ms": i.expires_at_ms,
        "max_uses": i.max_uses,
        "uses": i.uses,
        "state": state,
        "origin": i.origin,
    })
}

// ---------------------------------------------------------------------------------------------
// Who am I

/// `GET /api/me`: the holder of the key, and the sessions and recordings it opens.
pub(crate) async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    respond((|| {
        let invite = caller(&state, &headers)?;
        let store = state.store();
        let course = match &invite.course_id {
            Some(c) => store
                .course_details(c)
                .map_err(store_error)?
                .map(|c| course_json(&c)),
            None => None,
        };
        let sessions: Vec<Value> = match &invite.course_id {
            Some(c) if invite.role.joins_live() => store
                .sessions()
                .map_err(store_error)?
                .iter()
                .filter(|s| &s.course_id == c)
                .map(|s| session_json(&store, s))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Json(json!({
            "invite": invite.id,
            "role": invite.role,
            "name": invite.name,
            "affiliation": invite.affiliation,
            "expires_at_ms": invite.expires_at_ms,
            "course": course,
            "sessions": sessions,
            "replays": invite.role.replays(),
        }))
        .into_response())
    })())
}

// ---------------------------------------------------------------------------------------------
// Courses

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CourseBody {
    title: Option<String>,
    description: Option<String>,
    language: Option<String>,
    /// A number of days; `null` keeps recordings.
    #[serde(default, with = "double_option")]
    retention_days: Option<Option<u32>>,
    record_by_default: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

impl CourseBody {
    fn edit(self) -> CourseEdit {
        CourseEdit {
            title: self.title,
            description: self.description,
            language: self.language,
            retention_days: self.retention_days,
            record_by_default: self.record_by_default,
        }
    }
}

/// `GET /api/admin/courses`.
pub(crate) async fn courses(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    respond((|| {
        admin(&state, &headers)?;
        let list = state.store().course_list().map_err(store_error)?;
        let courses: Vec<Value> = list.iter().map(course_json).collect();
        Ok(Json(json!({ "courses": courses })).into_response())
    })())
}

/// `POST /api/admin/courses`: `{title, description?, language?, retention_days?,
/// record_by_default?}` → 201 with the course.
pub(crate) async fn create_course(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let b: CourseBody = body(&bytes)?;
        let title = b.title.clone().unwrap_or_default();
        if title.trim().is_empty() {
            return Err(ProtocolError::new(
                ErrorCode::Invalid,
                "a course needs a title",
            ));
        }
        let store = state.store();
        let description = b.description.clone().unwrap_or_default();
        let mut edit = b.edit();
        // Check every setting before anything is made.
        edit.title = Some(title.trim().to_string());
        lectern_store::check_course_edit(&edit).map_err(store_error)?;
        let course = store
            .create_course(title.trim(), &description)
            .map_err(store_error)?;
        store.edit_course(&course.id, &edit).map_err(store_error)?;
        let details = store
            .course_details(&course.id)
            .map_err(store_error)?
            .ok_or_else(|| not_found("course"))?;
        crate::audit::log(&store, &who, "course.create", &course.id, title.trim());
        Ok((StatusCode::CREATED, Json(course_json(&details))).into_response())
    })())
}

/// `PATCH /api/admin/courses/{id}`: changes some settings.
pub(crate) async fn edit_course(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let b: CourseBody = body(&bytes)?;
        let store = state.store();
        if !store.edit_course(&id, &b.edit()).map_err(store_error)? {
            return Err(not_found("course"));
        }
        let details = store
            .course_details(&id)
            .map_err(store_error)?
            .ok_or_else(|| not_found("course"))?;
        crate::audit::log(&store, &who, "course.edit", &id, "");
        Ok(Json(course_json(&details)).into_response())
    })())
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    title: Option<String>,
    starts_at_ms: Option<i64>,
    ends_at_ms: Option<i64>,
    /// Facilitator invites that may run the session (empty or absent: any of the course).
    facilitators: Option<Vec<String>>,
}

fn schedule_of(b: &SessionBody) -> Schedule {
    Schedule {
        starts_at: b.starts_at_ms.map(|t| t.div_euclid(1000)),
        ends_at: b.ends_at_ms.map(|t| t.div_euclid(1000)),
    }
}

/// `GET /api/admin/courses/{id}/sessions`.
pub(crate) async fn course_sessions(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        admin(&state, &headers)?;
        let store = state.store();
        if store.course_details(&id).map_err(store_error)?.is_none() {
            return Err(not_found("course"));
        }
        let sessions: Vec<Value> = store
            .sessions()
            .map_err(store_error)?
            .iter()
            .filter(|s| s.course_id == id)
            .map(|s| session_json(&store, s))
            .collect();
        Ok(Json(json!({ "sessions": sessions })).into_response())
    })())
}

/// `POST /api/admin/courses/{id}/sessions`: `{title, starts_at_ms?, ends_at_ms?}` → 201.
pub(crate) async fn create_session(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let b: SessionBody = body(&bytes)?;
        let title = b.title.clone().unwrap_or_default();
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(ProtocolError::new(
                ErrorCode::Invalid,
                "a session's title has 1 to 200 characters",
            ));
        }
        let schedule = schedule_of(&b);
        if let (Some(a), Some(z)) = (schedule.starts_at, schedule.ends_at) {
            if z <= a {
                return Err(ProtocolError::new(
                    ErrorCode::Invalid,
                    "a session ends after it starts",
                ));
            }
        }
        let store = state.store();
        if store.course_details(&id).map_err(store_error)?.is_none() {
            return Err(not_found("course"));
        }
        let s = store.create_session(&id, title).map_err(store_error)?;
        store
            .schedule_session(s.id, schedule)
            .map_err(store_error)?;
        crate::audit::log(&store, &who, "session.create", &s.id.to_string(), title);
        Ok((StatusCode::CREATED, Json(session_json(&store, &s))).into_response())
    })())
}

fn session_of(store: &Store, id: &str) -> Result<lectern_store::Session, ProtocolError> {
    let id: SessionId = id.parse().map_err(|_| not_found("session"))?;
    store
        .session(id)
        .map_err(store_error)?
        .ok_or_else(|| not_found("session"))
}

/// `PATCH /api/admin/sessions/{id}`: `{starts_at_ms?, ends_at_ms?}` (the schedule).
pub(crate) async fn edit_session(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let b: SessionBody = body(&bytes)?;
        if b.title.is_some() {
            return Err(ProtocolError::new(
                ErrorCode::Invalid,
                "a session's title cannot be changed",
            ));
        }
        let store = state.store();
        let s = session_of(&store, &id)?;
        if let Some(f) = &b.facilitators {
            store
                .set_session_facilitators(s.id, f)
                .map_err(store_error)?;
        }
        if b.starts_at_ms.is_some() || b.ends_at_ms.is_some() {
            store
                .schedule_session(s.id, schedule_of(&b))
                .map_err(store_error)?;
        }
        crate::audit::log(&store, &who, "session.schedule", &id, "");
        Ok(Json(session_json(&store, &s)).into_response())
    })())
}

/// `POST /api/admin/sessions/{id}/cancel`: the session can no longer be joined.
pub(crate) async fn cancel_session(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let store = state.store();
        let s = session_of(&store, &id)?;
        store.end_session(s.id, "cancelled").map_err(store_error)?;
        crate::audit::log(&store, &who, "session.cancel", &id, "");
        // A live session ends for everyone in it.
        let live = state
            .rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&s.id)
            .filter(|h| !h.is_closed())
            .cloned();
        if let Some(room) = live {
            if room
                .try_send(lectern_sfu::Control::End(
                    lectern_proto::EndReason::Cancelled,
                ))
                .is_err()
            {
                tracing::warn!("session {id}: the room did not take the cancellation; it ends when its members leave");
            }
        }
        let s = session_of(&store, &id)?;
        Ok(Json(session_json(&store, &s)).into_response())
    })())
}

// ---------------------------------------------------------------------------------------------
// Invites

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    course: Option<String>,
    role: Role,
    #[serde(default)]
    name: String,
    #[serde(default)]
    affiliation: String,
    #[serde(default)]
    email: String,
    /// Defaults to 90 days from now.
    expires_at_ms: Option<i64>,
    max_uses: Option<u32>,
}

fn default_expiry() -> i64 {
    lectern_store::now_ms() + crate::invites::DEFAULT_VALID_DAYS * 86_400_000
}

/// `GET /api/admin/invites?course=`.
pub(crate) async fn invites(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        admin(&state, &headers)?;
        let now = lectern_store::now_ms();
        let list = state
            .store()
            .invites(q.get("course").map(String::as_str))
            .map_err(store_error)?;
        let invites: Vec<Value> = list.iter().map(|i| invite_json(i, now)).collect();
        Ok(Json(json!({ "invites": invites })).into_response())
    })())
}

/// `POST /api/admin/invites`: one invite → 201 `{invite, key, link}`.
pub(crate) async fn create_invite(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let b: InviteBody = body(&bytes)?;
        let store = state.store();
        let m = crate::invites::mint(
            &store,
            &state.keys,
            &state.base_url,
            &NewInvite {
                course_id: b.course,
                role: b.role,
                name: b.name,
                affiliation: b.affiliation,
                email: b.email,
                expires_at_ms: b.expires_at_ms.unwrap_or_else(default_expiry),
                max_uses: b.max_uses,
                origin: "admin".into(),
            },
        )
        .map_err(store_error)?;
        crate::audit::log(&store, &who, "invite.create", &m.invite.id, b.role.as_str());
        Ok((
            StatusCode::CREATED,
            Json(json!({
                "invite": invite_json(&m.invite, lectern_store::now_ms()),
                "key": m.key,
                "link": m.link,
            })),
        )
            .into_response())
    })())
}

/// `POST /api/admin/invites/{id}/revoke`.
pub(crate) async fn revoke_invite(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let store = state.store();
        if !store.revoke_invite(&id).map_err(store_error)? {
            return Err(not_found("invite"));
        }
        crate::audit::log(&store, &who, "invite.revoke", &id, "");
        let i = store
            .invite(&id)
            .map_err(store_error)?
            .ok_or_else(|| not_found("invite"))?;
        Ok(Json(invite_json(&i, lectern_store::now_ms())).into_response())
    })())
}

/// `POST /api/admin/courses/{id}/roster?valid_days=&max_uses=`: a roster CSV in, the links CSV
/// out (201, `text/csv`). All or nothing: a bad line is a 400 naming the line.
pub(crate) async fn import_roster(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        if bytes.len() > crate::roster::MAX_BYTES {
            return Err(ProtocolError::new(
                ErrorCode::TooLarge,
                format!("a roster has at most {} bytes", crate::roster::MAX_BYTES),
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ProtocolError::new(ErrorCode::Invalid, "the roster is not UTF-8 text"))?;
        let number = |name: &str| -> Result<Option<u32>, ProtocolError> {
            q.get(name)
                .map(|v| {
                    v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ProtocolError::new(
                            ErrorCode::Invalid,
                            format!("{name} is a whole number of at least 1"),
                        )
                    })
                })
                .transpose()
        };
        let days = number("valid_days")?.map_or(crate::invites::DEFAULT_VALID_DAYS, i64::from);
        let max_uses = number("max_uses")?;
        let store = state.store();
        if store.course_details(&id).map_err(store_error)?.is_none() {
            return Err(not_found("course"));
        }
        let (minted, csv) = crate::invites::import_roster(
            &store,
            &state.keys,
            &state.base_url,
            text,
            &crate::invites::RosterImport {
                course: &id,
                expires_at_ms: lectern_store::now_ms() + days * 86_400_000,
                max_uses,
                origin: "roster",
            },
        )
        .map_err(|e| match e {
            crate::invites::RosterError::Roster(m) => ProtocolError::new(ErrorCode::Invalid, m),
            crate::invites::RosterError::Store(e) => store_error(e),
        })?;
        crate::audit::log(
            &store,
            &who,
            "invite.import",
            &id,
            &format!("{} invites", minted.len()),
        );
        let mut r = (StatusCode::CREATED, csv).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        r.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"links.csv\""),
        );
        Ok(r)
    })())
}

// ---------------------------------------------------------------------------------------------
// Logs

/// `GET /api/admin/audit?since_ms=&until_ms=&action=&limit=&format=csv`: the audit log, newest
/// first (JSON, or CSV with `format=csv`).
pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let int = |name: &str| -> Result<Option<i64>, ProtocolError> {
            q.get(name)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        ProtocolError::new(ErrorCode::Invalid, format!("{name} is a number"))
                    })
                })
                .transpose()
        };
        let query = AuditQuery {
            since_ms: int("since_ms")?,
            until_ms: int("until_ms")?,
            action: q.get("action").cloned(),
            limit: Some(int("limit")?.unwrap_or(1000).clamp(1, 100_000) as u32),
        };
        let store = state.store();
        let entries = store.audit_log(&query).map_err(store_error)?;
        let csv = q.get("format").map(String::as_str) == Some("csv");
        if csv {
            // Exporting the log is itself logged.
            crate::audit::log(
                &store,
                &who,
                "audit.export",
                "",
                &format!("{} lines", entries.len()),
            );
            let mut r = crate::audit::csv(&entries).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit.csv\""),
            );
            return Ok(r);
        }
        let lines: Vec<Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "at_ms": e.at_ms,
                    "actor": e.actor,
                    "actor_name": e.actor_name,
                    "role": e.role,
                    "action": e.action,
                    "target": e.target,
                    "detail": e.detail,
                })
            })
            .collect();
        Ok(Json(json!({ "entries": lines })).into_response())
    })())
}

/// `GET /api/admin/consents?session=`: the consent log.
pub(crate) async fn consents(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        admin(&state, &headers)?;
        let session = match q.get("session") {
            Some(s) => Some(s.parse::<SessionId>().map_err(|_| not_found("session"))?),
            None => None,
        };
        let list = state.store().consents(session).map_err(store_error)?;
        let consents: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "at_ms": c.at_ms,
                    "invite": c.invite_id,
                    "name": c.name,
                    "session": c.session_id,
                    "notice": c.notice,
                })
            })
            .collect();
        Ok(Json(json!({ "consents": consents })).into_response())
    })())
}

// ---------------------------------------------------------------------------------------------
// Erasure

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    /// The invite of the person whose contributions go.
    invite: String,
}

/// `POST /api/admin/recordings/{id}/erase` `{"invite": id}`: removes one person's recorded
/// contributions (their files and the events naming them).
pub(crate) async fn erase(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    respond((|| {
        let who = admin(&state, &headers)?;
        let b: EraseBody = body(&bytes)?;
        let rid: lectern_proto::RecordingId = id
            .parse()
            .map_err(|_| ProtocolError::new(ErrorCode::UnknownRecording, "no such recording"))?;
        let store = state.store();
        if store.invite(&b.invite).map_err(store_error)?.is_none() {
            return Err(not_found("invite"));
        }
        // Running exports would write the erased contributions back: cancel them first.
        state.exports.forget(rid);
        let erased = crate::recording::erase(&store, &state.recordings, rid, &b.invite)?;
        crate::audit::log(
            &store,
            &who,
            "recording.erase",
            &id,
            &format!(
                "invite {}: {} file(s), {} event(s)",
                b.invite, erased.files, erased.events
            ),
        );
        Ok(Json(json!({
            "files": erased.files,
            "bytes": erased.bytes,
            "events": erased.events,
        }))
        .into_response())
    })())
}
