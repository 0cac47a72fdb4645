//! Who may do what: signed invite links, media tickets, and the checks every endpoint makes.
//!
//! A link's key is `<payload>.<mac>`: the payload (base64url JSON) names the invite, its role,
//! course and expiry; the MAC is HMAC-SHA-256 over it with the server's secret, truncated to 128
//! bits. A forged or altered key fails the MAC before the database is asked; a genuine one is
//! then checked against its invite row (revoked, expired, uses). The secret is made on first
//! start in `<data dir>/secret.key`, readable by its owner only.
//!
//! A media ticket (`?ticket=` on `/media/<file>` and `/exports/<job>`) is the same construction
//! for one file and one invite, valid for a few hours, so `<video src>` works without headers
//! while the invite is still checked on every request.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use lectern_proto::{ErrorCode, ProtocolError, Role};
use lectern_store::{Invite, Store};
use ring::hmac;
use serde::{Deserialize, Serialize};

/// The secret file's name in the data folder.
pub const SECRET_FILE: &str = "secret.key";

/// Longest key accepted (a real one is about 200 characters).
const MAX_KEY_LEN: usize = 1024;

/// How long a media ticket is valid.
pub const TICKET_LIFETIME_MS: i64 = 6 * 3600 * 1000;

/// The server's signing key.
#[derive(Clone)]
pub struct Keys {
    key: hmac::Key,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// What a key says (checked against the invite row before it is trusted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    /// Purpose: `i` (invite) or `m` (media ticket).
    p: String,
    /// Invite id.
    i: String,
    /// Role (invites).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<Role>,
    /// Course (invites; absent for admins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    /// The file or export a ticket opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<String>,
    /// Expiry, milliseconds since the UNIX epoch.
    e: i64,
}

