//! Recording, on the server's side: starting a recorder when a room asks for one, keeping the
//! catalogue in step with what the recorder writes, repairing what a crash left unfinished,
//! and each recording's manifest (its files and events on one timeline).
//!
//! On disk: `<recordings>/<session id>/<recording id>/` holds the media files
//! (`camera-1.webm`, `screen-1.webm`, …) and `manifest.json`. Paths come only from the
//! catalogue, never from a client.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use lectern_proto::{RecordingId, SessionId};
use lectern_record::mkv::FileSummary;
use lectern_record::recorder::{Catalogue, OpenedFile};
use lectern_record::task::{self, RecorderConfig, RecorderThread};
use lectern_sfu::{Control, Tap};
use lectern_store::{FileKind, NewFile, RecordingState, Store};
use serde_json::json;

use crate::AppState;

/// The catalogue as the recorder sees it: the store, and the manifest written when a recording
/// finishes.
pub(crate) struct StoreCatalogue {
    pub store: Arc<Mutex<Store>>,
    pub root: PathBuf,
}

impl StoreCatalogue {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Catalogue for StoreCatalogue {
    fn file_opened(&self, f: &OpenedFile) -> Result<(), String> {
        let kind = match f.group {
            lectern_record::recorder::Group::Camera => FileKind::Camera,
            lectern_record::recorder::Group::Screen => FileKind::Screen,
        };
        self.store()
            .add_file(&NewFile {
                id: &f.id,
                recording_id: f.recording,
                kind,
                publisher: &f.publisher,
                peer: &f.peer.to_string(),
                file_name: &f.file_name,
                mime: f.mime,
                tracks: &f.tracks_json,
                start_ms: f.start_ms as i64,
            })
            .map_err(|e| e.to_string())
    }

    fn file_progress(&self, file_id: &str, duration_ms: u64, bytes: u64) {
        if let Err(e) = self.store().update_file(
            file_id,
            RecordingState::Recording,
            duration_ms as i64,
            bytes as i64,
        ) {
            tracing::warn!("catalogue: progress of file {file_id}: {e}");
        }
    }

    fn file_closed(&self, file_id: &str, result: Result<&FileSummary, &str>) {
        let store = self.store();
        let r = match result {
            Ok(s) => store.update_file(
                file_id,
                RecordingState::Ready,
                s.duration_ms as i64,
                s.bytes as i64,
            ),
            Err(_) => {
                // Left on disk for the next start's recovery, or never created.
                let on_disk = store
                    .file(file_id)
                    .ok()
                    .flatten()
                    .and_then(|f| Some((store.recording(f.recording_id).ok()??, f)))
                    .is_some_and(|(r, f)| self.root.join(&r.dir).join(&f.file_name).is_file());
                if on_disk {
                    store.update_file(file_id, RecordingState::Failed, 0, 0)
                } else {
                    store.remove_file(file_id)
                }
            }
        };
        if let Err(e) = r {
            tracing::error!("catalogue: closing file {file_id}: {e}");
        }
    }

    fn event(&self, recording: RecordingId, at_ms: u64, kind: &str, data: &str) {
        if let Err(e) = self.store().add_event(recording, at_ms as i64, kind, data) {
            tracing::warn!("catalogue: event of recording {recording}: {e}");
        }
    }

    fn finished(&self, recording: RecordingId, duration_ms: u64, error: Option<&str>) {
        let store = self.store();
        let files = store.files(recording).unwrap_or_default();
        let has_files = !files.is_empty();
        let playable = files.iter().any(|f| f.state.playable());
        let (state, error) = match (error, has_files) {
            // The recorder failed (the disk filled): what it saved is playable, marked like
            // a recording saved after a crash, with the reason.
            (Some(e), _) if playable => (RecordingState::Recovered, Some(e)),
            (Some(e), _) => (RecordingState::Failed, Some(e)),
            (None, true) => (RecordingState::Ready, None),
            (None, false) => (
                RecordingState::Failed,
                Some("nothing was published while recording"),
            ),
        };
        if let Err(e) = store.set_recording_state(recording, state, Some(duration_ms as i64), error)
        {
            tracing::error!("catalogue: finishing recording {recording}: {e}");
        }
        write_manifest(&store, &self.root, recording);
        tracing::info!(
            "recording {recording} is {} ({:.1} s)",
            state.as_str(),
            duration_ms as f64 / 1000.0
        );
    }
}

/// A room asked for a recorder: catalogue the recording, start the recorder and hand its tap
/// to the room. Any failure is reported to the room, whose facilitator sees it at once.
pub(crate) fn start(state: &Arc<AppState>, session: SessionId) {
    let Some(room) = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&session)
        .cloned()
    else {
        return;
    };
    let id = RecordingId::random();
    let started = SystemTime::now();
    let started_at = Instant::now();
    let since_ms = lectern_record::recorder::unix_us(started) / 1000;
    let dir_rel = format!("{session}/{id}");
    let dir = state.recordings.join(&dir_rel);
    let result = (|| -> anyhow::Result<RecorderThread> {
        state
            .store()
            .create_recording(id, session, since_ms as i64, &dir_rel)?;
        let (tap, rx) = Tap::channel(lectern_sfu::tap::TAP_QUEUE);
        let catalogue = Arc::new(StoreCatalogue {
            store: state.store.clone(),
            root: state.recordings.clone(),
        });
        let thread = task::spawn(
            RecorderConfig {
                recording: id,
                dir: dir.clone(),
                started,
                started_at,
            },
            rx,
            room.clone(),
            catalogue,
        )
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        if room
            .try_send(Control::RecorderStarted {
                recording: id,
                since_ms,
                tap,
            })
            .is_err()
        {
            anyhow::bail!("the session's room is gone");
        }
        Ok(thread)
    })();
    match result {
        Ok(thread) => {
            tracing::info!("session {session}: recording {id} started");
            let mut recorders = state.recorders.lock().unwrap_or_else(|p| p.into_inner());
            recorders.retain(|r| !r.is_finished());
            recorders.push(thread);
        }
        Err(e) => {
            let message = format!("the recorder could not start: {e:#}");
            tracing::error!("session {session}: {message}");
            let _ = state.store().set_recording_state(
                id,
                RecordingState::Failed,
                Some(0),
                Some(&message),
            );
            let _ = room.try_send(Control::RecorderFailed {
                recording: Some(id),
                message,
            });
        }
    }
}

