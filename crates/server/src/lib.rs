//! The `lectern` server: configuration, the web server (pages, WebSocket signalling), and the
//! wiring of the store (SQLite) and the media plane (SFU).
//!
//! [`Server::start`] runs everything on the configured addresses (port 0 works, for tests) and
//! returns a handle with the bound addresses.

#![forbid(unsafe_code)]

pub mod admin;
mod admin_api;
pub mod audit;
pub mod auth;
pub mod config;
mod discussion;
pub mod export;
mod http;
pub mod invites;
mod playback;
pub mod recording;
pub mod roster;
mod whip;
mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use lectern_proto::{EndReason, Role, SessionId, SessionInfo, SessionState};
use lectern_sfu::{Control, RoomHandle, Sfu, SfuConfig, SfuEvent};
use lectern_store::{Invite, Session, Store};
use tokio::sync::watch;

use crate::config::{ExportArgs, LinksArgs, ServeArgs};

/// Shared state of the web handlers.
pub(crate) struct AppState {
    pub store: Arc<Mutex<Store>>,
    pub sfu: Sfu,
    pub rooms: Mutex<HashMap<SessionId, RoomHandle>>,
    /// The recordings folder.
    pub recordings: PathBuf,
    /// Record every session from the start (`--record-all`).
    pub record_all: bool,
    /// Running recorders, joined on shutdown so their files are finalized.
    pub recorders: Mutex<Vec<lectern_record::task::RecorderThread>>,
    /// Single-file exports started from the web.
    pub exports: Arc<export::Jobs>,
    /// Live WHIP ingests.
    pub whip: whip::Resources,
    /// Signs and checks invite keys and media tickets.
    pub keys: auth::Keys,
    /// The base URL of links (`https://host:port`).
    pub base_url: String,
}

impl AppState {
    /// The store, even if a panicking thread poisoned its lock (SQLite keeps its own
    /// consistency; a poisoned guard only means a handler died mid-request).
    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running room of a session, started on first use.
    pub fn room_for(&self, session: &Session) -> RoomHandle {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = rooms.get(&session.id).filter(|h| !h.is_closed()) {
            return h.clone();
        }
        let handle = self.sfu.open_room(
            SessionInfo {
                id: session.id,
                title: session.title.clone(),
                course: session.course_title.clone(),
                state: SessionState::Waiting,
            },
            self.record_all || session.record_by_default,
        );
        rooms.insert(session.id, handle.clone());
        handle
    }
}

/// A running server.
pub struct Server {
    pub http_addr: SocketAddr,
    pub media_addr: SocketAddr,
    pub base_url: String,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    http_task: tokio::task::JoinHandle<()>,
    demo: Option<Demo>,
}

/// What the first start made to try lectern out: a course with one session and an invite per
/// role (the admin's is made on any start that finds no admin).
#[derive(Clone, Debug)]
pub struct Demo {
    pub session: KeyedSession,
    /// The key of each role's invite.
    pub keys: std::collections::BTreeMap<Role, String>,
}

/// A session with keys of invites to its course for the three live roles (tests and tools).
#[derive(Clone, Debug)]
pub struct KeyedSession {
    pub session: Session,
    pub facilitator_key: String,
    pub participant_key: String,
    pub display_key: String,
}

impl std::ops::Deref for KeyedSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

/// How long the invites of the first start last.
const FIRST_START_INVITE_DAYS: i64 = 30;

impl Server {
    /// Opens the database (creating the demo course on first start), binds the media port and
    /// the web server, and starts serving.
    pub async fn start(args: ServeArgs) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating data folder {}", args.data_dir.display()))?;
        std::fs::create_dir_all(args.recordings_path()).with_context(|| {
            format!(
                "creating recordings folder {}",
                args.recordings_path().display()
            )
        })?;
        let db = args.db_path();
        let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
        let recordings = args.recordings_path();
        let recovered = recording::recover_unfinished(&store, &recordings)
            .context("recovering unfinished recordings")?;
        let expired = recording::expire(&store, &recordings, lectern_store::now_ms())
            .context("deleting recordings past their retention")?;
        if !expired.is_empty() {
            tracing::info!(
                "{} recording(s) past their retention deleted",
                expired.len()
            );
        }
        for r in &recovered {
            tracing::warn!(
                "recording {} was left unfinished; now {} with {} file(s), {:.1} s",
                r.recording,
                r.state.as_str(),
                r.files,
                r.duration_ms as f64 / 1000.0
            );
        }
        let keys = auth::Keys::load_or_create(&args.data_dir)?;
        let demo = first_start(&store, &keys, !args.no_demo)?;

