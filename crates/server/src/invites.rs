//! Making invites and their links, alone or from a roster; shared by the command line and the
//! admin API.

use lectern_store::{Invite, NewInvite, Store, StoreError};

use crate::auth::Keys;
use crate::roster;

/// How long invites last unless told otherwise.
pub const DEFAULT_VALID_DAYS: i64 = 90;

/// An invite with its key and personal link.
#[derive(Clone, Debug)]
pub struct Minted {
    pub invite: Invite,
    pub key: String,
    pub link: String,
}

/// Makes one invite.
pub fn mint(store: &Store, keys: &Keys, base: &str, new: &NewInvite) -> Result<Minted, StoreError> {
    let invite = store.create_invite(new)?;
    let key = keys.invite_key(&invite);
    let link = crate::invite_link(base, &invite, &key);
    Ok(Minted { invite, key, link })
}

/// Everything about a roster import but the people.
#[derive(Clone, Debug)]
pub struct RosterImport<'a> {
    pub course: &'a str,
    pub expires_at_ms: i64,
    pub max_uses: Option<u32>,
    pub origin: &'a str,
}

/// Why a roster import failed.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The roster itself (with the line): nothing was made.
    #[error("{0}")]
    Roster(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes one invite per person of a roster (all or none) and returns them with the links CSV.
pub fn import_roster(
    store: &Store,
    keys: &Keys,
    base: &str,
    text: &str,
    how: &RosterImport<'_>,
) -> Result<(Vec<Minted>, String), RosterError> {
    let people = roster::parse(text).map_err(RosterError::Roster)?;
    let new: Vec<NewInvite> = people
        .iter()
        .map(|p| NewInvite {
            course_id: Some(how.course.to_string()),
            role: p.role,
            name: p.name.clone(),
            affiliation: p.affiliation.clone(),
            email: p.email.clone(),
            expires_at_ms: how.expires_at_ms,
            max_uses: how.max_uses,
            origin: how.origin.to_string(),
        })
        .collect();
    let invites = store.create_invites(&new).map_err(|e| match e {
        StoreError::Invalid(m) => RosterError::Roster(m),
        e => RosterError::Store(e),
    })?;
    let minted: Vec<Minted> = invites
        .into_iter()
        .map(|invite| {
            let key = keys.invite_key(&invite);
            let link = crate::invite_link(base, &invite, &key);
            Minted { invite, key, link }
        })
        .collect();
    let rows: Vec<roster::LinkRow<'_>> = people
        .iter()
        .zip(&minted)
        .map(|(person, m)| roster::LinkRow {
            person,
            invite: &m.invite.id,
            expires_utc: crate::audit::utc(m.invite.expires_at_ms),
            link: m.link.clone(),
        })
        .collect();
    let csv = roster::links_csv(&rows);
    Ok((minted, csv))
}
