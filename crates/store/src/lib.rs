//! lectern's catalogue in SQLite: courses and sessions (recordings, invites and the audit log
//! join them in later migrations). The only crate that contains SQL.
//!
//! The database runs in WAL mode; the schema is versioned with `PRAGMA user_version` and
//! migrated forward on open.

#![forbid(unsafe_code)]

use std::path::Path;

use base64::Engine;
use lectern_proto::SessionId;
use rusqlite::{params, Connection, OptionalExtension};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database schema is version {found}, newer than this lectern ({supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Migrations, applied in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: courses and sessions with their two capability keys.
    "CREATE TABLE course (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL
     );
     CREATE TABLE session (
        id               TEXT PRIMARY KEY,
        course_id        TEXT NOT NULL REFERENCES course(id) ON DELETE CASCADE,
        title            TEXT NOT NULL,
        facilitator_key  TEXT NOT NULL,
        participant_key  TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        ended_at         INTEGER,
        end_reason       TEXT
     );
     CREATE INDEX session_course ON session(course_id);",
    // 2: recordings, their files on one timeline, and timed events; a course may record
    //    every session from the start.
    "ALTER TABLE course ADD COLUMN record_by_default INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE recording (
        id            TEXT PRIMARY KEY,
        session_id    TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
        state         TEXT NOT NULL
                      CHECK (state IN ('recording','finalizing','ready','recovered','failed')),
        started_at_ms INTEGER NOT NULL,
        stopped_at_ms INTEGER,
        duration_ms   INTEGER,
        error         TEXT,
        dir           TEXT NOT NULL
     );
     CREATE INDEX recording_session ON recording(session_id);
     CREATE TABLE recording_file (
        id           TEXT PRIMARY KEY,
        recording_id TEXT NOT NULL REFERENCES recording(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL CHECK (kind IN ('camera','screen')),
        publisher    TEXT NOT NULL,
        file_name    TEXT NOT NULL,
        mime         TEXT NOT NULL,
        tracks       TEXT NOT NULL,
        start_ms     INTEGER NOT NULL,
        duration_ms  INTEGER,
        bytes        INTEGER NOT NULL DEFAULT 0,
        state        TEXT NOT NULL
                     CHECK (state IN ('recording','finalizing','ready','recovered','failed')),
        UNIQUE (recording_id, file_name)
     );
     CREATE INDEX recording_file_recording ON recording_file(recording_id);
     CREATE TABLE recording_event (
        id           INTEGER PRIMARY KEY,
        recording_id TEXT NOT NULL REFERENCES recording(id) ON DELETE CASCADE,
        at_ms        INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        data         TEXT NOT NULL DEFAULT '{}'
     );
     CREATE INDEX recording_event_recording ON recording_event(recording_id, at_ms);",
    // 3: a course's language and retention; a session's schedule.
    "ALTER TABLE course ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
     ALTER TABLE course ADD COLUMN retention_days INTEGER;
     ALTER TABLE session ADD COLUMN starts_at INTEGER;
     ALTER TABLE session ADD COLUMN ends_at INTEGER;",
    // 4: invites (signed links carry their id), their uses per session, the consent log, the
    //    audit log, and the discussion events of live sessions. Logs keep no foreign keys: they
    //    outlive what they mention.
    "CREATE TABLE invite (
        id            TEXT PRIMARY KEY,
        course_id     TEXT REFERENCES course(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN
                      ('admin','facilitator','participant','replay_viewer','room_display')),
        name          TEXT NOT NULL DEFAULT '',
        affiliation   TEXT NOT NULL DEFAULT '',
        email         TEXT NOT NULL DEFAULT '',
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        max_uses      INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
        revoked_at_ms INTEGER,
        origin        TEXT NOT NULL DEFAULT 'cli',
        CHECK ((role = 'admin') = (course_id IS NULL))
     );
     CREATE INDEX invite_course ON invite(course_id);
     CREATE TABLE invite_use (
        invite_id   TEXT NOT NULL REFERENCES invite(id) ON DELETE CASCADE,
        session_id  TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
        first_at_ms INTEGER NOT NULL,
        PRIMARY KEY (invite_id, session_id)
     );
     CREATE TABLE consent (
        id         INTEGER PRIMARY KEY,
        at_ms      INTEGER NOT NULL,
        invite_id  TEXT NOT NULL,
        name       TEXT NOT NULL,
        session_id TEXT NOT NULL,
        notice     TEXT NOT NULL
     );
     CREATE TABLE audit (
        id         INTEGER PRIMARY KEY,
        at_ms      INTEGER NOT NULL,
        actor      TEXT NOT NULL DEFAULT '',
        actor_name TEXT NOT NULL DEFAULT '',
        role       TEXT NOT NULL DEFAULT '',
        action     TEXT NOT NULL,
        target     TEXT NOT NULL DEFAULT '',
        detail     TEXT NOT NULL DEFAULT ''
     );
     CREATE INDEX audit_at ON audit(at_ms);
     CREATE TABLE session_event (
        id         INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
        at_ms      INTEGER NOT NULL,
        kind       TEXT NOT NULL,
        data       TEXT NOT NULL DEFAULT '{}'
     );
     CREATE INDEX session_event_session ON session_event(session_id, at_ms);",
    // 5: who each connection of a session was (so a person's recorded contributions can be
    //    found and erased), and which connection published each recorded file.
    "CREATE TABLE session_member (
        session_id   TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
        peer         TEXT NOT NULL,
        invite_id    TEXT NOT NULL,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        joined_at_ms INTEGER NOT NULL,
        PRIMARY KEY (session_id, peer)
     );
     CREATE INDEX session_member_invite ON session_member(invite_id);
     ALTER TABLE recording_file ADD COLUMN peer TEXT NOT NULL DEFAULT '';",
    // 6: the facilitators a session names (none: any facilitator of its course).
    "CREATE TABLE session_facilitator (
        session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
        invite_id  TEXT NOT NULL REFERENCES invite(id) ON DELETE CASCADE,
        PRIMARY KEY (session_id, invite_id)
     );",
];

