//! HTTPS from a certificate and key given in the configuration.

use std::sync::Arc;

use lectern_e2e::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let dir = std::env::temp_dir().join(format!("lectern-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem())?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())?;

    let t = TestServer::start_with(|a| {
        a.tls_cert = Some(cert_path.clone());
        a.tls_key = Some(key_path.clone());
    })
    .await?;
    assert!(
        t.server.base_url.starts_with("https://"),
        "{}",
        t.server.base_url
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(t.server.http_addr).await?;
    let mut tls = connector
        .connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("ok"), "{text}");

    // Plain HTTP on the TLS port is refused, not served.
    let mut plain = tokio::net::TcpStream::connect(t.server.http_addr).await?;
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut buf),
    )
    .await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

    t.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_is_a_clear_startup_error() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("lectern-badtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let bogus = dir.join("bogus.pem");
    std::fs::write(&bogus, "not a certificate")?;
    let result = TestServer::start_with(|a| {
        a.tls_cert = Some(bogus.clone());
        a.tls_key = Some(bogus.clone());
    })
    .await;
    let err = format!("{:#}", result.err().expect("startup must fail"));
    assert!(err.contains("TLS certificate"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
