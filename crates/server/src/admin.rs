//! Administration from the command line: `lectern course …` and `lectern session …`. They
//! work on the database directly (SQLite allows it while the hub runs).

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use lectern_proto::SessionId;
use lectern_store::{CourseEdit, Schedule, Store};

use crate::config::DbArgs;

#[derive(Clone, Debug, Subcommand)]
pub enum CourseCommand {
    /// Create a course; prints its id.
    Create {
        #[arg(long)]
        title: String,
        #[command(flatten)]
        settings: CourseSettings,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the courses.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Change a course's settings.
    Edit {
        /// The course's id.
        course: String,
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        settings: CourseSettings,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Clone, Debug, Args)]
pub struct CourseSettings {
    #[arg(long)]
    description: Option<String>,
    /// The course's language: en, fr, nl or es.
    #[arg(long)]
    language: Option<String>,
    /// Delete recordings this many days after they were made; `keep` keeps them.
    #[arg(long)]
    retention_days: Option<String>,
    /// Record every session from the moment it goes live: true or false.
    #[arg(long)]
    record_by_default: Option<bool>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum SessionCommand {
    /// Create a session of a course; prints its id and links.
    Create {
        #[arg(long)]
        course: String,
        #[arg(long)]
        title: String,
        /// Start, in UTC: 2026-12-01T09:00:00Z (or "2026-12-01 09:00:00").
        #[arg(long)]
        start: Option<String>,
        /// End, in UTC, after the start.
        #[arg(long)]
        end: Option<String>,
        /// Base URL printed in the links.
        #[arg(
            long,
            env = "LECTERN_PUBLIC_URL",
            default_value = "http://localhost:8080"
        )]
        public_url: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List sessions (of one course).
    List {
        #[arg(long)]
        course: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Change a session's schedule.
    Schedule {
        session: String,
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Cancel a session: it can no longer be joined.
    Cancel {
        session: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Opens the database; `create` makes it (and its folder) when it does not exist yet.
fn open_or_create(db: &DbArgs) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&db.data_dir)
        .with_context(|| format!("creating {}", db.data_dir.display()))?;
    let path = db.path();
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

fn open(db: &DbArgs) -> anyhow::Result<Store> {
    let path = db.path();
    if !path.exists() {
        bail!(
            "no database at {} (start `lectern serve` once, or see --data-dir)",
            path.display()
        );
    }
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

fn edit_from(title: Option<String>, s: &CourseSettings) -> anyhow::Result<CourseEdit> {
    let retention_days = match s.retention_days.as_deref() {
        None => None,
        Some("keep") => Some(None),
        Some(n) => Some(Some(n.parse::<u32>().with_context(|| {
            format!("--retention-days {n:?}: a number of days, or `keep`")
        })?)),
    };
    Ok(CourseEdit {
        title,
        description: s.description.clone(),
        language: s.language.clone(),
        retention_days,
        record_by_default: s.record_by_default,
    })
}

/// Seconds since the UNIX epoch of an RFC 3339 time in UTC.
fn parse_time(what: &str, t: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(t) = t else { return Ok(None) };
    let at = humantime::parse_rfc3339_weak(t.trim().trim_end_matches('Z')).with_context(|| {
        format!("--{what} {t:?}: expected a UTC time like 2026-12-01T09:00:00Z")
    })?;
    Ok(Some(
        at.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    ))
}

fn show_time(t: Option<i64>) -> String {
    match t {
        Some(s) if s >= 0 => humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(s as u64),
        )
        .to_string(),
        _ => "-".into(),
    }
}

fn session_id(s: &str) -> anyhow::Result<SessionId> {
    s.trim()
        .parse()
        .with_context(|| format!("{s:?} is not a session id"))
}

/// `lectern course …`.
pub fn course(cmd: &CourseCommand) -> anyhow::Result<()> {
    match cmd {
        CourseCommand::Create {
            title,
            settings,
            db,
        } => {
            let store = open_or_create(db)?;
            let edit = edit_from(Some(title.clone()), settings)?;
            // Check everything before anything is created.
            if title.trim().is_empty() {
                bail!("--title is empty");
            }
            let course = store.create_course(title.trim(), "")?;
            store.edit_course(&course.id, &edit).inspect_err(|_| {
                let _ = store.delete_course(&course.id);
            })?;
            println!("{}", course.id);
        }
        CourseCommand::List { db } => {
            let store = open(db)?;
            println!(
                "{:<36}  {:<4} {:>9}  {:<6} {:>8}  title",
                "id", "lang", "retention", "record", "sessions"
            );
            for c in store.course_list()? {
                println!(
                    "{:<36}  {:<4} {:>9}  {:<6} {:>8}  {}",
                    c.course.id,
                    c.language,
                    c.retention_days
                        .map_or("keep".to_string(), |d| format!("{d} d")),
                    if c.course.record_by_default {
                        "yes"
                    } else {
                        "no"
                    },
                    c.sessions,
                    c.course.title
                );
            }
        }
        CourseCommand::Edit {
            course,
            title,
            settings,
            db,
        } => {
            let store = open(db)?;
            if !store.edit_course(course, &edit_from(title.clone(), settings)?)? {
                bail!("no course {course:?}");
            }
            println!("course {course} updated");
        }
    }
    Ok(())
}

/// `lectern session …`.
pub fn session(cmd: &SessionCommand) -> anyhow::Result<()> {
    match cmd {
        SessionCommand::Create {
            course,
            title,
            start,
            end,
            public_url,
            db,
        } => {
            let store = open(db)?;
            let schedule = Schedule {
                starts_at: parse_time("start", start.as_deref())?,
                ends_at: parse_time("end", end.as_deref())?,
            };
            if let (Some(a), Some(b)) = (schedule.starts_at, schedule.ends_at) {
                if b <= a {
                    bail!("--end must be after --start");
                }
            }
            if title.trim().is_empty() {
                bail!("--title is empty");
            }
            if store.course_details(course)?.is_none() {
                bail!("no course {course:?} (see `lectern course list`)");
            }
            let s = store.create_session(course, title.trim())?;
            store.schedule_session(s.id, schedule)?;
            println!("{}", s.id);
            println!(
                "  facilitators open {public_url}/facilitate/{id}, participants \
                 {public_url}/watch/{id}, the room display {public_url}/display/{id}, each \
                 with their invite's key (see `lectern invite`)",
                id = s.id
            );
        }
        SessionCommand::List { course, db } => {
            let store = open(db)?;
            println!(
                "{:<36}  {:<20} {:<20} {:<9}  title",
                "id", "start", "end", "state"
            );
            for s in store.sessions()? {
                if course.as_ref().is_some_and(|c| *c != s.course_id) {
                    continue;
                }
                let sched = store.session_schedule(s.id)?.unwrap_or_default();
                println!(
                    "{:<36}  {:<20} {:<20} {:<9}  {} — {}",
                    s.id,
                    show_time(sched.starts_at),
                    show_time(sched.ends_at),
                    if s.ended { "ended" } else { "open" },
                    s.course_title,
                    s.title
                );
            }
        }
        SessionCommand::Schedule {
            session,
            start,
            end,
            db,
        } => {
            let store = open(db)?;
            let id = session_id(session)?;
            let schedule = Schedule {
                starts_at: parse_time("start", start.as_deref())?,
                ends_at: parse_time("end", end.as_deref())?,
            };
            if !store.schedule_session(id, schedule)? {
                bail!("no session {id}");
            }
            println!("session {id} scheduled");
        }
        SessionCommand::Cancel { session, db } => {
            let store = open(db)?;
            let id = session_id(session)?;
            if store.session(id)?.is_none() {
                bail!("no session {id}");
            }
            store.end_session(id, "cancelled")?;
            println!("session {id} cancelled");
        }
    }
    Ok(())
}