/// What recovery did to one recording.
#[derive(Clone, Debug)]
pub struct Recovered {
    pub recording: RecordingId,
    pub state: RecordingState,
    pub files: usize,
    pub duration_ms: i64,
}

/// Repairs every recording a crash or power loss left unfinished: each file is made playable
/// (real duration, cues) and marked `recovered`; files that are missing or hold nothing
/// playable are dropped from the catalogue (and from the disk), so the catalogue never points at
/// a missing file.
pub fn recover_unfinished(store: &Store, root: &Path) -> anyhow::Result<Vec<Recovered>> {
    let mut out = Vec::new();
    for rec in store.unfinished_recordings()? {
        let dir = root.join(&rec.dir);
        let mut end_ms = 0i64;
        let mut kept = 0usize;
        for f in store.files(rec.id)? {
            let path = dir.join(&f.file_name);
            if !path.is_file() {
                tracing::warn!("recovery: {} is missing; dropped", path.display());
                store.remove_file(&f.id)?;
                continue;
            }
            let started = Instant::now();
            match lectern_record::mkv::recover(&path) {
                Ok(r) => {
                    let state = if f.state == RecordingState::Ready && !r.repaired {
                        RecordingState::Ready
                    } else {
                        RecordingState::Recovered
                    };
                    store.update_file(
                        &f.id,
                        state,
                        r.summary.duration_ms as i64,
                        r.summary.bytes as i64,
                    )?;
                    end_ms = end_ms.max(f.start_ms + r.summary.duration_ms as i64);
                    kept += 1;
                    tracing::info!(
                        "recovery: {} holds {:.1} s{} ({} ms)",
                        path.display(),
                        r.summary.duration_ms as f64 / 1000.0,
                        if r.repaired { ", repaired" } else { "" },
                        started.elapsed().as_millis()
                    );
                }
                Err(e) => {
                    tracing::warn!(
                        "recovery: {} is not playable ({e}); removed",
                        path.display()
                    );
                    let _ = std::fs::remove_file(&path);
                    store.remove_file(&f.id)?;
                }
            }
        }
        let state = if kept > 0 {
            RecordingState::Recovered
        } else {
            RecordingState::Failed
        };
        let error = (kept == 0 && rec.error.is_none())
            .then_some("the server stopped before anything was recorded");
        store.set_recording_state(rec.id, state, Some(end_ms), error)?;
        write_manifest(store, root, rec.id);
        out.push(Recovered {
            recording: rec.id,
            state,
            files: kept,
            duration_ms: end_ms,
        });
    }
    Ok(out)
}

