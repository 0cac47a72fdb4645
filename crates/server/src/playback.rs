//! Replay over HTTP: the library and manifests as JSON, and recorded files served by id with
//! HTTP Range (206), their MIME type and caching headers.
//!
//! A file is named in a URL only by its catalogue id (32 hex digits); its path on disk comes
//! from the catalogue, so no client-supplied text ever reaches the filesystem.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lectern_proto::{ErrorCode, ProtocolError, RecordingId};
use lectern_store::{Invite, RecordingState};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::auth::Access;
use crate::export::{Format, Input, JobState};
use crate::AppState;

/// An error of an HTTP endpoint: its status comes from the one table of error codes.
pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (
        status,
        Json(json!({ "error": code.as_str(), "message": message.into() })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The invite behind a request's `Authorization: Bearer` key, or the 401 to answer.
pub(crate) fn caller(state: &AppState, headers: &HeaderMap) -> Result<Invite, ProtocolError> {
    let Some(key) = crate::auth::bearer(headers) else {
        return Err(ProtocolError::new(
            ErrorCode::BadKey,
            "send the key of your link as Authorization: Bearer <key>",
        ));
    };
    state
        .keys
        .authenticate(&state.store(), key, lectern_store::now_ms())
}

/// The response to a refused request; a 401 says how to authenticate.
pub(crate) fn refuse(e: ProtocolError) -> Response {
    let mut r = error(e.code, e.message);
    if r.status() == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"lectern\""),
        );
    }
    r
}

fn forbidden(what: &str) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::Forbidden,
        format!("your link does not open {what}"),
    )
}

fn no_recording() -> ProtocolError {
    ProtocolError::new(ErrorCode::UnknownRecording, "no such recording")
}

fn catalogue(e: impl std::fmt::Display) -> ProtocolError {
    tracing::error!("playback: {e}");
    ProtocolError::new(ErrorCode::Internal, "internal error")
}

/// The recording and its course, if the caller may replay it (`Err`: the response to give).
fn replayable(
    state: &AppState,
    invite: &Invite,
    id: RecordingId,
) -> Result<(lectern_store::Recording, String), ProtocolError> {
    let store = state.store();
    let rec = store
        .recording(id)
        .map_err(catalogue)?
        .ok_or_else(no_recording)?;
    let course = store
        .session(rec.session_id)
        .map_err(catalogue)?
        .ok_or_else(no_recording)?
        .course_id;
    if !invite.may_replay(&course) {
        // Another course's recording is answered like an unknown one: ids are not confirmed.
        return Err(if invite.role.replays() {
            no_recording()
        } else {
            forbidden("recordings")
        });
    }
    Ok((rec, course))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("playback: {e}");
    error(ErrorCode::Internal, "internal error")
}

