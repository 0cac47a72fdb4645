//! The audit log: who joined, left, replayed, downloaded, and what admins changed. Writing to
//! it never fails the action it describes (a failure is logged as an error).

use lectern_store::{AuditEntry, Invite, Store};

/// Logs an action of the holder of `invite`.
pub fn log(store: &Store, invite: &Invite, action: &str, target: &str, detail: &str) {
    let name = if invite.affiliation.is_empty() {
        invite.name.clone()
    } else {
        format!("{} ({})", invite.name, invite.affiliation)
    };
    write(
        store,
        AuditEntry {
            at_ms: 0,
            actor: invite.id.clone(),
            actor_name: name,
            role: invite.role.as_str().to_string(),
            action: action.to_string(),
            target: target.to_string(),
            detail: detail.to_string(),
        },
    );
}

/// Logs an action of the command line or of the server itself (`actor`: `cli`, `system`).
pub fn log_as(store: &Store, actor: &str, action: &str, target: &str, detail: &str) {
    write(
        store,
        AuditEntry {
            at_ms: 0,
            actor: actor.to_string(),
            actor_name: String::new(),
            role: String::new(),
            action: action.to_string(),
            target: target.to_string(),
            detail: detail.to_string(),
        },
    );
}

fn write(store: &Store, e: AuditEntry) {
    if let Err(err) = store.audit(&e) {
        tracing::error!(
            "audit log: {err} (lost: {} {} {})",
            e.actor,
            e.action,
            e.target
        );
    }
}

/// The log as CSV (RFC 4180), oldest line last as given.
pub fn csv(entries: &[AuditEntry]) -> String {
    let mut out = String::from("time_utc,at_ms,actor,actor_name,role,action,target,detail\r\n");
    for e in entries {
        let fields = [
            utc(e.at_ms),
            e.at_ms.to_string(),
            e.actor.clone(),
            e.actor_name.clone(),
            e.role.clone(),
            e.action.clone(),
            e.target.clone(),
            e.detail.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is defused so a
/// spreadsheet does not run it as a formula.
pub fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// RFC 3339 UTC time of a UNIX millisecond.
pub fn utc(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        let text = csv(&[AuditEntry {
            at_ms: 0,
            action: "join".into(),
            ..Default::default()
        }]);
        assert!(text.starts_with("time_utc,"));
        assert!(text.contains("1970-01-01T00:00:00Z,0,,,,join,,"));
    }
}