mod courses;
pub use courses::*;

mod recordings;
pub use recordings::*;

mod invites;
pub use invites::*;

mod logs;
pub use logs::*;

/// A course.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Course {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Every session of the course is recorded from the start.
    pub record_by_default: bool,
}

/// A session of a course. (Who may join is a matter of invites, which open a course's
/// sessions; the per-session keys of schema 1 are no longer used.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub course_id: String,
    pub course_title: String,
    pub title: String,
    pub ended: bool,
    /// The session's course records every session from the start.
    pub record_by_default: bool,
}

/// A fresh unguessable key (128 bits, URL-safe).
pub fn new_key() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Milliseconds since the UNIX epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The catalogue.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database file and migrates it.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew {
                found: version,
                supported,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn course_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM course", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    pub fn create_course(&self, title: &str, description: &str) -> Result<Course> {
        let id = uuid::Uuid::new_v4().to_string();
        self.conn.execute(
            "INSERT INTO course (id, title, description, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, title, description, now_secs()],
        )?;
        Ok(Course {
            id,
            title: title.to_string(),
            description: description.to_string(),
            record_by_default: false,
        })
    }

    /// Whether every session of a course is recorded from the start.
    pub fn set_record_by_default(&self, course_id: &str, on: bool) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE course SET record_by_default = ?2 WHERE id = ?1",
            params![course_id, on],
        )? == 1)
    }

    /// All courses, oldest first.
    pub fn courses(&self) -> Result<Vec<Course>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, title, description, record_by_default FROM course
             ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Course {
                id: r.get(0)?,
                title: r.get(1)?,
                description: r.get(2)?,
                record_by_default: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Creates a session with fresh facilitator and participant keys.
    pub fn create_session(&self, course_id: &str, title: &str) -> Result<Session> {
        let id = SessionId::random();
        let (fk, pk) = (new_key(), new_key());
        self.conn.execute(
            "INSERT INTO session (id, course_id, title, facilitator_key, participant_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id.to_string(), course_id, title, fk, pk, now_secs()],
        )?;
        self.session(id)?
            .ok_or_else(|| StoreError::Corrupt("session vanished after insert".into()))
    }

    /// A session by id.
    pub fn session(&self, id: SessionId) -> Result<Option<Session>> {
        self.conn
            .query_row(
                "SELECT s.id, s.course_id, c.title, s.title, s.ended_at IS NOT NULL,
                        c.record_by_default
                 FROM session s JOIN course c ON c.id = s.course_id WHERE s.id = ?1",
                params![id.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Session {
                            id,
                            course_id: r.get(1)?,
                            course_title: r.get(2)?,
                            title: r.get(3)?,
                            ended: r.get(4)?,
                            record_by_default: r.get(5)?,
                        },
                    ))
                },
            )
            .optional()?
            .map(|(_, s)| Ok(s))
            .transpose()
    }

    /// All sessions, newest first.
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM session ORDER BY created_at DESC, rowid DESC")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id: SessionId = id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("session id {id:?}")))?;
            if let Some(s) = self.session(id)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Marks a session ended (idempotent).
    pub fn end_session(&self, id: SessionId, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE session SET ended_at = ?2, end_reason = ?3 WHERE id = ?1 AND ended_at IS NULL",
            params![id.to_string(), now_secs(), reason],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_round_trips() {
        let dir = std::env::temp_dir().join(format!("lectern-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lectern.db");
        let sid = {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
            let c = s
                .create_course("Border security", "Regional course")
                .unwrap();
            let sess = s.create_session(&c.id, "Day 1").unwrap();
            sess.id
        };
        // Reopen: migrations are not re-applied, data is there.
        let s = Store::open(&path).unwrap();
        let sess = s.session(sid).unwrap().unwrap();
        assert_eq!(sess.course_title, "Border security");
        assert!(!sess.ended);
        s.end_session(sid, "ended_by_facilitator").unwrap();
        s.end_session(sid, "again").unwrap();
        assert!(s.session(sid).unwrap().unwrap().ended);
        assert!(s.session(SessionId::random()).unwrap().is_none());
        assert_eq!(s.sessions().unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keys_are_unguessable() {
        let a = new_key();
        assert_eq!(a.len(), 22);
        assert_ne!(a, new_key());
    }
}