/// `GET /api/library`: courses → sessions → recordings the caller may replay.
pub(crate) async fn library(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let invite = match caller(&state, &headers) {
        Ok(i) => i,
        Err(e) => return refuse(e),
    };
    if !invite.role.replays() {
        return refuse(forbidden("recordings"));
    }
    let entries = match state.store().library() {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    let mut courses: Vec<serde_json::Value> = Vec::new();
    for e in entries
        .into_iter()
        .filter(|e| invite.may_replay(&e.course_id))
    {
        let rec = json!({
            "id": e.recording.id,
            "state": e.recording.state,
            "started_at_ms": e.recording.started_at_ms,
            "duration_ms": e.recording.duration_ms,
            "error": e.recording.error,
            "playable": e.recording.state.playable(),
        });
        let course = match courses.iter_mut().find(|c| c["id"] == e.course_id) {
            Some(c) => c,
            None => {
                courses.push(json!({ "id": e.course_id, "title": e.course_title, "sessions": [] }));
                courses.last_mut().expect("just pushed")
            }
        };
        let sessions = course["sessions"].as_array_mut().expect("an array");
        let sid = e.session_id.to_string();
        match sessions.iter_mut().find(|s| s["id"] == sid) {
            Some(s) => s["recordings"].as_array_mut().expect("an array").push(rec),
            None => sessions.push(json!({
                "id": sid,
                "title": e.session_title,
                "recordings": [rec],
            })),
        }
    }
    no_store(Json(json!({ "courses": courses })).into_response())
}

/// `GET /api/recordings/{id}`: the recording's manifest; each file's `url` carries a ticket
/// for the caller. Logged as a replay.
pub(crate) async fn manifest(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let invite = match caller(&state, &headers) {
        Ok(i) => i,
        Err(e) => return refuse(e),
    };
    let Ok(id) = id.parse::<RecordingId>() else {
        return error(ErrorCode::UnknownRecording, "no such recording");
    };
    if let Err(e) = replayable(&state, &invite, id) {
        return refuse(e);
    }
    let store = state.store();
    match crate::recording::manifest(&store, id) {
        Ok(Some(mut m)) => {
            let expires = lectern_store::now_ms() + crate::auth::TICKET_LIFETIME_MS;
            if let Some(files) = m["files"].as_array_mut() {
                for f in files {
                    let fid = f["id"].as_str().unwrap_or_default().to_string();
                    let ticket = state.keys.ticket(&invite.id, &fid, expires);
                    f["url"] = format!("/media/{fid}?ticket={ticket}").into();
                }
            }
            crate::audit::log(&store, &invite, "replay", &id.to_string(), "");
            no_store(Json(m).into_response())
        }
        Ok(None) => error(ErrorCode::UnknownRecording, "no such recording"),
        Err(e) => internal(e),
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Is this a file id as the recorder makes them (32 lowercase hex digits)?
fn valid_file_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A byte range of a file of `len` bytes, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// How a `Range` header applies to a file of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No (usable) range: the whole file.
    Whole,
    Part(ByteRange),
    /// Cannot be satisfied or malformed: 416.
    Unsatisfiable,
}

/// Parses a `Range` header (RFC 9110 §14.1.2) for a file of `len` bytes. One range is served;
/// a request for several gets the whole file (which the RFC allows).
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(h) = header else {
        return RangeAsk::Whole;
    };
    let h = h.trim();
    let Some(spec) = h.strip_prefix("bytes=") else {
        // Another unit: ignored.
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit());
    if a.is_empty() {
        // The last `b` bytes.
        if !digits(b) {
            return RangeAsk::Unsatisfiable;
        }
        let n: u64 = b.parse().unwrap_or(0);
        if n == 0 || len == 0 {
            return RangeAsk::Unsatisfiable;
        }
        let n = n.min(len);
        return RangeAsk::Part(ByteRange {
            start: len - n,
            end: len - 1,
        });
    }
    if !digits(a) || !(b.is_empty() || digits(b)) {
        return RangeAsk::Unsatisfiable;
    }
    let start: u64 = a.parse().unwrap_or(u64::MAX);
    if start >= len {
        return RangeAsk::Unsatisfiable;
    }
    let end = if b.is_empty() {
        len - 1
    } else {
        let end: u64 = b.parse().unwrap_or(u64::MAX);
        if end < start {
            return RangeAsk::Unsatisfiable;
        }
        end.min(len - 1)
    };
    RangeAsk::Part(ByteRange { start, end })
}

/// The invite behind a `?ticket=` for `file`, or the response to give.
fn ticket_holder(
    state: &AppState,
    q: &HashMap<String, String>,
    file: &str,
) -> Result<Invite, ProtocolError> {
    let Some(ticket) = q.get("ticket") else {
        return Err(ProtocolError::new(
            ErrorCode::BadKey,
            "media URLs carry a ticket: take them from the recording's manifest",
        ));
    };
    state
        .keys
        .check_ticket(&state.store(), ticket, file, lectern_store::now_ms())
}

/// `GET /media/{file}?ticket=…`: a recorded file, by catalogue id.
pub(crate) async fn media(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !valid_file_id(&id) {
        return error(ErrorCode::UnknownRecording, "no such file");
    }
    if let Err(e) = ticket_holder(&state, &q, &id) {
        return refuse(e);
    }
    let found = {
        let store = state.store();
        store.file(&id).and_then(|f| match f {
            Some(f) => Ok(store.recording(f.recording_id)?.map(|r| (f, r))),
            None => Ok(None),
        })
    };
    let (file, rec) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return error(ErrorCode::UnknownRecording, "no such file"),
        Err(e) => return internal(e),
    };
    // Catalogue names are the recorder's own; check anyway that they stay inside the folder.
    let safe = |s: &str| {
        !s.is_empty()
            && !s.contains("..")
            && !s.starts_with('/')
            && !s.contains('\\')
            && !s.contains('\0')
    };
    if !safe(&file.file_name) || file.file_name.contains('/') || !safe(&rec.dir) {
        return internal(format!("refusing catalogue path {:?}", file.file_name));
    }
    let path = state.recordings.join(&rec.dir).join(&file.file_name);
    let complete = file.state.playable() && rec.state != RecordingState::Recording;
    serve_file(&path, &file.mime, &id, complete, &headers, None).await
}

