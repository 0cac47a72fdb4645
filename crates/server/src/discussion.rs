//! The discussion and stage events of live sessions (chat, questions, votes, hands, stage,
//! mute, removals, joins and leaves), as the room tasks report them: kept in the database
//! (`session_event`), whether or not the session is recorded. (While it is recorded, the
//! recorder also puts them on the recording's timeline, which the replay page shows.)

use lectern_proto::SessionId;
use lectern_store::SessionEvent;

use crate::AppState;

/// Keeps one event of a session: `kind` and its JSON `data` (see docs/protocol.md, "Session
/// events"), at `at_ms` (ms since the UNIX epoch).
pub(crate) fn persist(state: &AppState, session: SessionId, kind: &str, data: &str, at_ms: u64) {
    let e = SessionEvent {
        at_ms: at_ms.min(i64::MAX as u64) as i64,
        kind: kind.to_string(),
        data: data.to_string(),
    };
    if let Err(err) = state.store().add_session_event(session, &e) {
        tracing::error!("session {session}: keeping a {kind} event: {err}");
    }
}

/// The facilitator removed someone and asked for their invite to be revoked.
pub(crate) fn revoke(state: &AppState, session: SessionId, invite: &str) {
    let store = state.store();
    match store.revoke_invite(invite) {
        Ok(true) => crate::audit::log_as(
            &store,
            "facilitator",
            "invite.revoke",
            invite,
            &format!("removed from session {session}"),
        ),
        Ok(false) => tracing::warn!("session {session}: no invite {invite} to revoke"),
        Err(e) => tracing::error!("session {session}: revoking invite {invite}: {e}"),
    }
}
