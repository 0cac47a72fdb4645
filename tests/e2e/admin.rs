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
