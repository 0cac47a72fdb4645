//! The recordings catalogue: a recording (one start → stop of the recorder in a session), its
//! files on the recording's timeline, and timed events (chapters; chat and questions later).

use std::str::FromStr;

use lectern_proto::{RecordingId, SessionId};
use rusqlite::{params, OptionalExtension, Row};

use crate::{now_ms, Result, Store, StoreError};

/// Where a recording or one of its files stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Media is being written.
    Recording,
    /// Stopped; files are being closed.
    Finalizing,
    /// Complete and playable.
    Ready,
    /// Left unfinished by a crash and repaired on the next start.
    Recovered,
    /// Nothing playable (see the error).
    Failed,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Recording => "recording",
            RecordingState::Finalizing => "finalizing",
            RecordingState::Ready => "ready",
            RecordingState::Recovered => "recovered",
            RecordingState::Failed => "failed",
        }
    }

    /// Whether it can be played.
    pub fn playable(self) -> bool {
        matches!(self, RecordingState::Ready | RecordingState::Recovered)
    }
}

impl FromStr for RecordingState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "recording" => RecordingState::Recording,
            "finalizing" => RecordingState::Finalizing,
            "ready" => RecordingState::Ready,
            "recovered" => RecordingState::Recovered,
            "failed" => RecordingState::Failed,
            other => return Err(StoreError::Corrupt(format!("recording state {other:?}"))),
        })
    }
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A publisher's camera and microphone.
    Camera,
    /// A publisher's screen share.
    Screen,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Camera => "camera",
            FileKind::Screen => "screen",
        }
    }
}

impl FromStr for FileKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "camera" => Ok(FileKind::Camera),
            "screen" => Ok(FileKind::Screen),
            other => Err(StoreError::Corrupt(format!("file kind {other:?}"))),
        }
    }
}

/// One recording of a session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Recording {
    pub id: RecordingId,
    pub session_id: SessionId,
    pub state: RecordingState,
    pub started_at_ms: i64,
    pub stopped_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    /// Its folder, relative to the recordings root.
    pub dir: String,
}

/// One media file of a recording.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordingFile {
    pub id: String,
    pub recording_id: RecordingId,
    pub kind: FileKind,
    /// The publisher's display name.
    pub publisher: String,
    /// The file's name inside the recording's folder (chosen by the server, never by a client).
    pub file_name: String,
    pub mime: String,
    /// A JSON description of its tracks.
    pub tracks: String,
    /// Where the file starts on the recording's timeline.
    pub start_ms: i64,
    pub duration_ms: Option<i64>,
    pub bytes: i64,
    pub state: RecordingState,
    /// The publisher's connection (a peer id; empty for files recorded before schema 5).
    pub peer: String,
}

/// A new file, as the recorder opens it.
#[derive(Clone, Debug)]
pub struct NewFile<'a> {
    pub id: &'a str,
    pub recording_id: RecordingId,
    pub kind: FileKind,
    pub publisher: &'a str,
    /// The publisher's connection (a peer id).
    pub peer: &'a str,
    pub file_name: &'a str,
    pub mime: &'a str,
    pub tracks: &'a str,
    pub start_ms: i64,
}

/// A timed event of a recording.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordingEvent {
    pub at_ms: i64,
    pub kind: String,
    /// JSON.
    pub data: String,
}

/// A recording with what the library lists it under.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LibraryEntry {
    pub course_id: String,
    pub course_title: String,
    pub session_id: SessionId,
    pub session_title: String,
    pub recording: Recording,
}

const RECORDING_COLUMNS: &str =
    "id, session_id, state, started_at_ms, stopped_at_ms, duration_ms, error, dir";
const FILE_COLUMNS: &str = "id, recording_id, kind, publisher, file_name, mime, tracks, start_ms,
     duration_ms, bytes, state, peer";

fn parse<T: FromStr>(what: &str, s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad {what} {s:?}").into(),
        )
    })
}

fn recording_row(r: &Row<'_>) -> rusqlite::Result<Recording> {
    Ok(Recording {
        id: parse("recording id", r.get(0)?)?,
        session_id: parse("session id", r.get(1)?)?,
        state: parse("state", r.get(2)?)?,
        started_at_ms: r.get(3)?,
        stopped_at_ms: r.get(4)?,
        duration_ms: r.get(5)?,
        error: r.get(6)?,
        dir: r.get(7)?,
    })
}

