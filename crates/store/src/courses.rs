//! Course and session administration: settings of a course (language, retention, recording by
//! default), a session's schedule, and cancelling a session.

use lectern_proto::SessionId;
use rusqlite::{params, OptionalExtension};

use crate::{Course, Result, Store, StoreError};

/// Languages the web client speaks.
pub const LANGUAGES: &[&str] = &["en", "fr", "nl", "es"];

/// A course with its settings and how many sessions it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CourseDetails {
    pub course: Course,
    pub language: String,
    /// Recordings are deleted this many days after they were made (`None`: kept).
    pub retention_days: Option<u32>,
    pub sessions: u64,
}

/// Changes to a course; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CourseEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    /// `Some(None)` keeps recordings forever.
    pub retention_days: Option<Option<u32>>,
    pub record_by_default: Option<bool>,
}

/// A session's schedule (seconds since the UNIX epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
}

/// Checks a course's settings without changing anything.
pub fn check_course_edit(e: &CourseEdit) -> Result<()> {
    if let Some(t) = &e.title {
        if t.trim().is_empty() || t.chars().count() > 200 {
            return Err(StoreError::Invalid(
                "a title has 1 to 200 characters".into(),
            ));
        }
    }
    if let Some(l) = &e.language {
        if !LANGUAGES.contains(&l.as_str()) {
            return Err(StoreError::Invalid(format!(
                "language {l:?} is not one of {}",
                LANGUAGES.join(", ")
            )));
        }
    }
    if let Some(Some(0)) = e.retention_days {
        return Err(StoreError::Invalid(
            "retention is at least 1 day (or none, to keep recordings)".into(),
        ));
    }
    Ok(())
}

impl Store {
    /// Changes a course's settings. `false` when there is no such course.
    pub fn edit_course(&self, id: &str, e: &CourseEdit) -> Result<bool> {
        check_course_edit(e)?;
        if self.course_details(id)?.is_none() {
            return Ok(false);
        }
        let tx = self.conn.unchecked_transaction()?;
        if let Some(t) = &e.title {
            tx.execute(
                "UPDATE course SET title = ?2 WHERE id = ?1",
                params![id, t.trim()],
            )?;
        }
        if let Some(d) = &e.description {
            tx.execute(
                "UPDATE course SET description = ?2 WHERE id = ?1",
                params![id, d],
            )?;
        }
        if let Some(l) = &e.language {
            tx.execute(
                "UPDATE course SET language = ?2 WHERE id = ?1",
                params![id, l],
            )?;
        }
        if let Some(r) = e.retention_days {
            tx.execute(
                "UPDATE course SET retention_days = ?2 WHERE id = ?1",
                params![id, r],
            )?;
        }
        if let Some(r) = e.record_by_default {
            tx.execute(
                "UPDATE course SET record_by_default = ?2 WHERE id = ?1",
                params![id, r],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Deletes a course and its sessions (used to undo a creation that failed half-way).
    pub fn delete_course(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM course WHERE id = ?1", params![id])?
            == 1)
    }

    /// Deletes a session (used to undo a creation that failed half-way).
    pub fn delete_session(&self, id: SessionId) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM session WHERE id = ?1", params![id.to_string()])?
            == 1)
    }

    /// A course with its settings.
    pub fn course_details(&self, id: &str) -> Result<Option<CourseDetails>> {
        Ok(self
            .conn
            .query_row(
                "SELECT c.id, c.title, c.description, c.record_by_default, c.language,
                        c.retention_days, (SELECT COUNT(*) FROM session s WHERE s.course_id = c.id)
                 FROM course c WHERE c.id = ?1",
                params![id],
                details_row,
            )
            .optional()?)
    }