        let (sfu, events) = Sfu::bind(SfuConfig {
            bind: args.media,
            public_ip: args.public_ip,
            ice_tcp: !args.no_ice_tcp,
            grace: Duration::from_secs(args.grace_seconds),
            keyframe_interval: Duration::from_millis(args.keyframe_interval_ms.max(1)),
            fanout_split: args.fanout_split.unwrap_or_else(|| {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                if cores >= 4 {
                    96
                } else {
                    0
                }
            }),
        })
        .await
        .with_context(|| format!("binding the media port {}", args.media))?;
        let media_addr = sfu.local_addr()?;

        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(http::tls_config(cert, key).await?),
            _ => None,
        };
        let listener = std::net::TcpListener::bind(args.http)
            .with_context(|| format!("binding the web server {}", args.http))?;
        listener.set_nonblocking(true)?;
        let http_addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = args.public_url.clone().unwrap_or_else(|| {
            let host = if http_addr.ip().is_unspecified() || http_addr.ip().is_loopback() {
                "localhost".to_string()
            } else {
                http_addr.ip().to_string()
            };
            format!("{scheme}://{host}:{}", http_addr.port())
        });

        let state = Arc::new(AppState {
            store: Arc::new(Mutex::new(store)),
            sfu,
            rooms: Mutex::new(HashMap::new()),
            recordings,
            record_all: args.record_all,
            recorders: Mutex::new(Vec::new()),
            exports: Arc::new(export::Jobs::default()),
            whip: whip::Resources::default(),
            keys,
            base_url: base_url.clone(),
        });
        tokio::spawn(follow_rooms(state.clone(), events));
        tokio::spawn(expire_hourly(state.clone()));

        let (stop, stop_rx) = watch::channel(false);
        let app = http::router(state.clone());
        let http_task = tokio::spawn(http::serve(listener, app, tls, stop_rx));
        Ok(Server {
            http_addr,
            media_addr,
            base_url,
            state,
            stop,
            http_task,
            demo,
        })
    }

    /// What an operator needs to see on start.
    pub fn print_banner(&self) {
        println!("lectern {} is running", env!("CARGO_PKG_VERSION"));
        println!("  web:   {}", self.base_url);
        println!(
            "  media: {} (UDP, and ICE-TCP on the same port); announced as {}",
            self.media_addr,
            self.state.sfu.announced()
        );
        if self.demo.is_some() {
            println!("\nA demo course was created. Open these links:");
        } else {
            println!("\nLinks made on first start:");
        }
        let links = first_start_links(&self.state.store(), &self.state.keys, &self.base_url);
        match links {
            Ok(links) => {
                for (label, url) in links {
                    println!("  {label}: {url}");
                }
            }
            Err(e) => tracing::error!("listing the first start's links: {e}"),
        }
        if self.base_url.starts_with("http://") {
            println!(
                "\nPlain HTTP is fit for localhost only: browsers allow camera and microphone on \
                 other machines only over HTTPS (see --tls-cert/--tls-key, docs/operations.md)."
            );
        }
    }

    /// The demo session created on this start, if any, with its keys.
    pub fn demo_session(&self) -> Option<&KeyedSession> {
        self.demo.as_ref().map(|d| &d.session)
    }

    /// The key of the demo invite of `role` made on this start (admin: if one was made).
    pub fn demo_key(&self, role: Role) -> Option<&str> {
        self.demo
            .as_ref()
            .and_then(|d| d.keys.get(&role))
            .map(String::as_str)
    }

    /// Makes an invite and returns it with its key (tests and tools).
    pub fn invite(&self, new: &lectern_store::NewInvite) -> anyhow::Result<(Invite, String)> {
        let invite = self.state.store().create_invite(new)?;
        let key = self.state.keys.invite_key(&invite);
        Ok((invite, key))
    }

    /// The signing keys (tests and tools).
    pub fn keys(&self) -> &auth::Keys {
        &self.state.keys
    }

    /// A session by id, from the store.
    pub fn session(&self, id: SessionId) -> Option<Session> {
        self.state.store().session(id).ok().flatten()
    }

    /// Creates a course with one session and a day's invites for its live roles (tests and
    /// tools).
    pub fn create_session(&self, course: &str, title: &str) -> anyhow::Result<KeyedSession> {
        let store = self.state.store();
        let c = store.create_course(course, "")?;
        let session = store.create_session(&c.id, title)?;
        let key = |role: Role| -> anyhow::Result<String> {
            let i = store.create_invite(&lectern_store::NewInvite {
                course_id: Some(c.id.clone()),
                role,
                name: String::new(),
                affiliation: String::new(),
                email: String::new(),
                expires_at_ms: lectern_store::now_ms() + 86_400_000,
                max_uses: None,
                origin: "cli".into(),
            })?;
            Ok(self.state.keys.invite_key(&i))
        };
        Ok(KeyedSession {
            facilitator_key: key(Role::Facilitator)?,
            participant_key: key(Role::Participant)?,
            display_key: key(Role::RoomDisplay)?,
            session,
        })
    }

    /// The catalogue (tests and tools).
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.state.store())
    }

    /// The recordings folder.
    pub fn recordings_dir(&self) -> &std::path::Path {
        &self.state.recordings
    }

    /// Counters of the media plane.
    pub fn media_stats(&self) -> lectern_sfu::StatsSnapshot {
        self.state.sfu.stats()
    }

    /// Resolves when the web server stops.
    pub async fn closed(&self) {
        let mut rx = self.stop.subscribe();
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Ends live rooms (viewers are told) and stops the web server.
    pub async fn shutdown(self) {
        let rooms: Vec<RoomHandle> = self
            .state
            .rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for r in rooms {
            let _ = r.send(Control::Shutdown).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Rooms told their recorders to stop; wait for the files to be finalized.
        let recorders: Vec<_> = std::mem::take(
            &mut *self
                .state
                .recorders
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if !recorders.is_empty() {
            let joined = tokio::task::spawn_blocking(move || {
                for r in recorders {
                    r.join();
                }
            });
            if tokio::time::timeout(Duration::from_secs(20), joined)
                .await
                .is_err()
            {
                tracing::warn!("recorders did not finish in 20 s; recovery will repair them");
            }
        }
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.http_task).await;
    }
}

/// Keeps the store and the room table in step with the media plane.
async fn follow_rooms(
    state: Arc<AppState>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<SfuEvent>,
) {
    while let Some(e) = events.recv().await {
        match e {
            SfuEvent::RoomClosed { session, ended } => {
                state
                    .rooms
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|id, h| *id != session || !h.is_closed());
                // A shutdown interrupts a session; it does not end it.
                if let Some(reason) = ended {
                    let tag = match reason {
                        EndReason::EndedByFacilitator => "ended_by_facilitator",
                        EndReason::FacilitatorGone => "facilitator_gone",
                        EndReason::Cancelled => "cancelled",
                    };
                    if let Err(e) = state.store().end_session(session, tag) {
                        tracing::error!("recording the end of session {session}: {e}");
                    }
                }
            }
            SfuEvent::RecordingRequested { session } => recording::start(&state, session),
            SfuEvent::RevokeInvite { session, invite } => {
                crate::discussion::revoke(&state, session, &invite)
            }
            SfuEvent::SessionEvent {
                session,
                kind,
                data,
                at_ms,
            } => crate::discussion::persist(&state, session, kind, &data, at_ms),
        }
    }
}

