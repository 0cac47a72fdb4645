//! Media through the SFU with headless Rust clients: real ICE, DTLS and SRTP over loopback.

use std::time::Duration;

use lectern_e2e::TestServer;
use lectern_proto::Source;
use lectern_testkit::{Publisher, PublisherOptions, Viewer, ViewerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_publisher_to_two_viewers() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = &t.session;
    let v1 = Viewer::join(&t.ws_url(), s.id, &s.participant_key, ViewerOptions::default()).await?;
    let v2 = Viewer::join(&t.ws_url(), s.id, &s.participant_key, ViewerOptions::default()).await?;
    let p = Publisher::start(&t.ws_url(), s.id, &s.facilitator_key, PublisherOptions::default()).await?;
    let cam = p.track(Source::Camera).unwrap();
    let mic = p.track(Source::Microphone).unwrap();
    for v in [&v1, &v2] {
        v.wait_for_packets(cam, 50, Duration::from_secs(10)).await?;
        v.wait_for_packets(mic, 20, Duration::from_secs(10)).await?;
    }
    p.stop().await?;
    v1.stop().await?;
    v2.stop().await?;
    t.stop().await;
    Ok(())
}
