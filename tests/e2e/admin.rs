//! Course and session administration from the command line, on a real database file; the
//! course settings reach the sessions the server runs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn lectern(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lectern-e2e-server"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("the server binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courses_and_sessions_from_the_command_line() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "lectern-e2e-admin-{}-{}",
        std::process::id(),
        lectern_testkit::media::now_ns()
    ));
    // Listing needs a database; creating makes one.
    let (ok, _, err) = lectern(&dir, &["course", "list"]);
    assert!(!ok && err.contains("no database"), "{err}");
    let (ok, out, err) = lectern(
        &dir,
        &[
            "course",
            "create",
            "--title",
            "Border security",
            "--language",
            "es",
        ],
    );
    assert!(ok, "{err}");
    let course = out.trim().to_string();
    assert_eq!(course.len(), 36, "prints the id: {out}");

    // Bad settings are refused and change nothing.
    for bad in [
        &["--language", "de"][..],
        &["--retention-days", "0"],
        &["--retention-days", "soon"],
        &["--title", " "],
    ] {
        let mut args = vec!["course", "edit", &course];
        args.extend_from_slice(bad);
        let (ok, _, err) = lectern(&dir, &args);
        assert!(!ok, "{bad:?} accepted");
        assert!(!err.is_empty());
    }
    let (ok, _, err) = lectern(
        &dir,
        &[
            "course",
            "edit",
            &course,
            "--language",
            "fr",
            "--retention-days",
            "30",
            "--record-by-default",
            "true",
        ],
    );
    assert!(ok, "{err}");
    let (_, list, _) = lectern(&dir, &["course", "list"]);
    let line = list.lines().find(|l| l.contains(&course)).unwrap_or("");
    for want in ["fr", "30 d", "yes", "Border security"] {
        assert!(line.contains(want), "{want} in {line:?}");
    }

    // Sessions: scheduled, listed, checked, cancelled.
    let (ok, out, err) = lectern(
        &dir,
        &[
            "session",
            "create",
            "--course",
            &course,
            "--title",
            "Day 2",
            "--start",
            "2026-12-01T09:00:00Z",
            "--end",
            "2026-12-01T12:00:00Z",
        ],
    );
    assert!(ok, "{err}");
    let session = out.lines().next().unwrap_or("").trim().to_string();
    assert!(
        out.contains("/facilitate/") && out.contains("/watch/"),
        "{out}"
    );
    let (ok, _, err) = lectern(
        &dir,
        &[
            "session",
            "create",
            "--course",
            &course,
            "--title",
            "Day 3",
            "--start",
            "2026-12-02T12:00:00Z",
            "--end",
            "2026-12-02T09:00:00Z",
        ],
    );
    assert!(!ok && err.contains("after"), "{err}");
    let (ok, _, err) = lectern(
        &dir,
        &["session", "create", "--course", "nope", "--title", "Day 3"],
    );
    assert!(!ok && err.contains("no course"), "{err}");
    let (ok, _, err) = lectern(
        &dir,
        &[
            "session", "create", "--course", &course, "--title", "x", "--start", "tomorrow",
        ],
    );
    assert!(!ok && err.contains("UTC time"), "{err}");
    let (_, list, _) = lectern(&dir, &["session", "list", "--course", &course]);
    assert!(
        list.contains(&session) && list.contains("2026-12-01T09:00:00Z"),
        "{list}"
    );

    // The course's setting reaches the session the server runs.
    let args = lectern::config::ServeArgs {
        no_demo: true,
        ..lectern::config::ServeArgs::for_tests(dir.clone())
    };
    let server = lectern::Server::start(args).await?;
    let s = server
        .session(session.parse()?)
        .ok_or_else(|| anyhow::anyhow!("session not found"))?;
    assert!(s.record_by_default);
    server.shutdown().await;

    let (ok, _, err) = lectern(&dir, &["session", "cancel", &session]);
    assert!(ok, "{err}");
    let (_, list, _) = lectern(&dir, &["session", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains(&session) && l.contains("ended")),
        "{list}"
    );
    let (ok, _, err) = lectern(&dir, &["session", "cancel", "not-an-id"]);
    assert!(!ok && err.contains("not a session id"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A course that keeps recordings 30 days: an older recording is deleted (files, folder and
/// catalogue) when the server starts; a newer one and other courses' stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_past_their_course_retention_are_deleted() -> anyhow::Result<()> {
    use lectern_proto::RecordingId;
    use lectern_store::{CourseEdit, RecordingState, Store};
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "lectern-e2e-retention-{}-{}",
        std::process::id(),
        lectern_testkit::media::now_ns()
    ));
    std::fs::create_dir_all(&dir)?;
    let day = 86_400_000i64;
    let now = lectern_store::now_ms();
    let mut made = Vec::new();
    {
        let store = Store::open(&dir.join("lectern.db"))?;
        let short = store.create_course("Short", "")?;
        store.edit_course(
            &short.id,
            &CourseEdit {
                retention_days: Some(Some(30)),
                ..CourseEdit::default()
            },
        )?;
        let kept = store.create_course("Kept", "")?;
        for (course, age) in [(&short.id, 31), (&short.id, 2), (&kept.id, 400)] {
            let session = store.create_session(course, "Day")?;
            let id = RecordingId::random();
            let rel = format!("{}/{id}", session.id);
            store.create_recording(id, session.id, now - age * day, &rel)?;
            store.set_recording_state(id, RecordingState::Ready, Some(1000), None)?;
            let folder = dir.join("recordings").join(&rel);
            std::fs::create_dir_all(&folder)?;
            std::fs::write(folder.join("camera-1.webm"), b"media")?;
            made.push((id, folder));
        }
    }
    let server = lectern::Server::start(lectern::config::ServeArgs {
        no_demo: true,
        ..lectern::config::ServeArgs::for_tests(dir.clone())
    })
    .await?;
    let left: Vec<RecordingId> = server.with_store(|s| {
        s.library()
            .map(|l| l.into_iter().map(|e| e.recording.id).collect())
    })?;
    assert!(
        !left.contains(&made[0].0),
        "the 31-day-old recording is gone"
    );
    assert!(!made[0].1.exists(), "and its files");
    assert!(
        !made[0].1.parent().is_some_and(|p| p.exists()),
        "and its empty session folder"
    );
    for (id, folder) in &made[1..] {
        assert!(left.contains(id) && folder.join("camera-1.webm").is_file());
    }
    // The deletion is in the audit log, by the system.
    let log = server.with_store(|s| s.audit_log(&Default::default()))?;
    assert!(
        log.iter().any(|e| e.action == "recording.expire"
            && e.actor == "system"
            && e.target == made[0].0.to_string()),
        "{log:?}"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_and_rosters_from_the_command_line() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "lectern-e2e-invites-{}-{}",
        std::process::id(),
        lectern_testkit::media::now_ns()
    ));
    let (ok, out, err) = lectern(&dir, &["course", "create", "--title", "Cyber"]);
    assert!(ok, "{err}");
    let course = out.trim().to_string();

    // One invite: its link; the secret is made owner-only on first use.
    let (ok, out, err) = lectern(
        &dir,
        &[
            "invite",
            "create",
            "--course",
            &course,
            "--role",
            "participant",
            "--name",
            "Ana Pérez",
            "--affiliation",
            "Barbados Police Service",
            "--max-uses",
            "2",
            "--public-url",
            "https://lectern.example.org",
        ],
    );
    assert!(ok, "{err}");
    let id = out.lines().next().unwrap_or_default().to_string();
    assert!(
        out.contains("link: https://lectern.example.org/course#k="),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("secret.key"))?
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the signing secret is owner-only");
    }
    // Wrong invites are refused with a reason and make nothing.
    for bad in [
        &["--role", "boss", "--course", &course][..],
        &["--role", "participant"],
        &["--role", "admin", "--course", &course],
        &["--role", "participant", "--course", "nope"],
        &[
            "--role",
            "participant",
            "--course",
            &course,
            "--valid-days",
            "0",
        ],
        &[
            "--role",
            "participant",
            "--course",
            &course,
            "--expires",
            "yesterday",
        ],
        &[
            "--role",
            "participant",
            "--course",
            &course,
            "--email",
            "not-mail",
        ],
    ] {
        let mut args = vec!["invite", "create"];
        args.extend_from_slice(bad);
        let (ok, _, err) = lectern(&dir, &args);
        assert!(!ok && !err.trim().is_empty(), "{bad:?} accepted");
    }
    let (_, list, _) = lectern(&dir, &["invite", "list", "--course", &course]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("Ana Pérez (Barbados Police Service)") && list.contains("0/2"));

    // A roster with a bad line makes nothing; a good one writes the links, owner-only.
    let roster = dir.join("roster.csv");
    std::fs::write(
        &roster,
        "name,affiliation,email,role\nBo,,bo@x.org,participant\n,TTPS,,\n",
    )?;
    let (ok, _, err) = lectern(
        &dir,
        &[
            "invite",
            "import",
            "--course",
            &course,
            roster.to_str().unwrap_or(""),
        ],
    );
    assert!(!ok && err.contains("line 3"), "{err}");
    std::fs::write(
        &roster,
        "name,affiliation,email,role\n\
         Bo Lee,Royal Bahamas Police Force,bo@example.org,participant\n\
         Cy,Guyana Revenue Authority,cy@example.org,replay viewer\n",
    )?;
    let links = dir.join("links.csv");
    let (ok, _, err) = lectern(
        &dir,
        &[
            "invite",
            "import",
            "--course",
            &course,
            roster.to_str().unwrap_or(""),
            "-o",
            links.to_str().unwrap_or(""),
            "--valid-days",
            "3",
        ],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&links)?;
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("Cy,Guyana Revenue Authority,cy@example.org,replay_viewer,"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&links)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the links file is owner-only");
    }

    // Revoking.
    let (ok, out, err) = lectern(&dir, &["invite", "revoke", &id]);
    assert!(ok && out.contains("revoked"), "{err}");
    let (ok, _, err) = lectern(&dir, &["invite", "revoke", "no-such-invite"]);
    assert!(!ok && err.contains("no invite"), "{err}");
    let (_, list, _) = lectern(&dir, &["invite", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&id) && l.contains("revoked")),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
