//! Administration from the command line: `lectern course …` and `lectern session …`. They
//! work on the database directly (SQLite allows it while the hub runs).

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use lectern_proto::{Role, SessionId};
use lectern_store::{CourseEdit, NewInvite, Schedule, Store};

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
        /// A facilitator invite that may run this session (repeat for several; none: any
        /// facilitator of the course).
        #[arg(long = "facilitator")]
        facilitators: Vec<String>,
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
    /// Name the facilitators of a session (their invite ids; none: any facilitator of the
    /// course).
    Facilitators {
        session: String,
        invites: Vec<String>,
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

#[derive(Clone, Debug, Subcommand)]
pub enum InviteCommand {
    /// Invite one person: prints the invite's id and personal link.
    Create {
        /// The course (every role but admin).
        #[arg(long)]
        course: Option<String>,
        /// admin, facilitator, participant, replay_viewer or room_display.
        #[arg(long)]
        role: String,
        /// The invitee's display name (empty: a shared link whose holders pick a name).
        #[arg(long, default_value = "")]
        name: String,
        /// Their organisation, e.g. "Trinidad and Tobago Police Service".
        #[arg(long, default_value = "")]
        affiliation: String,
        #[arg(long, default_value = "")]
        email: String,
        #[command(flatten)]
        validity: Validity,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Invite everyone of a roster (CSV: name,affiliation,email,role); writes a CSV of their
    /// personal links.
    Import {
        #[arg(long)]
        course: String,
        /// The roster (CSV with a header row).
        roster: std::path::PathBuf,
        /// Where to write the links CSV (default: standard output).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        validity: Validity,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List invites (of one course).
    List {
        #[arg(long)]
        course: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an invite: its link stops working at once (live connections stay until they
    /// leave; remove them from the facilitator's page).
    Revoke {
        invite: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// How long an invite holds and how often it may be used.
#[derive(Clone, Debug, Args)]
pub struct Validity {
    /// Days the invite holds (default 90).
    #[arg(long, conflicts_with = "expires")]
    valid_days: Option<u32>,
    /// When the invite stops holding, in UTC: 2026-12-31T23:59:00Z.
    #[arg(long)]
    expires: Option<String>,
    /// How many sessions it may join (default: any number).
    #[arg(long)]
    max_uses: Option<u32>,
    /// Base URL of the hub, for the links.
    #[arg(
        long,
        env = "LECTERN_PUBLIC_URL",
        default_value = "http://localhost:8080"
    )]
    public_url: String,
}

impl Validity {
    fn expires_at_ms(&self) -> anyhow::Result<i64> {
        if let Some(t) = parse_time("expires", self.expires.as_deref())? {
            return Ok(t * 1000);
        }
        let days = self
            .valid_days
            .map_or(crate::invites::DEFAULT_VALID_DAYS, i64::from);
        if days == 0 {
            bail!("--valid-days is at least 1");
        }
        Ok(lectern_store::now_ms() + days * 86_400_000)
    }
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
            facilitators,
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
            for f in facilitators {
                match store.invite(f)? {
                    Some(i) if i.role == Role::Facilitator && i.course_id.as_deref() == Some(course.as_str()) => {}
                    _ => bail!("--facilitator {f:?} is not a facilitator invite of the course (see `lectern invite list`)"),
                }
            }
            let s = store.create_session(course, title.trim())?;
            store.schedule_session(s.id, schedule)?;
            store.set_session_facilitators(s.id, facilitators)?;
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
        SessionCommand::Facilitators {
            session,
            invites,
            db,
        } => {
            let store = open(db)?;
            let id = session_id(session)?;
            if !store.set_session_facilitators(id, invites)? {
                bail!("no session {id}");
            }
            crate::audit::log_as(
                &store,
                "cli",
                "session.facilitators",
                &id.to_string(),
                &invites.join(" "),
            );
            if invites.is_empty() {
                println!("session {id}: any facilitator of the course");
            } else {
                println!("session {id}: {} facilitator(s)", invites.len());
            }
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

/// `lectern invite …`.
pub fn invite(cmd: &InviteCommand) -> anyhow::Result<()> {
    match cmd {
        InviteCommand::Create {
            course,
            role,
            name,
            affiliation,
            email,
            validity,
            db,
        } => {
            let store = open(db)?;
            let keys = crate::auth::Keys::load_or_create(&db.data_dir)?;
            let role = Role::parse(role.trim()).with_context(|| {
                format!(
                    "--role {role:?}: one of admin, facilitator, participant, replay_viewer, \
                     room_display"
                )
            })?;
            let m = crate::invites::mint(
                &store,
                &keys,
                &validity.public_url,
                &NewInvite {
                    course_id: course.clone(),
                    role,
                    name: name.clone(),
                    affiliation: affiliation.clone(),
                    email: email.clone(),
                    expires_at_ms: validity.expires_at_ms()?,
                    max_uses: validity.max_uses,
                    origin: "cli".into(),
                },
            )?;
            crate::audit::log_as(&store, "cli", "invite.create", &m.invite.id, role.as_str());
            println!("{}", m.invite.id);
            println!("  link: {}", m.link);
            println!("  expires {}", crate::audit::utc(m.invite.expires_at_ms));
        }
        InviteCommand::Import {
            course,
            roster,
            output,
            validity,
            db,
        } => {
            let store = open(db)?;
            let keys = crate::auth::Keys::load_or_create(&db.data_dir)?;
            if store.course_details(course)?.is_none() {
                bail!("no course {course:?} (see `lectern course list`)");
            }
            let text = std::fs::read_to_string(roster)
                .with_context(|| format!("reading {}", roster.display()))?;
            let (minted, csv) = crate::invites::import_roster(
                &store,
                &keys,
                &validity.public_url,
                &text,
                &crate::invites::RosterImport {
                    course,
                    expires_at_ms: validity.expires_at_ms()?,
                    max_uses: validity.max_uses,
                    origin: "roster",
                },
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}; no invite was made", roster.display()))?;
            crate::audit::log_as(
                &store,
                "cli",
                "invite.import",
                course,
                &format!("{} invites", minted.len()),
            );
            match output {
                Some(path) => {
                    write_private(path, csv.as_bytes())?;
                    eprintln!("{} invites; links in {}", minted.len(), path.display());
                }
                None => print!("{csv}"),
            }
        }
        InviteCommand::List { course, db } => {
            let store = open(db)?;
            let now = lectern_store::now_ms();
            println!(
                "{:<36}  {:<13} {:<8} {:<20} {:<5}  name (affiliation)",
                "id", "role", "state", "expires", "uses"
            );
            for i in store.invites(course.as_deref())? {
                let state = if i.is_revoked() {
                    "revoked"
                } else if i.is_expired(now) {
                    "expired"
                } else {
                    "valid"
                };
                let uses = match i.max_uses {
                    Some(m) => format!("{}/{m}", i.uses),
                    None => i.uses.to_string(),
                };
                let who = if i.affiliation.is_empty() {
                    i.name.clone()
                } else {
                    format!("{} ({})", i.name, i.affiliation)
                };
                println!(
                    "{:<36}  {:<13} {:<8} {:<20} {:<5}  {who}",
                    i.id,
                    i.role.as_str(),
                    state,
                    crate::audit::utc(i.expires_at_ms),
                    uses
                );
            }
        }
        InviteCommand::Revoke { invite, db } => {
            let store = open(db)?;
            if !store.revoke_invite(invite.trim())? {
                bail!("no invite {invite:?} (see `lectern invite list`)");
            }
            crate::audit::log_as(&store, "cli", "invite.revoke", invite.trim(), "");
            println!("invite {} revoked", invite.trim());
        }
    }
    Ok(())
}

/// Writes a file readable by its owner only (links are credentials).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}
