//! Helpers shared by the end-to-end tests: a real `lectern` server on port 0 with its data in a
//! fresh temporary folder.

use std::path::PathBuf;

use lectern::config::ServeArgs;
use lectern::KeyedSession;
use lectern::Server;
use lectern_proto::Role;

/// A server for one test, and the session it created.
pub struct TestServer {
    pub server: Server,
    pub session: KeyedSession,
    pub dir: PathBuf,
}

impl TestServer {
    /// Starts a server on loopback ports chosen by the OS, with a fresh database.
    pub async fn start() -> anyhow::Result<TestServer> {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], after `adjust` changes the settings.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeArgs)) -> anyhow::Result<TestServer> {
        init_logging();
        let dir = std::env::temp_dir().join(format!("lectern-e2e-{}", uuid_like()));
        let mut args = ServeArgs::for_tests(dir.clone());
        args.public_ip = Some("127.0.0.1".parse()?);
        adjust(&mut args);
        let server = Server::start(args).await?;
        let session = server
            .demo_session()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no demo session"))?;
        Ok(TestServer {
            server,
            session,
            dir,
        })
    }

    /// The key of the demo invite of `role` (facilitator, participant, room display, replay
    /// viewer, admin).
    pub fn key(&self, role: Role) -> String {
        self.server
            .demo_key(role)
            .unwrap_or_else(|| panic!("the first start made no {role} invite"))
            .to_string()
    }

    /// A new invite to the demo course (or none, for an admin) and its key.
    pub fn invite(
        &self,
        role: Role,
        name: &str,
        adjust: impl FnOnce(&mut lectern_store::NewInvite),
    ) -> String {
        let mut n = lectern_store::NewInvite {
            course_id: (role != Role::Admin).then(|| self.session.course_id.clone()),
            role,
            name: name.to_string(),
            affiliation: String::new(),
            email: String::new(),
            expires_at_ms: lectern_store::now_ms() + 86_400_000,
            max_uses: None,
            origin: "cli".into(),
        };
        adjust(&mut n);
        self.server.invite(&n).expect("invite").1
    }

    /// The signalling URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.server.http_addr)
    }

    /// The page base URL.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.server.http_addr)
    }

    /// The demo session's WHIP endpoint.
    pub fn whip_url(&self) -> String {
        format!("{}/whip/{}", self.http_url(), self.session.id)
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// Logs to the test output when `LECTERN_LOG` is set.
pub fn init_logging() {
    if let Ok(filter) = std::env::var("LECTERN_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Drops UDP to a loopback port while it lives (iptables, as root), so clients must fall back to
/// ICE-TCP. Removed again on drop.
pub struct UdpBlock {
    port: u16,
}

impl UdpBlock {
    pub fn new(port: u16) -> anyhow::Result<UdpBlock> {
        iptables("-I", port)?;
        Ok(UdpBlock { port })
    }
}

impl Drop for UdpBlock {
    fn drop(&mut self) {
        let _ = iptables("-D", self.port);
    }
}

fn iptables(op: &str, port: u16) -> anyhow::Result<()> {
    let port = port.to_string();
    let status = std::process::Command::new("iptables")
        .args([
            op, "INPUT", "-i", "lo", "-p", "udp", "--dport", &port, "-j", "DROP",
        ])
        .status()
        .map_err(|e| {
            anyhow::anyhow!(
                "iptables is missing ({e}); install Debian's `iptables` and run as root"
            )
        })?;
    anyhow::ensure!(
        status.success(),
        "iptables {op} failed (this test needs root)"
    );
    Ok(())
}

impl TestServer {
    /// A signalling connection that joined the demo session with the shared key of `role`,
    /// choosing `name` (holders of a shared key are told apart by connection).
    pub async fn join(
        &self,
        role: Role,
        name: &str,
    ) -> anyhow::Result<(lectern_testkit::Signal, lectern_proto::Joined)> {
        lectern_testkit::Signal::join(&self.ws_url(), self.session.id, &self.key(role), name).await
    }

    /// A person of their own: a personal invite of `role` named `name`, and its key (join with
    /// [`TestServer::join_with`] as often as needed: each time it is the same person).
    pub fn person(&self, role: Role, name: &str) -> String {
        self.invite(role, name, |_| {})
    }

    /// A signalling connection that joined the demo session with `key`.
    pub async fn join_with(
        &self,
        key: &str,
    ) -> anyhow::Result<(lectern_testkit::Signal, lectern_proto::Joined)> {
        lectern_testkit::Signal::join(&self.ws_url(), self.session.id, key, "").await
    }

    /// A headless participant in the demo session.
    pub async fn viewer(
        &self,
        opts: lectern_testkit::ViewerOptions,
    ) -> anyhow::Result<lectern_testkit::Viewer> {
        let key = self.key(Role::Participant);
        lectern_testkit::Viewer::join(&self.ws_url(), self.session.id, &key, opts).await
    }

    /// A headless facilitator publishing in the demo session.
    pub async fn publisher(
        &self,
        opts: lectern_testkit::PublisherOptions,
    ) -> anyhow::Result<lectern_testkit::Publisher> {
        let key = self.key(Role::Facilitator);
        lectern_testkit::Publisher::start(&self.ws_url(), self.session.id, &key, opts).await
    }
}
