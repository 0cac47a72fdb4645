//! The discussion and stage events of live sessions (chat, questions, votes, hands, stage,
//! mute, removals, joins and leaves), as the room tasks report them.

use lectern_proto::SessionId;

use crate::AppState;

/// Keeps one event of a session: `kind` and its JSON `data` (see docs/protocol.md, "Session
/// events"), at `at_ms` (ms since the UNIX epoch). Logged for now; storing them in the database
/// comes with the store's session log.
pub(crate) fn persist(_state: &AppState, session: SessionId, kind: &str, data: &str, at_ms: u64) {
    tracing::debug!(%session, kind, at_ms, data, "session event");
}
