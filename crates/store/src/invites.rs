//! Invites: who may do what, in which course, until when. A signed link names an invite by id;
//! the row says whether it still holds (expiry, revocation, uses).

use lectern_proto::{Role, SessionId};
use rusqlite::{params, OptionalExtension, Row};

use crate::{Result, Store, StoreError};

/// Longest name, affiliation or e-mail address on an invite, in characters.
pub const MAX_INVITE_FIELD_CHARS: usize = 200;

/// An invite as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub id: String,
    /// The course it opens; `None` for an admin.
    pub course_id: Option<String>,
    pub role: Role,
    /// The invitee's display name; empty for a shared invite (the holder picks a name).
    pub name: String,
    pub affiliation: String,
    pub email: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// How many sessions it may join; `None`: any number.
    pub max_uses: Option<u32>,
    /// How many sessions it has joined.
    pub uses: u32,
    pub revoked_at_ms: Option<i64>,
    /// Where it was made: `first-start`, `cli`, `admin` (the admin API) or `roster`.
    pub origin: String,
}

impl Invite {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at_ms.is_some()
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at_ms
    }
}

/// A new invite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvite {
    pub course_id: Option<String>,
    pub role: Role,
    pub name: String,
    pub affiliation: String,
    pub email: String,
    pub expires_at_ms: i64,
    pub max_uses: Option<u32>,
    pub origin: String,
}

/// Whether a session may be joined on an invite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteUse {
    /// Counted now, or already counted for this session.
    Granted,
    /// The invite has joined as many sessions as it may.
    UsedUp,
}

fn clean(field: &str, what: &str) -> Result<String> {
    let v: String = field.chars().filter(|c| !c.is_control()).collect();
    let v = v.trim().to_string();
    if v.chars().count() > MAX_INVITE_FIELD_CHARS {
        return Err(StoreError::Invalid(format!(
            "{what} has at most {MAX_INVITE_FIELD_CHARS} characters"
        )));
    }
    Ok(v)
}

const COLUMNS: &str = "i.id, i.course_id, i.role, i.name, i.affiliation, i.email, i.created_at_ms,
     i.expires_at_ms, i.max_uses, i.revoked_at_ms, i.origin,
     (SELECT COUNT(*) FROM invite_use u WHERE u.invite_id = i.id)";

fn row(r: &Row<'_>) -> rusqlite::Result<Invite> {
    let role: String = r.get(2)?;
    Ok(Invite {
        id: r.get(0)?,
        course_id: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::ReplayViewer),
        name: r.get(3)?,
        affiliation: r.get(4)?,
        email: r.get(5)?,
        created_at_ms: r.get(6)?,
        expires_at_ms: r.get(7)?,
        max_uses: r.get(8)?,
        revoked_at_ms: r.get(9)?,
        origin: r.get(10)?,
        uses: r.get(11)?,
    })
}

impl Store {
    /// Creates an invite. An admin invite has no course; every other role has one.
    pub fn create_invite(&self, n: &NewInvite) -> Result<Invite> {
        match (&n.course_id, n.role) {
            (Some(_), Role::Admin) => {
                return Err(StoreError::Invalid(
                    "an admin invite is not limited to a course".into(),
                ))
            }
            (None, r) if r != Role::Admin => {
                return Err(StoreError::Invalid(format!("a {r} invite needs a course")))
            }
            _ => {}
        }
        if let Some(c) = &n.course_id {
            if self.course_details(c)?.is_none() {
                return Err(StoreError::Invalid(format!("no course {c}")));
            }
        }
        if n.max_uses == Some(0) {
            return Err(StoreError::Invalid("uses must be at least 1".into()));
        }
        let name = clean(&n.name, "a name")?;
        let affiliation = clean(&n.affiliation, "an affiliation")?;
        let email = clean(&n.email, "an e-mail address")?;
        if !email.is_empty() && (!email.contains('@') || email.contains(char::is_whitespace)) {
            return Err(StoreError::Invalid(format!(
                "{email:?} is not an e-mail address"
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = crate::now_ms();
        if n.expires_at_ms <= now {
            return Err(StoreError::Invalid("the expiry is in the past".into()));
        }
        self.conn.execute(
            "INSERT INTO invite (id, course_id, role, name, affiliation, email, created_at_ms,
                                 expires_at_ms, max_uses, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                n.course_id,
                n.role.as_str(),
                name,
                affiliation,
                email,
                now,
                n.expires_at_ms,
                n.max_uses,
                n.origin
            ],
        )?;
        self.invite(&id)?
            .ok_or_else(|| StoreError::Corrupt("invite vanished after insert".into()))
    }

    /// Creates several invites, all or none.
    pub fn create_invites(&self, new: &[NewInvite]) -> Result<Vec<Invite>> {
        let tx = self.conn.unchecked_transaction()?;
        let mut out = Vec::with_capacity(new.len());
        for n in new {
            out.push(self.create_invite(n)?);
        }
        tx.commit()?;
        Ok(out)
    }

    /// An invite by id.
    pub fn invite(&self, id: &str) -> Result<Option<Invite>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM invite i WHERE i.id = ?1"),
                params![id],
                row,
            )
            .optional()?)
    }

