//! Helpers shared by the end-to-end tests: a real `lectern` server on port 0 with its data in a
//! fresh temporary folder.

use std::path::PathBuf;

use lectern::config::ServeArgs;
use lectern::Server;
use lectern_store::Session;

/// A server for one test, and the session it created.
pub struct TestServer {
    pub server: Server,
    pub session: Session,
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

    /// The signalling URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.server.http_addr)
    }

    /// The page base URL.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.server.http_addr)
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
    /// A key of the test session for `role`. Today the demo session's shared facilitator and
    /// participant keys (so a person is known by role and name); other roles have none yet.
    pub fn key(&self, role: lectern_proto::Role) -> String {
        match role {
            lectern_proto::Role::Facilitator => self.session.facilitator_key.clone(),
            lectern_proto::Role::Participant => self.session.participant_key.clone(),
            other => panic!("the test session has no {other} key yet"),
        }
    }

    /// A signalling connection that joined the test session in `role` as `name`.
    pub async fn join(
        &self,
        role: lectern_proto::Role,
        name: &str,
    ) -> anyhow::Result<(lectern_testkit::Signal, lectern_proto::Joined)> {
        lectern_testkit::Signal::join(&self.ws_url(), self.session.id, &self.key(role), name).await
    }

    /// A headless participant in the demo session.
    pub async fn viewer(
        &self,
        opts: lectern_testkit::ViewerOptions,
    ) -> anyhow::Result<lectern_testkit::Viewer> {
        let key = self.key(lectern_proto::Role::Participant);
        lectern_testkit::Viewer::join(&self.ws_url(), self.session.id, &key, opts).await
    }

    /// A headless facilitator publishing in the demo session.
    pub async fn publisher(
        &self,
        opts: lectern_testkit::PublisherOptions,
    ) -> anyhow::Result<lectern_testkit::Publisher> {
        let key = self.key(lectern_proto::Role::Facilitator);
        lectern_testkit::Publisher::start(&self.ws_url(), self.session.id, &key, opts).await
    }
}
