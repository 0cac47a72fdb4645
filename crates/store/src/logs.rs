//! Logs: the consent log (who accepted which recording notice, when), the audit log (joins,
//! leaves, replays, downloads, administration), and the discussion events of live sessions.

use lectern_proto::SessionId;
use rusqlite::params;

use crate::{Result, Store};

/// One line of the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// The invite that acted, or `cli` / `system`.
    pub actor: String,
    pub actor_name: String,
    pub role: String,
    /// What happened: `join`, `leave`, `replay`, `download`, `course.create`, `invite.revoke`, …
    pub action: String,
    /// What it happened to (a session, recording, course or invite id).
    pub target: String,
    pub detail: String,
}

/// One acceptance of the recording notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub at_ms: i64,
    pub invite_id: String,
    pub name: String,
    pub session_id: String,
    pub notice: String,
}

/// A discussion event of a live session (chat, question, hand, stage, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    pub at_ms: i64,
    pub kind: String,
    /// JSON.
    pub data: String,
}

/// One connection of a person to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMember {
    pub session_id: SessionId,
    pub peer: String,
    pub invite_id: String,
    pub name: String,
    pub role: String,
    pub joined_at_ms: i64,
}

/// Filters of the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub action: Option<String>,
    /// Newest first, at most this many.
    pub limit: Option<u32>,
}

impl Store {
    /// Appends to the audit log (`at_ms` 0 means now).
    pub fn audit(&self, e: &AuditEntry) -> Result<()> {
        let at = if e.at_ms == 0 {
            crate::now_ms()
        } else {
            e.at_ms
        };
        self.conn.execute(
            "INSERT INTO audit (at_ms, actor, actor_name, role, action, target, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                at,
                e.actor,
                e.actor_name,
                e.role,
                e.action,
                e.target,
                e.detail
            ],
        )?;
        Ok(())
    }

    /// The audit log, newest first.
    pub fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, actor, actor_name, role, action, target, detail FROM audit
             WHERE (?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR at_ms < ?2)
               AND (?3 IS NULL OR action = ?3)
             ORDER BY at_ms DESC, id DESC LIMIT ?4",
        )?;
        let limit = q.limit.map_or(-1i64, i64::from);
        let rows = stmt.query_map(params![q.since_ms, q.until_ms, q.action, limit], |r| {
            Ok(AuditEntry {
                at_ms: r.get(0)?,
                actor: r.get(1)?,
                actor_name: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                detail: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Records that someone accepted the recording notice before joining a session.
    pub fn log_consent(&self, c: &Consent) -> Result<()> {
        self.conn.execute(
            "INSERT INTO consent (at_ms, invite_id, name, session_id, notice)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.at_ms, c.invite_id, c.name, c.session_id, c.notice],
        )?;
        Ok(())
    }

    /// The consent log of a session (every session: `None`), oldest first.
    pub fn consents(&self, session: Option<SessionId>) -> Result<Vec<Consent>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, invite_id, name, session_id, notice FROM consent
             WHERE ?1 IS NULL OR session_id = ?1 ORDER BY at_ms, id",
        )?;
        let rows = stmt.query_map(params![session.map(|s| s.to_string())], |r| {
            Ok(Consent {
                at_ms: r.get(0)?,
                invite_id: r.get(1)?,
                name: r.get(2)?,
                session_id: r.get(3)?,
                notice: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Remembers who a connection to a session was.
    pub fn add_session_member(&self, m: &SessionMember) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO session_member
                (session_id, peer, invite_id, name, role, joined_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                m.session_id.to_string(),
                m.peer,
                m.invite_id,
                m.name,
                m.role,
                m.joined_at_ms
            ],
        )?;
        Ok(())
    }

    /// The connections of a session, in the order they joined.
    pub fn session_members(&self, session: SessionId) -> Result<Vec<SessionMember>> {
        let mut stmt = self.conn.prepare(
            "SELECT peer, invite_id, name, role, joined_at_ms FROM session_member
             WHERE session_id = ?1 ORDER BY joined_at_ms, rowid",
        )?;
        let rows = stmt.query_map(params![session.to_string()], |r| {
            Ok(SessionMember {
                session_id: session,
                peer: r.get(0)?,
                invite_id: r.get(1)?,
                name: r.get(2)?,
                role: r.get(3)?,
                joined_at_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stores a discussion event of a live session.
    pub fn add_session_event(&self, session: SessionId, e: &SessionEvent) -> Result<()> {
        self.conn.execute(
            "INSERT INTO session_event (session_id, at_ms, kind, data) VALUES (?1, ?2, ?3, ?4)",
            params![session.to_string(), e.at_ms, e.kind, e.data],
        )?;
        Ok(())
    }

    /// Deletes the discussion events older than their course's retention; returns how many.
    pub fn expire_session_events(&self, now_ms: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "DELETE FROM session_event WHERE id IN (
                SELECT e.id FROM session_event e
                JOIN session s ON s.id = e.session_id
                JOIN course c ON c.id = s.course_id
                WHERE c.retention_days IS NOT NULL
                  AND e.at_ms < ?1 - c.retention_days * 86400000)",
            params![now_ms],
        )?)
    }

    /// A session's discussion events in `[from_ms, to_ms)`, in time order.
    pub fn session_events(
        &self,
        session: SessionId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SessionEvent>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, kind, data FROM session_event
             WHERE session_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 ORDER BY at_ms, id",
        )?;
        let rows = stmt.query_map(params![session.to_string(), from_ms, to_ms], |r| {
            Ok(SessionEvent {
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
    fn logs_round_trip() {
        let s = Store::open_in_memory().unwrap();
        for (i, action) in ["join", "replay", "join"].iter().enumerate() {
            s.audit(&AuditEntry {
                at_ms: 1000 + i as i64,
                actor: "inv".into(),
                actor_name: "Ana".into(),
                role: "participant".into(),
                action: action.to_string(),
                target: "x".into(),
                detail: String::new(),
            })
            .unwrap();
        }
        let all = s.audit_log(&AuditQuery::default()).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].at_ms, 1002, "newest first");
        let joins = s
            .audit_log(&AuditQuery {
                action: Some("join".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(joins.len(), 2);
        let window = s
            .audit_log(&AuditQuery {
                since_ms: Some(1001),
                until_ms: Some(1002),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].action, "replay");

        let c = s.create_course("c", "").unwrap();
        let sess = s.create_session(&c.id, "s").unwrap();
        s.log_consent(&Consent {
            at_ms: 5,
            invite_id: "inv".into(),
            name: "Ana".into(),
            session_id: sess.id.to_string(),
            notice: "2026-11".into(),
        })
        .unwrap();
        assert_eq!(s.consents(Some(sess.id)).unwrap().len(), 1);
        assert_eq!(s.consents(None).unwrap().len(), 1);

        for at in [10, 20, 30] {
            s.add_session_event(
                sess.id,
                &SessionEvent {
                    at_ms: at,
                    kind: "chat".into(),
                    data: "{}".into(),
                },
            )
            .unwrap();
        }
        assert_eq!(s.session_events(sess.id, 15, 31).unwrap().len(), 2);
        // Retention: none kept forever; with 1 day, events older than a day go.
        assert_eq!(s.expire_session_events(10 * 86_400_000).unwrap(), 0);
        s.edit_course(
            &c.id,
            &crate::CourseEdit {
                retention_days: Some(Some(1)),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.expire_session_events(86_400_000 + 25).unwrap(), 2);
        assert_eq!(s.session_events(sess.id, 0, i64::MAX).unwrap().len(), 1);
    }
}