    /// The invites of a course, or every invite (`None`), oldest first.
    pub fn invites(&self, course: Option<&str>) -> Result<Vec<Invite>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM invite i
             WHERE ?1 IS NULL OR i.course_id = ?1
             ORDER BY i.created_at_ms, i.rowid"
        ))?;
        let rows = stmt.query_map(params![course], row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Invites made on first start (the demo's links and the first admin).
    pub fn first_start_invites(&self) -> Result<Vec<Invite>> {
        Ok(self
            .invites(None)?
            .into_iter()
            .filter(|i| i.origin == "first-start")
            .collect())
    }

    /// Revokes an invite (idempotent); `false` when there is no such invite.
    pub fn revoke_invite(&self, id: &str) -> Result<bool> {
        if self.invite(id)?.is_none() {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE invite SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
            params![id, crate::now_ms()],
        )?;
        Ok(true)
    }

    /// Counts a use of an invite for a session: the first join of each session counts once
    /// (reconnecting is free); refused when the invite has used up its sessions.
    pub fn use_invite(&self, id: &str, session: SessionId) -> Result<InviteUse> {
        let tx = self.conn.unchecked_transaction()?;
        let sid = session.to_string();
        let known: bool = tx
            .query_row(
                "SELECT 1 FROM invite_use WHERE invite_id = ?1 AND session_id = ?2",
                params![id, sid],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if known {
            return Ok(InviteUse::Granted);
        }
        let (max, used): (Option<u32>, u32) = tx.query_row(
            "SELECT max_uses, (SELECT COUNT(*) FROM invite_use WHERE invite_id = ?1)
             FROM invite WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if max.is_some_and(|m| used >= m) {
            return Ok(InviteUse::UsedUp);
        }
        tx.execute(
            "INSERT INTO invite_use (invite_id, session_id, first_at_ms) VALUES (?1, ?2, ?3)",
            params![id, sid, crate::now_ms()],
        )?;
        tx.commit()?;
        Ok(InviteUse::Granted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(course: Option<&str>, role: Role) -> NewInvite {
        NewInvite {
            course_id: course.map(str::to_string),
            role,
            name: "Ana Pérez".into(),
            affiliation: "Trinidad and Tobago Police Service".into(),
            email: "ana@example.org".into(),
            expires_at_ms: crate::now_ms() + 86_400_000,
            max_uses: Some(2),
            origin: "cli".into(),
        }
    }

    #[test]
    fn invites_round_trip_and_are_checked() {
        let s = Store::open_in_memory().unwrap();
        let c = s.create_course("Border security", "").unwrap();
        let i = s
            .create_invite(&new(Some(&c.id), Role::Participant))
            .unwrap();
        assert_eq!(s.invite(&i.id).unwrap().unwrap(), i);
        assert_eq!(i.uses, 0);
        assert!(!i.is_revoked());
        // Wrong shapes change nothing.
        assert!(s.create_invite(&new(None, Role::Participant)).is_err());
        assert!(s.create_invite(&new(Some(&c.id), Role::Admin)).is_err());
        assert!(s
            .create_invite(&new(Some("nope"), Role::Participant))
            .is_err());
        let mut bad = new(Some(&c.id), Role::Participant);
        bad.email = "not an address".into();
        assert!(s.create_invite(&bad).is_err());
        let mut bad = new(Some(&c.id), Role::Participant);
        bad.expires_at_ms = 1;
        assert!(s.create_invite(&bad).is_err());
        let mut bad = new(Some(&c.id), Role::Participant);
        bad.max_uses = Some(0);
        assert!(s.create_invite(&bad).is_err());
        assert_eq!(s.invites(Some(&c.id)).unwrap().len(), 1);
        let admin = s.create_invite(&new(None, Role::Admin)).unwrap();
        assert_eq!(admin.course_id, None);
        assert_eq!(s.invites(None).unwrap().len(), 2);

        // Uses: one per session, reconnecting is free, then used up.
        let (a, b, d) = (
            s.create_session(&c.id, "1").unwrap().id,
            s.create_session(&c.id, "2").unwrap().id,
            s.create_session(&c.id, "3").unwrap().id,
        );
        assert_eq!(s.use_invite(&i.id, a).unwrap(), InviteUse::Granted);
        assert_eq!(s.use_invite(&i.id, a).unwrap(), InviteUse::Granted);
        assert_eq!(s.use_invite(&i.id, b).unwrap(), InviteUse::Granted);
        assert_eq!(s.use_invite(&i.id, d).unwrap(), InviteUse::UsedUp);
        assert_eq!(s.use_invite(&i.id, a).unwrap(), InviteUse::Granted);
        assert_eq!(s.invite(&i.id).unwrap().unwrap().uses, 2);

        assert!(s.revoke_invite(&i.id).unwrap());
        assert!(s.revoke_invite(&i.id).unwrap());
        assert!(s.invite(&i.id).unwrap().unwrap().is_revoked());
        assert!(!s.revoke_invite("nope").unwrap());

        // All or none.
        let before = s.invites(None).unwrap().len();
        let mut bad = new(Some(&c.id), Role::Participant);
        bad.email = "nope".into();
        assert!(s
            .create_invites(&[new(Some(&c.id), Role::Participant), bad])
            .is_err());
        assert_eq!(s.invites(None).unwrap().len(), before);
        assert_eq!(
            s.create_invites(&[new(Some(&c.id), Role::Participant)])
                .unwrap()
                .len(),
            1
        );
    }
}