fn file_row(r: &Row<'_>) -> rusqlite::Result<RecordingFile> {
    Ok(RecordingFile {
        id: r.get(0)?,
        recording_id: parse("recording id", r.get(1)?)?,
        kind: parse("kind", r.get(2)?)?,
        publisher: r.get(3)?,
        file_name: r.get(4)?,
        mime: r.get(5)?,
        tracks: r.get(6)?,
        start_ms: r.get(7)?,
        duration_ms: r.get(8)?,
        bytes: r.get(9)?,
        state: parse("state", r.get(10)?)?,
        peer: r.get(11)?,
    })
}

impl Store {
    /// Starts a recording of a session, stored in `dir` (relative to the recordings root).
    pub fn create_recording(
        &self,
        id: RecordingId,
        session: SessionId,
        started_at_ms: i64,
        dir: &str,
    ) -> Result<Recording> {
        self.conn.execute(
            "INSERT INTO recording (id, session_id, state, started_at_ms, dir)
             VALUES (?1, ?2, 'recording', ?3, ?4)",
            params![id.to_string(), session.to_string(), started_at_ms, dir],
        )?;
        self.recording(id)?
            .ok_or_else(|| StoreError::Corrupt("recording vanished after insert".into()))
    }

    pub fn recording(&self, id: RecordingId) -> Result<Option<Recording>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RECORDING_COLUMNS} FROM recording WHERE id = ?1"),
                params![id.to_string()],
                recording_row,
            )
            .optional()?)
    }

    /// The recordings of a session, oldest first.
    pub fn session_recordings(&self, session: SessionId) -> Result<Vec<Recording>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recording WHERE session_id = ?1
             ORDER BY started_at_ms, rowid"
        ))?;
        let rows = stmt.query_map(params![session.to_string()], recording_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every recording with its course and session, newest first.
    pub fn library(&self) -> Result<Vec<LibraryEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.session_id, r.state, r.started_at_ms, r.stopped_at_ms,
                    r.duration_ms, r.error, r.dir, c.id, c.title, s.title
             FROM recording r JOIN session s ON s.id = r.session_id
                              JOIN course c ON c.id = s.course_id
             ORDER BY r.started_at_ms DESC, r.rowid DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            let recording = recording_row(r)?;
            Ok(LibraryEntry {
                course_id: r.get(8)?,
                course_title: r.get(9)?,
                session_id: recording.session_id,
                session_title: r.get(10)?,
                recording,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Recordings that a crash left in `recording` or `finalizing`, and recordings with a
    /// file that could not be finished (left for recovery, for example when the disk was full).
    pub fn unfinished_recordings(&self) -> Result<Vec<Recording>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recording
             WHERE state IN ('recording', 'finalizing')
                OR id IN (SELECT recording_id FROM recording_file
                          WHERE state IN ('recording', 'finalizing', 'failed'))
             ORDER BY started_at_ms"
        ))?;
        let rows = stmt.query_map([], recording_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Sets a recording's state (and, when given, its stop time, duration and error).
    pub fn set_recording_state(
        &self,
        id: RecordingId,
        state: RecordingState,
        duration_ms: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        let stopped = (!matches!(state, RecordingState::Recording)).then(now_ms);
        self.conn.execute(
            "UPDATE recording SET state = ?2,
                 stopped_at_ms = COALESCE(stopped_at_ms, ?3),
                 duration_ms = COALESCE(?4, duration_ms),
                 error = COALESCE(?5, error)
             WHERE id = ?1",
            params![id.to_string(), state.as_str(), stopped, duration_ms, error],
        )?;
        Ok(())
    }

    /// Records a file the recorder is about to create.
    pub fn add_file(&self, f: &NewFile<'_>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO recording_file
                (id, recording_id, kind, publisher, file_name, mime, tracks, start_ms, state, peer)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'recording', ?9)",
            params![
                f.id,
                f.recording_id.to_string(),
                f.kind.as_str(),
                f.publisher,
                f.file_name,
                f.mime,
                f.tracks,
                f.start_ms,
                f.peer
            ],
        )?;
        Ok(())
    }

    /// Updates a file's size, duration and state.
    pub fn update_file(
        &self,
        id: &str,
        state: RecordingState,
        duration_ms: i64,
        bytes: i64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE recording_file SET state = ?2, duration_ms = ?3, bytes = ?4 WHERE id = ?1",
            params![id, state.as_str(), duration_ms, bytes],
        )?;
        Ok(())
    }

    /// Forgets a file (it does not exist on disk, or holds nothing playable).
    pub fn remove_file(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM recording_file WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Deletes a recording's timed events whose data names one of `peers` (`"peer": …`).
    pub fn delete_events_of(&self, recording: RecordingId, peers: &[String]) -> Result<usize> {
        let mut n = 0;
        for p in peers {
            n += self.conn.execute(
                "DELETE FROM recording_event
                 WHERE recording_id = ?1 AND json_valid(data) AND json_extract(data, '$.peer') = ?2",
                params![recording.to_string(), p],
            )?;
        }
        Ok(n)
    }

    /// A recording's files, in timeline order.
    pub fn files(&self, recording: RecordingId) -> Result<Vec<RecordingFile>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FILE_COLUMNS} FROM recording_file WHERE recording_id = ?1
             ORDER BY start_ms, rowid"
        ))?;
        let rows = stmt.query_map(params![recording.to_string()], file_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// One file by id.
    pub fn file(&self, id: &str) -> Result<Option<RecordingFile>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {FILE_COLUMNS} FROM recording_file WHERE id = ?1"),
                params![id],
                file_row,
            )
            .optional()?)
    }

    /// Adds a timed event to a recording.
    pub fn add_event(
        &self,
        recording: RecordingId,
        at_ms: i64,
        kind: &str,
        data: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO recording_event (recording_id, at_ms, kind, data) VALUES (?1, ?2, ?3, ?4)",
            params![recording.to_string(), at_ms, kind, data],
        )?;
        Ok(())
    }

    /// A recording's events in time order.
    pub fn events(&self, recording: RecordingId) -> Result<Vec<RecordingEvent>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, kind, data FROM recording_event WHERE recording_id = ?1
             ORDER BY at_ms, id",
        )?;
        let rows = stmt.query_map(params![recording.to_string()], |r| {
            Ok(RecordingEvent {
                at_ms: r.get(0)?,
                kind: r.get(1)?,
                data: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_files_and_events_round_trip() {
        let s = Store::open_in_memory().unwrap();
        let c = s.create_course("Course", "").unwrap();
        let sess = s.create_session(&c.id, "Day 1").unwrap();
        let id = RecordingId::random();
        let r = s.create_recording(id, sess.id, 1_000, "a/b").unwrap();
        assert_eq!(r.state, RecordingState::Recording);
        assert_eq!(s.unfinished_recordings().unwrap().len(), 1);
        s.add_file(&NewFile {
            id: "f1",
            recording_id: id,
            kind: FileKind::Camera,
            publisher: "Ana",
            peer: "p1",
            file_name: "camera-1.webm",
            mime: "video/webm",
            tracks: "[]",
            start_ms: 40,
        })
        .unwrap();
        s.update_file("f1", RecordingState::Ready, 9_000, 12345)
            .unwrap();
        s.add_event(id, 0, "chapter", r#"{"title":"Intro"}"#)
            .unwrap();
        s.set_recording_state(id, RecordingState::Ready, Some(9_040), None)
            .unwrap();
        let r = s.recording(id).unwrap().unwrap();
        assert_eq!(r.state, RecordingState::Ready);
        assert_eq!(r.duration_ms, Some(9_040));
        assert!(r.stopped_at_ms.is_some());
        let files = s.files(id).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].bytes, 12345);
        assert_eq!(s.file("f1").unwrap().unwrap().kind, FileKind::Camera);
        assert!(s.file("nope").unwrap().is_none());
        assert_eq!(s.events(id).unwrap().len(), 1);
        assert!(s.unfinished_recordings().unwrap().is_empty());
        let lib = s.library().unwrap();
        assert_eq!(lib.len(), 1);
        assert_eq!(lib[0].session_title, "Day 1");
        s.remove_file("f1").unwrap();
        assert!(s.files(id).unwrap().is_empty());
        // A second file name clash is refused.
        let dup = NewFile {
            id: "f2",
            recording_id: id,
            kind: FileKind::Screen,
            publisher: "Ana",
            peer: "p1",
            file_name: "screen-1.webm",
            mime: "video/webm",
            tracks: "[]",
            start_ms: 0,
        };
        s.add_file(&dup).unwrap();
        assert!(s.add_file(&NewFile { id: "f3", ..dup }).is_err());
    }

    #[test]
    fn course_setting_reaches_its_sessions() {
        let s = Store::open_in_memory().unwrap();
        let c = s.create_course("Course", "").unwrap();
        let sess = s.create_session(&c.id, "Day 1").unwrap();
        assert!(!sess.record_by_default);
        assert!(s.set_record_by_default(&c.id, true).unwrap());
        assert!(s.session(sess.id).unwrap().unwrap().record_by_default);
        assert!(s.courses().unwrap()[0].record_by_default);
        assert!(!s.set_record_by_default("missing", true).unwrap());
    }
}
