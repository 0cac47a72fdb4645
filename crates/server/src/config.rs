//! Command line and environment configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// lectern: live and recorded video sessions for blended instruction.
#[derive(Debug, Parser)]
#[command(name = "lectern", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: web client, signalling and media.
    Serve(ServeArgs),
    /// Print the facilitator and participant links of the sessions in the database.
    Links(LinksArgs),
    /// Export a recording as one video file (camera, screen and audio together), with ffmpeg.
    Export(ExportArgs),
    /// Create, list and edit courses.
    #[command(subcommand)]
    Course(crate::admin::CourseCommand),
    /// Create, list, schedule and cancel sessions.
    #[command(subcommand)]
    Session(crate::admin::SessionCommand),
    /// Invite people (one, or a roster), list and revoke invites.
    #[command(subcommand)]
    Invite(crate::admin::InviteCommand),
}

/// Where the database is, for the administration commands.
#[derive(Clone, Debug, Args)]
pub struct DbArgs {
    /// Folder of the database.
    #[arg(long, env = "LECTERN_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
    /// The SQLite database file (relative paths are under --data-dir).
    #[arg(long, env = "LECTERN_DB", default_value = "lectern.db")]
    pub db: PathBuf,
}

impl DbArgs {
    pub fn path(&self) -> PathBuf {
        self.data_dir.join(&self.db)
    }
}

#[derive(Clone, Debug, Args)]
pub struct ExportArgs {
    /// The recording's id (as in its replay link /replay/<id>).
    pub recording: String,
    /// Output format: mp4 (H.264 + AAC, plays everywhere) or webm (VP8 + Opus).
    #[arg(long, default_value = "mp4")]
    pub format: String,
    /// Output file (default: lectern-<recording>.<format> in the current folder).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Folder of the database.
    #[arg(long, env = "LECTERN_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
    /// The SQLite database file (relative paths are under --data-dir).
    #[arg(long, env = "LECTERN_DB", default_value = "lectern.db")]
    pub db: PathBuf,
    /// Folder of the recordings (relative paths are under --data-dir).
    #[arg(long, env = "LECTERN_RECORDINGS", default_value = "recordings")]
    pub recordings: PathBuf,
}

/// Settings of `lectern serve`. Every flag can also be set through the environment variable
/// named in its help.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address of the web server (pages, WebSocket signalling).
    #[arg(long, env = "LECTERN_HTTP", default_value = "0.0.0.0:8080")]
    pub http: SocketAddr,

    /// Address of the media port: UDP for all peers, and ICE-TCP on the same port number.
    #[arg(long, env = "LECTERN_MEDIA", default_value = "0.0.0.0:7880")]
    pub media: SocketAddr,

    /// The IP announced in ICE candidates (the public IP of a server behind 1:1 NAT). Default:
    /// the media bind IP, or the first non-loopback interface address when binding to all.
    #[arg(long, env = "LECTERN_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,

    /// Disable ICE over TCP on the media port.
    #[arg(long, env = "LECTERN_NO_ICE_TCP")]
    pub no_ice_tcp: bool,

    /// Folder for the database (and anything else the hub keeps).
    #[arg(long, env = "LECTERN_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,

    /// The SQLite database file (relative paths are under --data-dir).
    #[arg(long, env = "LECTERN_DB", default_value = "lectern.db")]
    pub db: PathBuf,

    /// Folder for recordings (relative paths are under --data-dir).
    #[arg(long, env = "LECTERN_RECORDINGS", default_value = "recordings")]
    pub recordings: PathBuf,

    /// TLS certificate chain (PEM). With --tls-key, the web server speaks HTTPS.
    #[arg(long, env = "LECTERN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, env = "LECTERN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The base URL printed in links (default: derived from --http and TLS).
    #[arg(long, env = "LECTERN_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Seconds a session waits for its facilitator to come back before it ends.
    #[arg(long, env = "LECTERN_GRACE_SECONDS", default_value_t = 120)]
    pub grace_seconds: u64,

    /// Minimum spacing of keyframe requests to one published track, in milliseconds; a viewer
    /// joining within this time of the last keyframe starts from it (out of the cache).
    #[arg(long, env = "LECTERN_KEYFRAME_INTERVAL_MS", default_value_t = 500)]
    pub keyframe_interval_ms: u64,

    /// A fan-out of one packet to at least this many viewers is split across the cores (0:
    /// never). Default: 96 on machines with 4 cores or more, never on smaller ones (where the
    /// handover costs more than it saves once the cores are busy; see docs/benchmarks.md).
    #[arg(long, env = "LECTERN_FANOUT_SPLIT")]
    pub fanout_split: Option<usize>,

    /// Do not create the demo course on first start.
    #[arg(long, env = "LECTERN_NO_DEMO")]
    pub no_demo: bool,

    /// Record every session from the moment it goes live (a course can also ask for this).
    #[arg(long, env = "LECTERN_RECORD_ALL")]
    pub record_all: bool,
}

#[derive(Clone, Debug, Args)]
pub struct LinksArgs {
    /// Folder of the database.
    #[arg(long, env = "LECTERN_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
    /// The SQLite database file.
    #[arg(long, env = "LECTERN_DB", default_value = "lectern.db")]
    pub db: PathBuf,
    /// Base URL of the hub.
    #[arg(
        long,
        env = "LECTERN_PUBLIC_URL",
        default_value = "http://localhost:8080"
    )]
    pub public_url: String,
}

impl ServeArgs {
    /// Defaults suitable for tests: everything on loopback, ports picked by the OS, data in
    /// `dir`.
    pub fn for_tests(dir: PathBuf) -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            media: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_ip: None,
            no_ice_tcp: false,
            data_dir: dir,
            db: PathBuf::from("lectern.db"),
            recordings: PathBuf::from("recordings"),
            tls_cert: None,
            tls_key: None,
            public_url: None,
            grace_seconds: 120,
            keyframe_interval_ms: 500,
            fanout_split: None,
            no_demo: false,
            record_all: false,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(&self.db)
    }

    pub fn recordings_path(&self) -> PathBuf {
        self.data_dir.join(&self.recordings)
    }
}