impl Keys {
    /// A key from secret bytes.
    pub fn from_secret(secret: &[u8]) -> Keys {
        Keys {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Loads `<data dir>/secret.key`, creating it (32 random bytes, mode 0600) on first start. A
    /// secret readable by others is made owner-only, with a warning.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Keys> {
        let path = data_dir.join(SECRET_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                anyhow::ensure!(
                    bytes.len() >= 32,
                    "{} is too short ({} bytes); delete it to make a new one (every link \
                     given out so far stops working)",
                    path.display(),
                    bytes.len()
                );
                restrict(&path)?;
                Ok(Keys::from_secret(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret: [u8; 32] = rand::random();
                write_owner_only(&path, &secret)?;
                tracing::info!("made a new signing secret in {}", path.display());
                Ok(Keys::from_secret(&secret))
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn sign(&self, claims: &Claims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!("{payload}.{}", B64.encode(&tag.as_ref()[..16]))
    }

    fn open(&self, token: &str, purpose: &str) -> Result<Claims, ProtocolError> {
        let bad = || ProtocolError::new(ErrorCode::BadKey, "this link is not valid");
        if token.is_empty() || token.len() > MAX_KEY_LEN {
            return Err(bad());
        }
        let (payload, mac) = token.split_once('.').ok_or_else(bad)?;
        let mac = B64.decode(mac).map_err(|_| bad())?;
        let tag = hmac::sign(&self.key, payload.as_bytes());
        if mac.len() != 16 || !ct_eq(&mac, &tag.as_ref()[..16]) {
            return Err(bad());
        }
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad)?;
        if claims.p != purpose {
            return Err(bad());
        }
        Ok(claims)
    }

    /// The key of an invite's link.
    pub fn invite_key(&self, invite: &Invite) -> String {
        self.sign(&Claims {
            p: "i".into(),
            i: invite.id.clone(),
            r: Some(invite.role),
            c: invite.course_id.clone(),
            f: None,
            e: invite.expires_at_ms,
        })
    }

    /// A ticket for one file (or export job) to the holder of `invite`, until `expires_ms`.
    pub fn ticket(&self, invite: &str, file: &str, expires_ms: i64) -> String {
        self.sign(&Claims {
            p: "m".into(),
            i: invite.into(),
            r: None,
            c: None,
            f: Some(file.into()),
            e: expires_ms,
        })
    }

    /// Checks a key and its invite: the invite, if it is genuine, current and not revoked.
    pub fn authenticate(
        &self,
        store: &Store,
        key: &str,
        now_ms: i64,
    ) -> Result<Invite, ProtocolError> {
        let claims = self.open(key, "i")?;
        let invite = lookup(store, &claims.i)?;
        // The row must say what the signed link says (a link is never re-purposed).
        if Some(invite.role) != claims.r || invite.course_id != claims.c {
            return Err(ProtocolError::new(
                ErrorCode::BadKey,
                "this link is not valid",
            ));
        }
        check_current(&invite, now_ms.max(0), claims.e)?;
        Ok(invite)
    }

    /// Checks a media ticket for `file`: the invite it was issued to, still current.
    pub fn check_ticket(
        &self,
        store: &Store,
        ticket: &str,
        file: &str,
        now_ms: i64,
    ) -> Result<Invite, ProtocolError> {
        let claims = self.open(ticket, "m")?;
        if claims.f.as_deref() != Some(file) {
            return Err(ProtocolError::new(
                ErrorCode::BadKey,
                "this ticket is for another file",
            ));
        }
        let invite = lookup(store, &claims.i)?;
        check_current(&invite, now_ms, claims.e)?;
        Ok(invite)
    }
}

fn lookup(store: &Store, id: &str) -> Result<Invite, ProtocolError> {
    store
        .invite(id)
        .map_err(|e| {
            tracing::error!("looking up invite {id}: {e}");
            ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
        })?
        .ok_or_else(|| ProtocolError::new(ErrorCode::KeyRevoked, "this link has been withdrawn"))
}

fn check_current(invite: &Invite, now_ms: i64, expires_ms: i64) -> Result<(), ProtocolError> {
    if invite.is_revoked() {
        return Err(ProtocolError::new(
            ErrorCode::KeyRevoked,
            "this link has been withdrawn; ask the organiser for a new one",
        ));
    }
    if invite.is_expired(now_ms) || now_ms >= expires_ms {
        return Err(ProtocolError::new(
            ErrorCode::KeyExpired,
            "this link has expired; ask the organiser for a new one",
        ));
    }
    Ok(())
}

/// The key of an `Authorization: Bearer <key>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, key) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// What a holder may reach.
pub trait Access {
    /// May replay the recordings of `course`.
    fn may_replay(&self, course: &str) -> bool;
    /// Runs the server.
    fn is_admin(&self) -> bool;
}

impl Access for Invite {
    fn may_replay(&self, course: &str) -> bool {
        self.role == Role::Admin
            || (self.role.replays() && self.course_id.as_deref() == Some(course))
    }

    fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// May the holder of `invite` (already known to be of the session's course) facilitate this
/// session? A session that names its facilitators admits only those.
pub fn may_facilitate(
    store: &Store,
    invite: &Invite,
    session: lectern_proto::SessionId,
) -> Result<bool, ProtocolError> {
    if invite.role != Role::Facilitator {
        return Ok(false);
    }
    let named = store.session_facilitators(session).map_err(|e| {
        tracing::error!("facilitators of session {session}: {e}");
        ProtocolError::new(ErrorCode::Internal, "the catalogue is unavailable")
    })?;
    Ok(named.is_empty() || named.contains(&invite.id))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn write_owner_only(path: &PathBuf, secret: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(secret)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            "{} was readable by others (mode {mode:o}); making it owner-only",
            path.display()
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lectern_store::NewInvite;

    fn setup() -> (Store, Keys, Invite) {
        let store = Store::open_in_memory().unwrap();
        let c = store.create_course("c", "").unwrap();
        let inv = store
            .create_invite(&NewInvite {
                course_id: Some(c.id),
                role: Role::Participant,
                name: "Ana".into(),
                affiliation: String::new(),
                email: String::new(),
                expires_at_ms: lectern_store::now_ms() + 60_000,
                max_uses: None,
                origin: "cli".into(),
            })
            .unwrap();
        (store, Keys::from_secret(&[7; 32]), inv)
    }

    #[test]
    fn genuine_keys_pass_and_others_fail() {
        let (store, keys, inv) = setup();
        let key = keys.invite_key(&inv);
        let now = lectern_store::now_ms();
        assert_eq!(keys.authenticate(&store, &key, now).unwrap().id, inv.id);

        // Another server's secret, a flipped bit, garbage, a truncated MAC.
        let other = Keys::from_secret(&[8; 32]).invite_key(&inv);
        let code = |k: &str| keys.authenticate(&store, k, now).unwrap_err().code;
        assert_eq!(code(&other), ErrorCode::BadKey);
        let mut flipped = key.clone().into_bytes();
        flipped[5] ^= 1;
        assert_eq!(
            code(&String::from_utf8(flipped).unwrap()),
            ErrorCode::BadKey
        );
        for k in [
            "",
            ".",
            "a.b",
            "...",
            &"x".repeat(5000),
            &key[..key.len() - 2],
        ] {
            assert_eq!(code(k), ErrorCode::BadKey, "{k:?}");
        }
        // A payload re-signed claiming another role fails the MAC.
        let (payload, mac) = key.split_once('.').unwrap();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        claims["r"] = "facilitator".into();
        let forged = format!("{}.{mac}", B64.encode(claims.to_string()));
        assert_eq!(code(&forged), ErrorCode::BadKey);

        // Expiry and revocation.
        assert_eq!(
            keys.authenticate(&store, &key, inv.expires_at_ms)
                .unwrap_err()
                .code,
            ErrorCode::KeyExpired
        );
        store.revoke_invite(&inv.id).unwrap();
        assert_eq!(code(&key), ErrorCode::KeyRevoked);
    }

    #[test]
    fn tickets_open_one_file() {
        let (store, keys, inv) = setup();
        let now = lectern_store::now_ms();
        let t = keys.ticket(&inv.id, "f1", now + 1000);
        assert!(keys.check_ticket(&store, &t, "f1", now).is_ok());
        assert!(keys.check_ticket(&store, &t, "f2", now).is_err());
        assert_eq!(
            keys.check_ticket(&store, &t, "f1", now + 1000)
                .unwrap_err()
                .code,
            ErrorCode::KeyExpired
        );
        // A ticket is not a link key and a link key is not a ticket.
        assert!(keys.authenticate(&store, &t, now).is_err());
        assert!(keys
            .check_ticket(&store, &keys.invite_key(&inv), "f1", now)
            .is_err());
        store.revoke_invite(&inv.id).unwrap();
        assert_eq!(
            keys.check_ticket(&store, &t, "f1", now).unwrap_err().code,
            ErrorCode::KeyRevoked
        );
    }

    #[test]
    fn secret_is_owner_only() {
        let dir = std::env::temp_dir().join(format!("lectern-auth-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Keys::load_or_create(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(SECRET_FILE);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let b = Keys::load_or_create(&dir).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a loose secret is restricted again");
            // The same secret: the same signatures.
            let inv = Invite {
                id: "x".into(),
                course_id: None,
                role: Role::Admin,
                name: String::new(),
                affiliation: String::new(),
                email: String::new(),
                created_at_ms: 0,
                expires_at_ms: 1,
                max_uses: None,
                uses: 0,
                revoked_at_ms: None,
                origin: "cli".into(),
            };
            assert_eq!(a.invite_key(&inv), b.invite_key(&inv));
        }
        std::fs::write(dir.join(SECRET_FILE), b"short").unwrap();
        assert!(Keys::load_or_create(&dir).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
