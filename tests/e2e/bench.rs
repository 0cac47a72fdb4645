//! The load generator's smoke test: a few bench viewers for a few seconds against lectern and
//! against Janus (Debian package `janus`, required: the test fails without it), through the
//! same library code as `lectern-load`.

use std::path::PathBuf;
use std::time::Duration;

use lectern_testkit::load::{self, LoadOptions, Target, TargetReport};

const VIEWERS: usize = 3;

fn options() -> LoadOptions {
    LoadOptions {
        viewers: VIEWERS,
        ramp: 20.0,
        seconds: 3.0,
        video_kbps: 600,
        server: PathBuf::from(env!("CARGO_BIN_EXE_lectern-e2e-server")),
        join_timeout: Duration::from_secs(15),
        settle: Duration::from_millis(500),
        ..Default::default()
    }
}

fn check(r: &TargetReport) {
    let name = r.target.name();
    assert_eq!(
        r.viewers_receiving, VIEWERS as u64,
        "{name}: every viewer receives ({r:?})"
    );
    assert_eq!(r.viewer_errors, 0, "{name}: {:?}", r.first_viewer_error);
    assert_eq!(r.decrypt_errors, 0, "{name}: decryption on the fast path");
    // 600 kbit/s at 30 fps is ~2-3 video packets a frame; Opus is 50 packets a second.
    let per_viewer_s = VIEWERS as f64 * r.steady_seconds;
    assert!(
        r.received_video_packets as f64 > 40.0 * per_viewer_s,
        "{name}: video flows ({r:?})"
    );
    assert!(
        r.received_audio_packets as f64 > 30.0 * per_viewer_s,
        "{name}: audio flows ({r:?})"
    );
    assert!(r.loss < 0.02, "{name}: loss {} ({r:?})", r.loss);
    assert!(r.latency_us_p50 > 0, "{name}: latency measured");
    assert!(r.join_ms_p50 > 0.0, "{name}: join time measured");
    assert!(r.server_cpu_share > 0.0, "{name}: server CPU measured");
    assert!(r.server_rss_kib_loaded > 0, "{name}: server RSS measured");
}

/// Both targets run one after the other; the combined JSON has every field for both, and
/// ratios.
#[tokio::test]
async fn load_generator_drives_lectern_and_janus() {
    let opts = options();
    let lectern = load::run_target(Target::Lectern, &opts)
        .await
        .expect("lectern run");
    check(&lectern);
    assert!(
        lectern.server_counted_packets.unwrap_or(0) > 0,
        "lectern's own counter is read"
    );
    assert!(
        lectern.fanout_us_p50.is_some_and(|us| us > 0.0),
        "lectern's fan-out histogram is read ({lectern:?})"
    );
    let janus = load::run_target(Target::Janus, &opts)
        .await
        .expect("janus run (needs Debian package janus, and root for its loopback alias)");
    check(&janus);

    let json = load::combined_json(Some(&lectern), Some(&janus));
    let fields: Vec<String> = lectern
        .to_json()
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    for key in [
        "server_cpu_us_per_packet",
        "received_pps",
        "received_mbps",
        "server_cpu_share",
        "latency_us_p50",
        "latency_us_p99",
        "fanout_us_p50",
        "fanout_us_p99",
        "generator_cpu_share",
        "generator_cpu_us_per_packet",
        "join_ms_p50",
        "join_ms_p95",
        "loss",
        "received_packets",
        "server_rss_kib_idle",
        "server_rss_kib_loaded",
        "server_rss_kib_per_viewer",
    ] {
        assert!(fields.iter().any(|f| f == key), "report has {key}");
    }
    for target in ["lectern", "janus"] {
        for key in &fields {
            assert!(
                json[target].get(key).is_some(),
                "{target} report has {key}: {json}"
            );
        }
    }
    let ratio = json["ratios"]["server_cpu_us_per_packet"]
        .as_f64()
        .expect("ratio of CPU per packet");
    assert!(ratio > 0.0, "{json}");
    assert!(json["ratios"]["received_packets"].as_f64().is_some());
    assert!(!load::table(Some(&lectern), Some(&janus)).is_empty());
    let text = load::combined_json_text(Some(&lectern), Some(&janus));
    assert!(text.starts_with("{\"lectern\":"), "{text}");
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for target in ["lectern", "janus", "ratios"] {
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v[target]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(keys(&parsed), keys(&json), "{target} in the text form");
    }
}