    /// Every course with its settings, oldest first.
    pub fn course_list(&self) -> Result<Vec<CourseDetails>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.title, c.description, c.record_by_default, c.language,
                    c.retention_days, (SELECT COUNT(*) FROM session s WHERE s.course_id = c.id)
             FROM course c ORDER BY c.created_at, c.rowid",
        )?;
        let rows = stmt.query_map([], details_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Schedules a session (either bound may be absent).
    pub fn schedule_session(&self, id: SessionId, schedule: Schedule) -> Result<bool> {
        if let (Some(a), Some(b)) = (schedule.starts_at, schedule.ends_at) {
            if b <= a {
                return Err(StoreError::Invalid("a session ends after it starts".into()));
            }
        }
        Ok(self.conn.execute(
            "UPDATE session SET starts_at = ?2, ends_at = ?3 WHERE id = ?1",
            params![id.to_string(), schedule.starts_at, schedule.ends_at],
        )? == 1)
    }

    /// Names the facilitators of a session (their invites; empty: any facilitator of the
    /// course). Every invite must be a facilitator invite of the session's course.
    pub fn set_session_facilitators(&self, id: SessionId, invites: &[String]) -> Result<bool> {
        let Some(course) = self.session(id)?.map(|s| s.course_id) else {
            return Ok(false);
        };
        for i in invites {
            match self.invite(i)? {
                Some(inv)
                    if inv.role == lectern_proto::Role::Facilitator
                        && inv.course_id.as_deref() == Some(course.as_str()) => {}
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "{i} is not a facilitator invite of the session's course"
                    )))
                }
            }
        }
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM session_facilitator WHERE session_id = ?1",
            params![id.to_string()],
        )?;
        for i in invites {
            tx.execute(
                "INSERT OR IGNORE INTO session_facilitator (session_id, invite_id) VALUES (?1, ?2)",
                params![id.to_string(), i],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// The facilitator invites a session names (empty: any facilitator of the course).
    pub fn session_facilitators(&self, id: SessionId) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT invite_id FROM session_facilitator WHERE session_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![id.to_string()], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// A session's schedule.
    pub fn session_schedule(&self, id: SessionId) -> Result<Option<Schedule>> {
        Ok(self
            .conn
            .query_row(
                "SELECT starts_at, ends_at FROM session WHERE id = ?1",
                params![id.to_string()],
                |r| {
                    Ok(Schedule {
                        starts_at: r.get(0)?,
                        ends_at: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Why a session ended (`"cancelled"` when an administrator cancelled it), or `None` while
    /// it has not ended.
    pub fn session_end_reason(&self, id: SessionId) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT end_reason FROM session WHERE id = ?1 AND ended_at IS NOT NULL",
                params![id.to_string()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }
}

/// A recording past its course's retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    pub recording: lectern_proto::RecordingId,
    /// Its folder, relative to the recordings root.
    pub dir: String,
}

impl Store {
    /// Recordings whose course keeps recordings `retention_days` and that started before
    /// `now_ms` minus that; recordings still being written are left alone.
    pub fn expired_recordings(&self, now_ms: i64) -> Result<Vec<Expired>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.dir FROM recording r
               JOIN session s ON s.id = r.session_id
               JOIN course c ON c.id = s.course_id
             WHERE c.retention_days IS NOT NULL
               AND r.state NOT IN ('recording', 'finalizing')
               AND r.started_at_ms < ?1 - c.retention_days * 86400000",
        )?;
        let rows = stmt.query_map(params![now_ms], |r| {
            let id: String = r.get(0)?;
            Ok((id, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, dir) = row?;
            let recording = id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("recording id {id:?}")))?;
            out.push(Expired { recording, dir });
        }
        Ok(out)
    }

    /// Deletes a recording with its files and events from the catalogue.
    pub fn delete_recording(&self, id: lectern_proto::RecordingId) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM recording WHERE id = ?1",
            params![id.to_string()],
        )? == 1)
    }
}

fn details_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CourseDetails> {
    Ok(CourseDetails {
        course: Course {
            id: r.get(0)?,
            title: r.get(1)?,
            description: r.get(2)?,
            record_by_default: r.get(3)?,
        },
        language: r.get(4)?,
        retention_days: r.get(5)?,
        sessions: r.get::<_, i64>(6)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courses_are_edited_and_checked() {
        let s = Store::open_in_memory().unwrap();
        let c = s.create_course("Border security", "").unwrap();
        s.create_session(&c.id, "Day 1").unwrap();
        let d = s.course_details(&c.id).unwrap().unwrap();
        assert_eq!(
            (d.language.as_str(), d.retention_days, d.sessions),
            ("en", None, 1)
        );
        assert!(s
            .edit_course(
                &c.id,
                &CourseEdit {
                    title: Some(" Border security 2027 ".into()),
                    language: Some("fr".into()),
                    retention_days: Some(Some(90)),
                    record_by_default: Some(true),
                    ..CourseEdit::default()
                },
            )
            .unwrap());
        let d = s.course_details(&c.id).unwrap().unwrap();
        assert_eq!(d.course.title, "Border security 2027");
        assert_eq!((d.language.as_str(), d.retention_days), ("fr", Some(90)));
        assert!(d.course.record_by_default);
        // Bad values are refused and change nothing.
        for bad in [
            CourseEdit {
                language: Some("de".into()),
                ..CourseEdit::default()
            },
            CourseEdit {
                title: Some("  ".into()),
                ..CourseEdit::default()
            },
            CourseEdit {
                retention_days: Some(Some(0)),
                ..CourseEdit::default()
            },
        ] {
            assert!(matches!(
                s.edit_course(&c.id, &bad),
                Err(StoreError::Invalid(_))
            ));
        }
        assert_eq!(s.course_details(&c.id).unwrap().unwrap(), d);
        assert!(!s.edit_course("missing", &CourseEdit::default()).unwrap());
        assert_eq!(s.course_list().unwrap().len(), 1);
    }

    #[test]
    fn recordings_past_retention_expire() {
        let s = Store::open_in_memory().unwrap();
        let kept = s.create_course("Kept", "").unwrap();
        let short = s.create_course("Short", "").unwrap();
        s.edit_course(
            &short.id,
            &CourseEdit {
                retention_days: Some(Some(30)),
                ..CourseEdit::default()
            },
        )
        .unwrap();
        let day = 86_400_000i64;
        let now = 100 * day;
        let mut ids = Vec::new();
        for (course, age_days, state) in [
            (&kept.id, 90, crate::RecordingState::Ready),
            (&short.id, 31, crate::RecordingState::Ready),
            (&short.id, 29, crate::RecordingState::Ready),
            (&short.id, 31, crate::RecordingState::Recording),
        ] {
            let sess = s.create_session(course, "Day").unwrap();
            let id = lectern_proto::RecordingId::random();
            s.create_recording(id, sess.id, now - age_days * day, &format!("d/{id}"))
                .unwrap();
            if state != crate::RecordingState::Recording {
                s.set_recording_state(id, state, Some(1), None).unwrap();
            }
            ids.push(id);
        }
        let expired = s.expired_recordings(now).unwrap();
        assert_eq!(
            expired,
            [Expired {
                recording: ids[1],
                dir: format!("d/{}", ids[1])
            }]
        );
        assert!(s.delete_recording(ids[1]).unwrap());
        assert!(s.recording(ids[1]).unwrap().is_none());
        assert!(s.expired_recordings(now).unwrap().is_empty());
    }

    #[test]
    fn sessions_are_scheduled() {
        let s = Store::open_in_memory().unwrap();
        let c = s.create_course("Course", "").unwrap();
        let sess = s.create_session(&c.id, "Day 1").unwrap();
        assert_eq!(
            s.session_schedule(sess.id).unwrap(),
            Some(Schedule::default())
        );
        let sched = Schedule {
            starts_at: Some(1_000),
            ends_at: Some(4_600),
        };
        assert!(s.schedule_session(sess.id, sched).unwrap());
        assert_eq!(s.session_schedule(sess.id).unwrap(), Some(sched));
        assert!(s
            .schedule_session(
                sess.id,
                Schedule {
                    starts_at: Some(5),
                    ends_at: Some(5)
                }
            )
            .is_err());
        assert!(!s.schedule_session(SessionId::random(), sched).unwrap());
    }
}