/// Deletes recordings past their course's retention, once an hour.
async fn expire_hourly(state: Arc<AppState>) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    every.tick().await; // the start already did it
    loop {
        every.tick().await;
        let result = {
            let store = state.store();
            recording::expire(&store, &state.recordings, lectern_store::now_ms())
        };
        if let Err(e) = result {
            tracing::error!("retention: {e:#}");
        }
    }
}

/// On a first start: the demo course, its session and an invite per role (when `demo`), and an
/// admin invite whenever the database has none.
fn first_start(store: &Store, keys: &auth::Keys, demo: bool) -> anyhow::Result<Option<Demo>> {
    let expires = lectern_store::now_ms() + FIRST_START_INVITE_DAYS * 86_400_000;
    let invite = |course: Option<&str>, role: Role, name: &str| {
        store.create_invite(&lectern_store::NewInvite {
            course_id: course.map(str::to_string),
            role,
            name: name.to_string(),
            affiliation: String::new(),
            email: String::new(),
            expires_at_ms: expires,
            max_uses: None,
            origin: "first-start".into(),
        })
    };
    let mut made = std::collections::BTreeMap::new();
    let mut session = None;
    if demo && store.course_count()? == 0 {
        let course = store.create_course(
            "Demo course",
            "A course created on first start, to try lectern out.",
        )?;
        session = Some(store.create_session(&course.id, "Welcome session")?);
        // The participant invite is shared (no name): each holder picks one.
        for (role, name) in [
            (Role::Facilitator, "Facilitator"),
            (Role::Participant, ""),
            (Role::RoomDisplay, "Classroom display"),
            (Role::ReplayViewer, ""),
        ] {
            let i = invite(Some(&course.id), role, name)?;
            made.insert(role, keys.invite_key(&i));
        }
    }
    if !store.invites(None)?.iter().any(|i| i.role == Role::Admin) {
        let i = invite(None, Role::Admin, "Administrator")?;
        made.insert(Role::Admin, keys.invite_key(&i));
    }
    Ok(session.map(|session| Demo {
        session: KeyedSession {
            session,
            facilitator_key: made[&Role::Facilitator].clone(),
            participant_key: made[&Role::Participant].clone(),
            display_key: made[&Role::RoomDisplay].clone(),
        },
        keys: made,
    }))
}