/// Serves a file with Range, ETag, MIME type and caching headers. `complete` files never
/// change and may be cached; `attachment` names a download.
async fn serve_file(
    path: &std::path::Path,
    mime: &str,
    id: &str,
    complete: bool,
    headers: &HeaderMap,
    attachment: Option<&str>,
) -> Response {
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return error(ErrorCode::UnknownRecording, "the file is not on disk")
        }
        Err(e) => return internal(e),
    };
    let meta = match f.metadata().await {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let etag = format!("\"{id}-{len:x}-{mtime:x}\"");

    if complete
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        return r;
    }
    // A range only applies to the version the client has (If-Range).
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let ask = if if_range_ok {
        parse_range(range_header, len)
    } else {
        RangeAsk::Whole
    };
    let (status, start, count) = match ask {
        RangeAsk::Whole => (StatusCode::OK, 0, len),
        RangeAsk::Part(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.end - r.start + 1),
        RangeAsk::Unsatisfiable => {
            let mut r = error(
                ErrorCode::BadRange,
                format!("the range cannot be served from a file of {len} bytes"),
            );
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return r;
        }
    };
    if start > 0 {
        if let Err(e) = f.seek(SeekFrom::Start(start)).await {
            return internal(e);
        }
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        f.take(count),
        64 * 1024,
    ));
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Finished files never change: cache them (privately: access is per person). A file
    // still being written must not be cached.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if complete {
            "private, max-age=86400"
        } else {
            "no-store"
        }),
    );
    if let Some(name) = attachment {
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", start, start + count - 1))
                .expect("ascii"),
        );
    }
    r
}