/// A recording's manifest: its session, files and events on one timeline (milliseconds from
/// the recording's start). `None` for an unknown recording.
pub fn manifest(store: &Store, id: RecordingId) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(rec) = store.recording(id)? else {
        return Ok(None);
    };
    let session = store.session(rec.session_id)?;
    let files: Vec<serde_json::Value> = store
        .files(id)?
        .into_iter()
        // A file waiting for recovery (the disk was full) is not offered for playback.
        .filter(|f| f.state != RecordingState::Failed)
        .map(|f| {
            json!({
                "id": f.id,
                "kind": f.kind,
                "publisher": f.publisher,
                "file": f.file_name,
                "url": format!("/media/{}", f.id),
                "mime": f.mime,
                "start_ms": f.start_ms,
                "duration_ms": f.duration_ms,
                "bytes": f.bytes,
                "state": f.state,
                "tracks": serde_json::from_str::<serde_json::Value>(&f.tracks)
                    .unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    let events: Vec<serde_json::Value> = store
        .events(id)?
        .into_iter()
        .map(|e| {
            json!({
                "at_ms": e.at_ms,
                "kind": e.kind,
                "data": serde_json::from_str::<serde_json::Value>(&e.data)
                    .unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    Ok(Some(json!({
        "version": 1,
        "recording": rec.id,
        "session": rec.session_id,
        "session_title": session.as_ref().map(|s| s.title.clone()),
        "course_title": session.as_ref().map(|s| s.course_title.clone()),
        "state": rec.state,
        "started_at_ms": rec.started_at_ms,
        "stopped_at_ms": rec.stopped_at_ms,
        "duration_ms": rec.duration_ms,
        "error": rec.error,
        "files": files,
        "events": events,
    })))
}

/// Writes `manifest.json` next to a recording's files (atomically: temporary file, then rename).
pub(crate) fn write_manifest(store: &Store, root: &Path, id: RecordingId) {
    let result = (|| -> anyhow::Result<()> {
        let Some(rec) = store.recording(id)? else {
            return Ok(());
        };
        let Some(m) = manifest(store, id)? else {
            return Ok(());
        };
        let dir = root.join(&rec.dir);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join("manifest.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&m)?)?;
        std::fs::rename(&tmp, dir.join("manifest.json"))?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!("writing the manifest of recording {id}: {e:#}");
    }
}

/// What an erasure removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub files: usize,
    pub bytes: u64,
    pub events: usize,
}

/// Erases one person's contributions (the holder of `invite`) from a finished recording: the
/// files they published (camera and microphone on stage, or screen), the timeline events that
/// name them (chat, questions, hands), and any single-file export made before (it contains
/// them). Refused while the recording is being written.
pub fn erase(
    store: &Store,
    root: &Path,
    id: RecordingId,
    invite: &str,
) -> Result<Erased, lectern_proto::ProtocolError> {
    use lectern_proto::{ErrorCode, ProtocolError};
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!("erasing from recording {id}: {e}");
        ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
    };
    let rec = store
        .recording(id)
        .map_err(|e| internal(&e))?
        .ok_or_else(|| ProtocolError::new(ErrorCode::UnknownRecording, "no such recording"))?;
    if matches!(
        rec.state,
        RecordingState::Recording | RecordingState::Finalizing
    ) {
        return Err(ProtocolError::new(
            ErrorCode::Busy,
            "the recording is still being written; stop it first",
        ));
    }
    let peers: Vec<String> = store
        .session_members(rec.session_id)
        .map_err(|e| internal(&e))?
        .into_iter()
        .filter(|m| m.invite_id == invite)
        .map(|m| m.peer)
        .collect();
    let dir = root.join(&rec.dir);
    let mut out = Erased::default();
    for f in store.files(id).map_err(|e| internal(&e))? {
        if f.peer.is_empty() || !peers.contains(&f.peer) {
            continue;
        }
        let path = dir.join(&f.file_name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal(&format!("{}: {e}", path.display()))),
        }
        store.remove_file(&f.id).map_err(|e| internal(&e))?;
        out.files += 1;
        out.bytes += f.bytes.max(0) as u64;
    }
    out.events = store
        .delete_events_of(id, &peers)
        .map_err(|e| internal(&e))?;
    for ext in ["mp4", "webm"] {
        let _ = std::fs::remove_file(dir.join(format!("export.{ext}")));
    }
    write_manifest(store, root, id);
    Ok(out)
}

/// Deletes the recordings that are past their course's retention: their files, folder and
/// catalogue rows. Returns what was deleted.
pub fn expire(store: &Store, root: &Path, now_ms: i64) -> anyhow::Result<Vec<RecordingId>> {
    let mut gone = Vec::new();
    for e in store.expired_recordings(now_ms)? {
        // Folders come from the catalogue (`<session>/<recording>`); refuse anything else.
        let safe = !e.dir.is_empty()
            && !e.dir.starts_with('/')
            && !e.dir.contains("..")
            && !e.dir.contains('\\');
        if !safe {
            tracing::error!("retention: refusing catalogue folder {:?}", e.dir);
            continue;
        }
        let dir = root.join(&e.dir);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::error!("retention: deleting {}: {err}", dir.display());
                continue;
            }
        }
        // The session's folder goes when its last recording does.
        if let Some(parent) = dir.parent().filter(|p| *p != root) {
            let _ = std::fs::remove_dir(parent);
        }
        store.delete_recording(e.recording)?;
        tracing::info!("retention: recording {} deleted", e.recording);
        crate::audit::log_as(
            store,
            "system",
            "recording.expire",
            &e.recording.to_string(),
            "past the course's retention",
        );
        gone.push(e.recording);
    }
    // The discussion (chat, questions, hands) follows the same retention.
    let events = store.expire_session_events(now_ms)?;
    if events > 0 {
        tracing::info!("retention: {events} discussion event(s) deleted");
    }
    Ok(gone)
}