/// The page of a live session for a role: `None` for roles that do not join live.
pub fn session_link(base: &str, role: Role, session: SessionId, key: &str) -> Option<String> {
    let page = match role {
        Role::Facilitator => "facilitate",
        Role::Participant => "watch",
        Role::RoomDisplay => "display",
        Role::Admin | Role::ReplayViewer => return None,
    };
    Some(format!("{base}/{page}/{session}#k={key}"))
}

/// The personal link of an invite: the admin page, or the course's page (its sessions and
/// recordings).
pub fn invite_link(base: &str, invite: &Invite, key: &str) -> String {
    match invite.role {
        Role::Admin => format!("{base}/admin#k={key}"),
        _ => format!("{base}/course#k={key}"),
    }
}

/// The links of the invites made on first start that still hold: each live role's link to
/// every open session of the demo course, the replay library, the admin page.
pub fn first_start_links(
    store: &Store,
    keys: &auth::Keys,
    base: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let now = lectern_store::now_ms();
    let sessions = store.sessions()?;
    let mut out = Vec::new();
    for i in store.first_start_invites()? {
        if i.is_revoked() || i.is_expired(now) {
            continue;
        }
        let key = keys.invite_key(&i);
        let label = i.role.as_str().replace('_', " ");
        match i.role {
            Role::Admin => out.push((label, invite_link(base, &i, &key))),
            Role::ReplayViewer => out.push((label, format!("{base}/recordings#k={key}"))),
            role => {
                for s in sessions
                    .iter()
                    .filter(|s| !s.ended && Some(&s.course_id) == i.course_id.as_ref())
                {
                    if let Some(url) = session_link(base, role, s.id, &key) {
                        out.push((label.clone(), url));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `lectern links`.
pub fn print_links(args: &LinksArgs) -> anyhow::Result<()> {
    let path = args.data_dir.join(&args.db);
    if !path.exists() {
        anyhow::bail!(
            "no database at {} (start `lectern serve` first)",
            path.display()
        );
    }
    let store = Store::open(&path)?;
    let keys = auth::Keys::load_or_create(&args.data_dir)?;
    for (label, url) in first_start_links(&store, &keys, &args.public_url)? {
        println!("  {label}: {url}");
    }
    Ok(())
}

/// `lectern export`: one file from a recording, with a progress bar on stderr.
pub async fn export_recording(args: &ExportArgs) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let format = export::Format::parse(&args.format)
        .with_context(|| format!("unknown format {:?} (mp4 or webm)", args.format))?;
    let id: lectern_proto::RecordingId = args
        .recording
        .trim()
        .parse()
        .with_context(|| format!("{:?} is not a recording id", args.recording))?;
    let db = args.data_dir.join(&args.db);
    if !db.exists() {
        anyhow::bail!("no database at {} (see --data-dir)", db.display());
    }
    let store = Store::open(&db)?;
    let rec = store
        .recording(id)?
        .with_context(|| format!("no recording {id} in {}", db.display()))?;
    if !rec.state.playable() {
        anyhow::bail!(
            "recording {id} is {}{}",
            rec.state.as_str(),
            rec.error.map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    let dir = args.data_dir.join(&args.recordings).join(&rec.dir);
    let inputs: Vec<export::Input> = store
        .files(id)?
        .iter()
        .filter(|f| f.state.playable())
        .map(|f| export::Input::from_file(&dir, f))
        .collect();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("lectern-{id}.{}", format.extension())));
    let tty = std::io::stderr().is_terminal();
    let mut last_shown = -1i64;
    eprintln!(
        "exporting recording {id} ({:.0} s, {} file(s)) to {}",
        rec.duration_ms.unwrap_or(0) as f64 / 1000.0,
        inputs.len(),
        output.display()
    );
    export::run(
        &inputs,
        rec.duration_ms.unwrap_or(0),
        format,
        &output,
        |p| {
            let pct = (p * 100.0).floor() as i64;
            if pct == last_shown || (!tty && pct % 10 != 0 && pct != 100) {
                return;
            }
            last_shown = pct;
            let filled = (p * 30.0).round() as usize;
            let bar = format!(
                "[{}{}] {pct:3}%",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
            if tty {
                eprint!("\r{bar}");
            } else {
                eprintln!("{bar}");
            }
            let _ = std::io::stderr().flush();
        },
    )
    .await?;
    if tty {
        eprintln!();
    }
    eprintln!("done: {}", output.display());
    Ok(())
}