/// `POST /api/recordings/{id}/export?format=mp4|webm`: starts (or joins) a single-file export.
pub(crate) async fn start_export(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let invite = match caller(&state, &headers) {
        Ok(i) => i,
        Err(e) => return refuse(e),
    };
    let Ok(id) = id.parse::<RecordingId>() else {
        return error(ErrorCode::UnknownRecording, "no such recording");
    };
    if let Err(e) = replayable(&state, &invite, id) {
        return refuse(e);
    }
    let format = match q.get("format").map(String::as_str) {
        None => Format::Mp4,
        Some(f) => match Format::parse(f) {
            Some(f) => f,
            None => return error(ErrorCode::BadJson, "format must be mp4 or webm"),
        },
    };
    let found = {
        let store = state.store();
        store.recording(id).map(|r| r.map(|r| (store.files(id), r)))
    };
    let (files, rec) = match found {
        Ok(Some((Ok(files), rec))) => (files, rec),
        Ok(None) => return error(ErrorCode::UnknownRecording, "no such recording"),
        Ok(Some((Err(e), _))) | Err(e) => return internal(e),
    };
    if !rec.state.playable() {
        return error(
            ErrorCode::UnknownRecording,
            format!(
                "the recording is {}, not ready to export",
                rec.state.as_str()
            ),
        );
    }
    let dir = state.recordings.join(&rec.dir);
    let inputs: Vec<Input> = files
        .iter()
        .filter(|f| f.state.playable())
        .map(|f| Input::from_file(&dir, f))
        .collect();
    let output = dir.join(format!("export.{}", format.extension()));
    let job = state
        .exports
        .start(id, inputs, rec.duration_ms.unwrap_or(0), format, output);
    let mut r = (
        StatusCode::ACCEPTED,
        Json(json!({ "job": job, "status_url": format!("/api/exports/{job}") })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /api/exports/{job}`: an export's progress; when done, a download URL with a ticket.
pub(crate) async fn export_status(
    State(state): State<Arc<AppState>>,
    UrlPath(job): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let invite = match caller(&state, &headers) {
        Ok(i) => i,
        Err(e) => return refuse(e),
    };
    match valid_file_id(&job)
        .then(|| state.exports.get(&job))
        .flatten()
    {
        Some(j) => {
            if let Err(e) = replayable(&state, &invite, j.recording) {
                return refuse(e);
            }
            let url = (j.state == JobState::Done).then(|| {
                let expires = lectern_store::now_ms() + crate::auth::TICKET_LIFETIME_MS;
                let ticket = state.keys.ticket(&invite.id, &job, expires);
                format!("/exports/{job}?ticket={ticket}")
            });
            no_store(
                Json(json!({
                    "state": j.state,
                    "progress": j.progress,
                    "error": j.error,
                    "url": url,
                }))
                .into_response(),
            )
        }
        None => error(ErrorCode::UnknownRecording, "no such export"),
    }
}

/// `GET /exports/{job}?ticket=…`: the exported file, as a download. Logged.
pub(crate) async fn export_file(
    State(state): State<Arc<AppState>>,
    UrlPath(job): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let invite = match ticket_holder(&state, &q, &job) {
        Ok(i) => i,
        Err(e) => return refuse(e),
    };
    let Some(j) = valid_file_id(&job)
        .then(|| state.exports.get(&job))
        .flatten()
        .filter(|j| j.state == JobState::Done)
    else {
        return error(ErrorCode::UnknownRecording, "no such export");
    };
    let name = format!("lectern-{}.{}", j.recording, j.format.extension());
    // A range request continues a download already logged.
    if !headers.contains_key(header::RANGE) {
        crate::audit::log(
            &state.store(),
            &invite,
            "download",
            &j.recording.to_string(),
            j.format.extension(),
        );
    }
    serve_file(&j.path, j.format.mime(), &job, true, &headers, Some(&name)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), RangeAsk::Whole);
        assert_eq!(
            p("bytes=0-99"),
            RangeAsk::Part(ByteRange { start: 0, end: 99 })
        );
        assert_eq!(
            p("bytes=900-"),
            RangeAsk::Part(ByteRange {
                start: 900,
                end: 999
            })
        );
        assert_eq!(
            p("bytes=-100"),
            RangeAsk::Part(ByteRange {
                start: 900,
                end: 999
            })
        );
        assert_eq!(
            p("bytes=-5000"),
            RangeAsk::Part(ByteRange { start: 0, end: 999 })
        );
        assert_eq!(
            p("bytes=990-5000"),
            RangeAsk::Part(ByteRange {
                start: 990,
                end: 999
            })
        );
        assert_eq!(p("bytes=1000-"), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=5-4"), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=-0"), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=abc"), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=1-x"), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999999-"), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=0-1,5-6"), RangeAsk::Whole);
        assert_eq!(p("items=0-1"), RangeAsk::Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 0), RangeAsk::Unsatisfiable);
    }

    #[test]
    fn file_ids() {
        assert!(valid_file_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_file_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!valid_file_id("../../../../etc/passwd"));
        assert!(!valid_file_id(""));
    }
}
