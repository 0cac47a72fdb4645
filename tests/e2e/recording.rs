//! Recording and replay end to end: a facilitator in headless Chromium broadcasts painted
//! timecodes as camera and screen, records ~10 s; the files are checked with ffprobe/ffmpeg (an
//! independent decoder), then replayed in the player page, where both videos must show the same
//! moment (read back from their pixels), and exported to one MP4.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lectern_e2e::TestServer;
use lectern_testkit::browser::{Browser, Page};
use lectern_testkit::http;

use crate::pages::{self, LONG};
use serde_json::Value;

/// Replaces the camera, microphone and screen with canvases that paint the wall clock
/// (`Date.now() / 10`, 20 bits) as a 5×4 grid of black and white blocks, and a tone.
pub const TIMECODE_MEDIA: &str = r#"(() => {
  const W = 320, H = 240, COLS = 5, ROWS = 4, BITS = 20;
  function painter() {
    const c = document.createElement('canvas');
    c.width = W; c.height = H;
    const g = c.getContext('2d');
    const paint = () => {
      const code = Math.floor(Date.now() / 10) % (1 << BITS);
      for (let i = 0; i < BITS; i++) {
        g.fillStyle = (code >> i) & 1 ? '#ffffff' : '#000000';
        g.fillRect((i % COLS) * (W / COLS), Math.floor(i / COLS) * (H / ROWS), W / COLS, H / ROWS);
      }
    };
    paint();
    setInterval(paint, 15);
    return c.captureStream(30).getVideoTracks()[0];
  }
  function tone() {
    const ctx = new AudioContext();
    const o = ctx.createOscillator();
    const d = ctx.createMediaStreamDestination();
    o.connect(d);
    o.start();
    return d.stream.getAudioTracks()[0];
  }
  const md = navigator.mediaDevices;
  md.getUserMedia = async (c) => {
    const tracks = [];
    if (c && c.video) tracks.push(painter());
    if (c && c.audio) tracks.push(tone());
    return new MediaStream(tracks);
  };
  md.getDisplayMedia = async () => new MediaStream([painter()]);
})();"#;

/// Reads the painted timecode of a video element (the mean of each block's centre).
const READ_TIMECODES: &str = r#"(() => {
  const read = (v) => {
    const c = document.createElement('canvas');
    c.width = 320; c.height = 240;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 320, 240);
    const d = g.getImageData(0, 0, 320, 240).data;
    let code = 0;
    for (let i = 0; i < 20; i++) {
      const cx = (i % 5) * 64 + 32, cy = Math.floor(i / 5) * 60 + 30;
      let sum = 0, n = 0;
      for (let y = cy - 8; y <= cy + 8; y += 2) for (let x = cx - 8; x <= cx + 8; x += 2) {
        sum += d[(y * 320 + x) * 4 + 1]; n++;
      }
      if (sum / n > 128) code |= (1 << i);
    }
    return code;
  };
  const r = window.lecternReplay;
  const { camera, screen } = r.elements;
  return { camera: read(camera), screen: read(screen), timeline: r.timelineMs(),
           cameraTime: camera.currentTime, screenTime: screen.currentTime,
           playing: !camera.paused && !screen.paused };
})()"#;

/// The wall-clock time (ms) a 20-bit timecode stands for, taking the one nearest `near_ms`.
fn timecode_ms(code: u64, near_ms: u64) -> u64 {
    let period = 1u64 << 20;
    let near = near_ms / 10;
    let base = near - near % period;
    let candidates = [
        base.saturating_sub(period) + code,
        base + code,
        base + period + code,
    ];
    candidates
        .into_iter()
        .min_by_key(|c| c.abs_diff(near))
        .unwrap_or(0)
        * 10
}

/// `GET path` with a participant's key (participants replay their course's recordings).
async fn http_json(t: &TestServer, path: &str) -> anyhow::Result<(u16, Value)> {
    get_json(
        &t.server.http_addr.to_string(),
        path,
        &t.session.participant_key,
    )
    .await
}

/// `GET path` with `Authorization: Bearer key`.
async fn get_json(addr: &str, path: &str, key: &str) -> anyhow::Result<(u16, Value)> {
    let bearer = format!("Bearer {key}");
    let r = http::request(addr, "GET", path, &[("Authorization", &bearer)]).await?;
    Ok((r.status, r.json().unwrap_or(Value::Null)))
}

/// `ffprobe`'s view of a file: its streams (codec, frames) and duration.
pub fn ffprobe(path: &Path) -> anyhow::Result<Value> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "format=duration:stream=codec_name,codec_type,nb_read_frames",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .map_err(|e| {
            anyhow::anyhow!("ffprobe is needed for this test (apt-get install ffmpeg): {e}")
        })?;
    anyhow::ensure!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Decodes a whole file with ffmpeg; returns what ffmpeg reports as errors (nothing is good).
pub fn decode_errors(path: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .map_err(|e| {
            anyhow::anyhow!("ffmpeg is needed for this test (apt-get install ffmpeg): {e}")
        })?;
    let mut errors = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        errors.push_str(&format!("exit status {}", out.status));
    }
    Ok(errors)
}

pub fn duration_of(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0)
}

pub fn streams_of(probe: &Value) -> Vec<(String, u64)> {
    probe["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["codec_name"].as_str().unwrap_or("").to_string(),
                        s["nb_read_frames"]
                            .as_str()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn attr(b: &mut Browser, p: &Page, id: &str, name: &str) -> String {
    b.eval(
        p,
        &format!("(document.getElementById({id:?}) || {{}}).getAttribute ? document.getElementById({id:?}).getAttribute({name:?}) || '' : ''"),
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(String::from))
    .unwrap_or_default()
}

fn file_path(t: &TestServer, manifest: &Value, file: &Value) -> PathBuf {
    let rec = manifest["recording"].as_str().unwrap_or("");
    let session = manifest["session"].as_str().unwrap_or("");
    t.server
        .recordings_dir()
        .join(session)
        .join(rec)
        .join(file["file"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_session_is_recorded_replayed_in_sync_and_exported() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let mut b = Browser::launch().await?;

    // The facilitator goes live with painted camera and screen.
    let url = format!(
        "{}/facilitate/{}#k={}",
        t.http_url(),
        s.id,
        s.facilitator_key
    );
    let fac = pages::go_live(&mut b, &url, Some(TIMECODE_MEDIA)).await?;
    pages::share_screen(&mut b, &fac).await?;

    // A participant watches: they must see the recording indicator.
    let watch = format!("{}/watch/{}#k={}", t.http_url(), s.id, s.participant_key);
    let part = pages::join_participant(&mut b, &watch, "Officer One").await?;
    b.wait_for(&part, "document.body.dataset.state === 'live'", LONG)
        .await?;
    assert_eq!(
        attr(&mut b, &part, "recording-indicator", "data-recording").await,
        "off"
    );

    // Record for ~10 s.
    b.eval(
        &fac,
        "document.getElementById('record-toggle').click(); true",
    )
    .await?;
    b.wait_for(
        &fac,
        "document.getElementById('recording-indicator').getAttribute('data-recording') === 'on'",
        LONG,
    )
    .await?;
    let started = Instant::now();
    b.wait_for(
        &part,
        "document.getElementById('recording-indicator').getAttribute('data-recording') === 'on' && !document.getElementById('recording-indicator').hidden",
        LONG,
    )
    .await?;
    // …and are told so.
    b.wait_for(
        &part,
        "document.getElementById('status').textContent.includes('now being recorded')",
        LONG,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The facilitator marks a chapter 3 s in.
    b.wait_for(
        &fac,
        "!document.getElementById('chapter-form').hidden",
        LONG,
    )
    .await?;
    b.eval(
        &fac,
        "document.getElementById('chapter-title').value = 'Risk indicators'; \
         document.getElementById('chapter-add').click(); true",
    )
    .await?;
    let chapter_at = started.elapsed().as_millis() as i64;
    tokio::time::sleep(Duration::from_secs(7)).await;
    b.eval(
        &fac,
        "document.getElementById('record-toggle').click(); true",
    )
    .await?;
    let stopped = Instant::now();
    let recorded = stopped.duration_since(started).as_secs_f64();
    b.wait_for(
        &part,
        "document.getElementById('recording-indicator').getAttribute('data-recording') === 'off' && document.getElementById('recording-indicator').hidden && document.getElementById('status').textContent.includes('Recording stopped')",
        LONG,
    )
    .await?;

    // Ready within 5 s of stopping.
    let recording_id = loop {
        let (_, lib) = http_json(&t, "/api/library").await?;
        let rec = lib["courses"][0]["sessions"][0]["recordings"][0].clone();
        if rec["state"] == "ready" {
            break rec["id"].as_str().unwrap_or("").to_string();
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "the recording is not ready 5 s after stopping: {rec}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "recording ready {} ms after stopping",
        stopped.elapsed().as_millis()
    );
    let (code, manifest) = http_json(&t, &format!("/api/recordings/{recording_id}")).await?;
    assert_eq!(code, 200);
    let files = manifest["files"].as_array().cloned().unwrap_or_default();
    let camera = files
        .iter()
        .find(|f| f["kind"] == "camera")
        .expect("a camera file");
    let screen = files
        .iter()
        .find(|f| f["kind"] == "screen")
        .expect("a screen file");
    assert_eq!(files.len(), 2, "one camera and one screen file: {manifest}");

    // An independent decoder agrees.
    for (file, codecs) in [(camera, vec!["vp8", "opus"]), (screen, vec!["vp8"])] {
        let path = file_path(&t, &manifest, file);
        let probe = ffprobe(&path)?;
        let streams = streams_of(&probe);
        let names: Vec<&str> = streams.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, codecs, "{}: streams {probe}", path.display());
        let duration = duration_of(&probe);
        // The real length: from the file's start on the timeline to the recorder's stop.
        let start_s = file["start_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        let expected = manifest["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0 - start_s;
        assert!(
            (expected + start_s - recorded).abs() < 1.0,
            "the server recorded {:.2} s, the test {recorded:.2} s",
            expected + start_s
        );
        assert!(
            (duration - expected).abs() <= 0.5,
            "{}: duration {duration:.2} s, recorded {expected:.2} s",
            path.display()
        );
        let frames = streams[0].1 as f64;
        assert!(
            frames >= duration * 10.0 && frames <= duration * 61.0,
            "{}: {frames} video frames in {duration:.1} s",
            path.display()
        );
        let errors = decode_errors(&path)?;
        assert!(
            errors.trim().is_empty(),
            "{}: decode errors: {errors}",
            path.display()
        );
        println!(
            "{}: {names:?}, {duration:.2} s (recorded {expected:.2} s), {frames} frames",
            file["file"]
        );
    }

    // The chapter is on the timeline where it was marked.
    let chapter = manifest["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "chapter"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(chapter["data"]["title"], "Risk indicators", "{manifest}");
    let at = chapter["at_ms"].as_i64().unwrap_or(-1);
    assert!(
        (at - chapter_at).abs() < 1000,
        "chapter at {at} ms, marked at about {chapter_at} ms"
    );

    // Replay from a deep link: both players show the same moment, the one linked to.
    let started_at_ms = manifest["started_at_ms"].as_u64().unwrap_or(0);
    let replay = b
        .open(&format!(
            "{}/replay/{recording_id}?t=4#k={}",
            t.http_url(),
            t.session.participant_key
        ))
        .await?;
    b.wait_for(
        &replay,
        "!!window.lecternReplay && window.lecternReplay.ready.then(() => true)",
        LONG,
    )
    .await?;
    b.eval(
        &replay,
        "Promise.resolve(window.lecternReplay.play()).then(() => true)",
    )
    .await?;
    b.wait_for(
        &replay,
        "(() => { const e = window.lecternReplay.elements; return !e.camera.paused && !e.screen.paused && e.camera.readyState >= 3 && e.screen.readyState >= 3; })()",
        LONG,
    )
    .await?;
    let mut worst = 0u64;
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let r = b.eval(&replay, READ_TIMECODES).await?;
        let timeline = r["timeline"].as_f64().unwrap_or(0.0) as u64;
        let near = started_at_ms + timeline;
        let cam = timecode_ms(r["camera"].as_u64().unwrap_or(0), near);
        let scr = timecode_ms(r["screen"].as_u64().unwrap_or(0), near);
        let apart = cam.abs_diff(scr);
        worst = worst.max(apart);
        println!(
            "sample {i}: timeline {timeline} ms, camera shows {} ms, screen {} ms after the start ({apart} ms apart)",
            cam as i64 - started_at_ms as i64,
            scr as i64 - started_at_ms as i64
        );
        assert!(
            apart <= 100,
            "camera and screen out of sync by {apart} ms: {r}"
        );
        // The deep link put the players near 4 s (plus what has played since).
        let shown = cam as i64 - started_at_ms as i64;
        assert!(
            (shown - timeline as i64).abs() < 1500,
            "the picture ({shown} ms) does not match the timeline ({timeline} ms): {r}"
        );
        if i == 0 {
            assert!(
                (3500..7000).contains(&timeline),
                "the deep link ?t=4 starts near 4 s, not {timeline} ms"
            );
        }
    }
    println!("replay: camera and screen at most {worst} ms apart");
    // Keyboard: J goes back 10 s (to the start here), ">" twice plays at 1.5×, "5" jumps to
    // the middle; camera and screen stay together.
    let key = |k: &str| {
        format!("document.dispatchEvent(new KeyboardEvent('keydown', {{key: {k:?}, bubbles: true}})); true")
    };
    b.eval(&replay, &key("j")).await?;
    b.wait_for(&replay, "window.lecternReplay.timelineMs() < 1500", LONG)
        .await?;
    b.eval(&replay, &key(">")).await?;
    b.eval(&replay, &key(">")).await?;
    b.wait_for(
        &replay,
        "document.getElementById('speed').value === '1.5' && window.lecternReplay.elements.camera.playbackRate === 1.5",
        LONG,
    )
    .await?;
    b.eval(&replay, &key("5")).await?;
    let duration_ms = manifest["duration_ms"].as_f64().unwrap_or(0.0);
    b.wait_for(
        &replay,
        &format!(
            "Math.abs(window.lecternReplay.timelineMs() - {}) < 1500",
            duration_ms / 2.0
        ),
        LONG,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = b.eval(&replay, READ_TIMECODES).await?;
    let near = started_at_ms + r["timeline"].as_f64().unwrap_or(0.0) as u64;
    let apart = timecode_ms(r["camera"].as_u64().unwrap_or(0), near)
        .abs_diff(timecode_ms(r["screen"].as_u64().unwrap_or(0), near));
    println!("at 1.5× after a jump: camera and screen {apart} ms apart");
    assert!(apart <= 100, "out of sync at 1.5×: {r}");

    let chapters = b
        .eval(
            &replay,
            "document.getElementById('chapter-list').textContent",
        )
        .await?;
    assert!(
        chapters.as_str().unwrap_or("").contains("Risk indicators"),
        "the player lists the chapter: {chapters}"
    );

    // One MP4 with everything, through the page's export API.
    let addr = t.server.http_addr.to_string();
    let bearer = format!("Bearer {}", t.session.participant_key);
    let r = http::request(
        &addr,
        "POST",
        &format!("/api/recordings/{recording_id}/export"),
        &[("Authorization", &bearer)],
    )
    .await?;
    assert_eq!(r.status, 202, "{:?}", String::from_utf8_lossy(&r.body));
    let job = r.json()?;
    let status_url = job["status_url"].as_str().unwrap_or("").to_string();
    let export_started = Instant::now();
    let mut progress_seen = Vec::new();
    let url = loop {
        let (_, st) = http_json(&t, &status_url).await?;
        progress_seen.push(st["progress"].as_f64().unwrap_or(-1.0));
        match st["state"].as_str() {
            Some("done") => break st["url"].as_str().unwrap_or("").to_string(),
            Some("running") => {}
            _ => panic!("export failed: {st}"),
        }
        assert!(
            export_started.elapsed() < Duration::from_secs(120),
            "export too slow"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(progress_seen.last().copied(), Some(1.0));
    let mp4 = t.dir.join("export.mp4");
    let r = http::get(&addr, &url).await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    assert!(r
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment")));
    std::fs::write(&mp4, &r.body)?;
    let probe = ffprobe(&mp4)?;
    let names: Vec<String> = streams_of(&probe).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["h264", "aac"], "{probe}");
    let d = duration_of(&probe);
    assert!(
        (d - recorded).abs() < 1.0,
        "export lasts {d:.2} s, the recording {recorded:.2} s"
    );
    println!(
        "export: {d:.2} s MP4 in {:.1} s",
        export_started.elapsed().as_secs_f64()
    );

    b.quit().await;
    t.stop().await;
    Ok(())
}

/// The server is killed (SIGKILL) 8 s into a recording and started again: the recording is
/// recovered, decodes, holds at least 6 s, and the catalogue points only at files that exist.
/// The recovered recording then exports with the CLI, which shows its progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_recovers_its_recording() -> anyhow::Result<()> {
    use lectern_testkit::load::LecternProcess;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lectern-e2e-server"));
    let dir = std::env::temp_dir().join(format!(
        "lectern-e2e-kill-{}-{}",
        std::process::id(),
        lectern_testkit::media::now_ns()
    ));
    let server = LecternProcess::start_in(&binary, &dir, &["--record-all"]).await?;
    let http = server.http.clone();
    let mut b = Browser::launch().await?;
    let url = format!(
        "http://{http}/facilitate/{}#k={}",
        server.session, server.facilitator_key
    );
    let fac = pages::go_live(&mut b, &url, Some(TIMECODE_MEDIA)).await?;
    // The course records from the start: the indicator comes on by itself.
    b.wait_for(
        &fac,
        "document.getElementById('recording-indicator').getAttribute('data-recording') === 'on'",
        LONG,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let dir = server.kill().await;
    b.quit().await;

    // Start again on the same data: recovery runs before the server serves.
    let server = LecternProcess::start_in(&binary, &dir, &[]).await?;
    let key = server.participant_key.clone();
    let (_, lib) = get_json(&server.http, "/api/library", &key).await?;
    let rec = lib["courses"][0]["sessions"][0]["recordings"][0].clone();
    assert_eq!(rec["state"], "recovered", "{lib}");
    let id = rec["id"].as_str().unwrap_or("").to_string();
    let (_, manifest) = get_json(&server.http, &format!("/api/recordings/{id}"), &key).await?;
    let files = manifest["files"].as_array().cloned().unwrap_or_default();
    assert!(!files.is_empty(), "{manifest}");
    let rec_dir = dir
        .join("recordings")
        .join(manifest["session"].as_str().unwrap_or(""))
        .join(&id);
    for f in &files {
        let path = rec_dir.join(f["file"].as_str().unwrap_or(""));
        assert!(
            path.is_file(),
            "the catalogue names a missing file {}",
            path.display()
        );
        assert_eq!(f["state"], "recovered");
        let probe = ffprobe(&path)?;
        let d = duration_of(&probe);
        assert!(d >= 6.0, "{}: only {d:.2} s recovered", path.display());
        let errors = decode_errors(&path)?;
        assert!(errors.trim().is_empty(), "{}: {errors}", path.display());
        let catalogued = f["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        assert!(
            (catalogued - d).abs() < 0.5,
            "catalogue says {catalogued:.2} s, the file {d:.2} s"
        );
        // The file serves, with its length and ranges.
        let r = http::request(
            &server.http,
            "GET",
            f["url"].as_str().unwrap_or(""),
            &[("Range", "bytes=0-99")],
        )
        .await?;
        assert_eq!(r.status, 206);
        assert_eq!(r.body.len(), 100);
        println!("recovered {}: {d:.2} s", f["file"]);
    }
    hostile_requests_are_refused(&server.http, files[0]["url"].as_str().unwrap_or(""), &key)
        .await?;
    let on_disk: Vec<_> = std::fs::read_dir(&rec_dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".webm") || n.ends_with(".mkv"))
        .collect();
    assert_eq!(on_disk.len(), files.len(), "files on disk {on_disk:?}");
    assert!(rec_dir.join("manifest.json").is_file());

    // The CLI exports it, with a progress bar.
    let out_file = dir.join("exported.mp4");
    let out = tokio::process::Command::new(&binary)
        .args(["export", &id, "-o"])
        .arg(&out_file)
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "export failed: {stderr}");
    assert!(stderr.contains("100%"), "no progress shown: {stderr}");
    let probe = ffprobe(&out_file)?;
    assert!(duration_of(&probe) >= 6.0, "{probe}");
    server.stop().await;
    Ok(())
}

/// Unknown ids, path tricks, missing or misused tickets and bad ranges get clean refusals;
/// good requests still work. `media` is a file's URL from the manifest (with its ticket).
async fn hostile_requests_are_refused(addr: &str, media: &str, key: &str) -> anyhow::Result<()> {
    let whole = http::get(addr, media).await?;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-type"), Some("video/webm"));
    assert!(whole
        .header("cache-control")
        .is_some_and(|c| c.contains("private")));
    let len = whole.body.len();
    let etag = whole.header("etag").unwrap_or("").to_string();

    for path in [
        "/media/../../../../etc/passwd",
        "/media/..%2f..%2f..%2fetc%2fpasswd",
        "/media/%2e%2e",
        "/media/ABCDEF0123456789ABCDEF0123456789",
        "/media/x",
        "/api/recordings/not-a-uuid",
        "/api/recordings/00000000-0000-0000-0000-000000000000",
        "/api/exports/00000000000000000000000000000000",
        "/exports/../../lectern.db",
    ] {
        let bearer = format!("Bearer {key}");
        let r = http::request(addr, "GET", path, &[("Authorization", &bearer)]).await?;
        assert_eq!(
            r.status,
            404,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("root:"),
            "{path} leaked a file"
        );
    }
    let bearer = format!("Bearer {key}");
    let r = http::request(
        addr,
        "POST",
        "/api/recordings/00000000-0000-0000-0000-000000000000/export",
        &[("Authorization", &bearer)],
    )
    .await?;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()?["error"], "unknown_recording");

    // A file without its ticket, or with another file's, is refused.
    let (path, ticket) = media.split_once("?ticket=").expect("a ticket in the URL");
    let file_id = path.trim_start_matches("/media/");
    for url in [
        path.to_string(),
        format!("{path}?ticket="),
        format!("{path}?ticket=forged.forged"),
        format!("/media/00000000000000000000000000000000?ticket={ticket}"),
        format!("/exports/{file_id}?ticket={ticket}"),
    ] {
        let r = http::get(addr, &url).await?;
        assert!(r.status == 401 || r.status == 404, "{url}: {}", r.status);
        assert!(r.body.len() < 1000, "{url} served content");
    }
    assert_eq!(
        http::get(addr, path).await?.header("www-authenticate"),
        Some("Bearer realm=\"lectern\"")
    );
    let media = media.to_string();
    for bad in [
        format!("bytes={len}-"),
        "bytes=50-10".to_string(),
        "bytes=abc".to_string(),
        "bytes=-0".to_string(),
        "bytes=99999999999999999999999-".to_string(),
    ] {
        let r = http::request(addr, "GET", &media, &[("Range", &bad)]).await?;
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );
        assert_eq!(r.json()?["error"], "bad_range");
    }
    let r = http::request(addr, "GET", &media, &[("Range", "bytes=-10")]).await?;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, whole.body[len - 10..]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {}-{}/{len}", len - 10, len - 1).as_str())
    );
    let r = http::request(addr, "GET", &media, &[("If-None-Match", &etag)]).await?;
    assert_eq!(r.status, 304);
    // A range for another version of the file gets the whole (current) file.
    let r = http::request(
        addr,
        "GET",
        &media,
        &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
    )
    .await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), len);
    Ok(())
}

/// Waits until the recording of the test's session has a file of `kind` in state `ready`, and
/// returns (manifest, that file).
async fn ready_file(t: &TestServer, kind: &str) -> anyhow::Result<(Value, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, lib) = http_json(t, "/api/library").await?;
        if let Some(id) = lib["courses"][0]["sessions"][0]["recordings"][0]["id"].as_str() {
            let (_, m) = http_json(t, &format!("/api/recordings/{id}")).await?;
            let file = m["files"]
                .as_array()
                .and_then(|f| {
                    f.iter()
                        .find(|f| f["kind"] == kind && f["state"] == "ready")
                })
                .cloned();
            if let Some(f) = file {
                return Ok((m, f));
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "no ready {kind} file: {lib}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (stream index, pts in ms, size) of every packet of a file, per ffprobe.
fn packets(path: &Path) -> anyhow::Result<Vec<(u32, i64, usize)>> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "quiet",
            "-show_entries",
            "packet=stream_index,pts_time,size",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let stream = f.next()?.parse().ok()?;
            let pts: f64 = f.next()?.parse().ok()?;
            let size = f.next()?.parse().ok()?;
            Some((stream, (pts * 1000.0).round() as i64, size))
        })
        .collect())
}

/// A publisher whose audio and video RTP clocks start at unrelated values, whose sender reports
/// map them to its capture clock, and whose audio reaches the server 150 ms later than its
/// video: the recording places both by capture time, within 20 ms of each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_and_video_are_in_sync_from_sender_reports() -> anyhow::Result<()> {
    use lectern_testkit::{Publisher, PublisherOptions};
    let t = TestServer::start_with(|a| a.record_all = true).await?;
    let publisher = Publisher::start(
        &t.ws_url(),
        t.session.id,
        &t.session.facilitator_key,
        PublisherOptions {
            sized: true,
            own_sender_reports: true,
            audio_delay: Duration::from_millis(150),
            ..PublisherOptions::default()
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let sent = publisher.frames();
    publisher.stop().await?;
    let (manifest, file) = ready_file(&t, "camera").await?;
    let path = file_path(&t, &manifest, &file);
    let packets = packets(&path)?;
    let find = |video: bool, size: usize| {
        sent.iter()
            .find(|f| f.video == video && f.size == size)
            .copied()
    };
    // The file starts with a video frame; its capture time is the file's origin.
    let (_, first_pts, first_size) = *packets
        .iter()
        .find(|p| p.0 == 0)
        .ok_or_else(|| anyhow::anyhow!("no video in {}", path.display()))?;
    let origin = find(true, first_size)
        .ok_or_else(|| anyhow::anyhow!("first video frame ({first_size} bytes) not sent"))?;
    let origin_ms = origin.capture_unix_us as i64 / 1000 - first_pts;
    let mut offsets: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    for (stream, pts, size) in &packets {
        let video = *stream == 0;
        if let Some(f) = find(video, *size) {
            let expected = f.capture_unix_us as i64 / 1000 - origin_ms;
            offsets[usize::from(!video)].push(pts - expected);
        }
    }
    let [video, audio] = offsets;
    assert!(
        video.len() > 100 && audio.len() > 150,
        "matched {} video, {} audio packets",
        video.len(),
        audio.len()
    );
    let worst = |o: &[i64]| o.iter().map(|x| x.abs()).max().unwrap_or(0);
    println!(
        "A/V sync: {} video frames within {} ms, {} audio packets within {} ms of their capture times",
        video.len(),
        worst(&video),
        audio.len(),
        worst(&audio)
    );
    assert!(worst(&video) <= 5, "video off its capture times: {video:?}");
    assert!(
        worst(&audio) <= 20,
        "audio off the video by up to {} ms: {audio:?}",
        worst(&audio)
    );
    t.stop().await;
    Ok(())
}

/// A publisher losing 5 % of its packets on the way: the file still decodes without errors
/// and holds at least 80 % of what was sent as decoded video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_publisher_still_yields_a_clean_file() -> anyhow::Result<()> {
    use lectern_testkit::{Publisher, PublisherOptions};
    let t = TestServer::start_with(|a| a.record_all = true).await?;
    let media = encoded_media(&t.dir, 320, 240)?;
    let publisher = Publisher::start(
        &t.ws_url(),
        t.session.id,
        &t.session.facilitator_key,
        PublisherOptions {
            encoded: Some(media),
            loss: 0.05,
            ..PublisherOptions::default()
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let sent = publisher.frames();
    let (lost, packets) = (publisher.lost(), publisher.sent_count() as u64);
    publisher.stop().await?;
    assert!(
        lost * 100 >= packets * 3,
        "the path lost only {lost} of {packets} packets"
    );
    let (manifest, file) = ready_file(&t, "camera").await?;
    let path = file_path(&t, &manifest, &file);
    let errors = decode_errors(&path)?;
    assert!(errors.trim().is_empty(), "decode errors: {errors}");
    let probe = ffprobe(&path)?;
    let decoded = streams_of(&probe)[0].1;
    // Frames sent from the file's start on.
    let start_ms =
        manifest["started_at_ms"].as_u64().unwrap_or(0) + file["start_ms"].as_u64().unwrap_or(0);
    let sent_after = sent
        .iter()
        .filter(|f| f.video && f.capture_unix_us / 1000 + 5 >= start_ms)
        .count() as u64;
    println!(
        "5 % loss ({lost} of {packets} packets): {decoded} frames decoded of {sent_after} sent ({:.0} %), {:.2} s",
        decoded as f64 * 100.0 / sent_after.max(1) as f64,
        duration_of(&probe)
    );
    assert!(
        decoded * 10 >= sent_after * 8,
        "only {decoded} of {sent_after} frames decoded"
    );
    t.stop().await;
    Ok(())
}

/// 10 s of real VP8 (30 fps, a keyframe a second) and Opus, made with ffmpeg in `dir`.
fn encoded_media(
    dir: &Path,
    width: u32,
    height: u32,
) -> anyhow::Result<std::sync::Arc<lectern_testkit::EncodedMedia>> {
    use lectern_testkit::encoded;
    std::fs::create_dir_all(dir)?;
    let (ivf, ogg) = (dir.join("camera.ivf"), dir.join("mic.ogg"));
    encoded::vp8_ivf(&ivf, 10.0, width, height, 30)?;
    encoded::opus_ogg(&ogg, 10.0)?;
    Ok(std::sync::Arc::new(lectern_testkit::EncodedMedia {
        video: encoded::read_ivf(&ivf)?
            .frames
            .into_iter()
            .map(|f| (f.keyframe, f.data))
            .collect(),
        fps: 30,
        audio: encoded::read_ogg_opus(&ogg)?,
    }))
}

/// A small tmpfs mounted for one test, unmounted when dropped (needs root, as the suite does).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> anyhow::Result<SmallDisk> {
        std::fs::create_dir_all(path)?;
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()?;
        anyhow::ensure!(
            st.success(),
            "mounting a tmpfs at {} failed: this test needs root (scripts/test.sh runs as root)",
            path.display()
        );
        Ok(SmallDisk(path.to_path_buf()))
    }

    fn grow(&self, size: &str) -> anyhow::Result<()> {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()?;
        anyhow::ensure!(st.success(), "remounting {}", self.0.display());
        Ok(())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The recordings disk fills up: everyone is told the recording failed (the facilitator with
/// the reason), the session goes on, and once there is room again the next start recovers what
/// was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_recording_loudly_and_recovery_saves_it() -> anyhow::Result<()> {
    use lectern_proto::{RecordingState, ServerMsg};
    use lectern_testkit::{Publisher, PublisherOptions, Signal};
    let dir = std::env::temp_dir().join(format!(
        "lectern-e2e-full-{}-{}",
        std::process::id(),
        lectern_testkit::media::now_ns()
    ));
    let media = encoded_media(&dir, 640, 480)?;
    let disk = SmallDisk::mount(&dir.join("recordings"), "512k")?;
    let args = {
        let mut a = lectern::config::ServeArgs::for_tests(dir.clone());
        a.public_ip = Some("127.0.0.1".parse()?);
        a.record_all = true;
        a
    };
    let server = lectern::Server::start(args.clone()).await?;
    let session = server.demo_session().cloned().expect("demo session");
    let ws = format!("ws://{}/ws", server.http_addr);
    let (mut watcher, _) =
        Signal::join(&ws, session.id, &session.participant_key, "Watcher").await?;
    let publisher = Publisher::start(
        &ws,
        session.id,
        &session.facilitator_key,
        PublisherOptions {
            encoded: Some(media),
            ..PublisherOptions::default()
        },
    )
    .await?;
    let failed = watcher
        .wait_for(Duration::from_secs(30), |m| match m {
            ServerMsg::Recording(r) if r.state == RecordingState::Failed => Some(r.clone()),
            _ => None,
        })
        .await?;
    let message = failed.message.clone().unwrap_or_default();
    println!("recording failed: {message}");
    assert!(
        message.contains("No space left"),
        "the reason is given: {failed:?}"
    );
    // The session itself goes on: the publisher is still connected and sending.
    let before = publisher.sent_count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(publisher.sent_count() > before && !publisher.finished());
    publisher.stop().await?;
    // The facilitator's page shows the failure and its reason as an alert.
    let mut b = Browser::launch().await?;
    let fac = b
        .open(&format!(
            "http://{}/facilitate/{}#k={}",
            server.http_addr, session.id, session.facilitator_key
        ))
        .await?;
    b.wait_for(
        &fac,
        "(() => { const m = document.getElementById('recording-message'); return !m.hidden && m.getAttribute('role') === 'alert' && m.textContent.includes('No space left'); })()",
        LONG,
    )
    .await?;
    b.quit().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let rec = loop {
        let rec = server.with_store(|s| s.library())?[0].recording.clone();
        if rec.state != lectern_store::RecordingState::Recording || Instant::now() > deadline {
            break rec;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // What fitted is saved now (recovered) or left for the next start's recovery (failed);
    // either way the reason is kept.
    assert_ne!(rec.state, lectern_store::RecordingState::Recording);
    assert!(rec.error.as_deref().unwrap_or("").contains("No space left"));
    println!("after the failure the recording is {}", rec.state.as_str());
    server.shutdown().await;

    // Room again: the next start recovers the file.
    disk.grow("64m")?;
    let server = lectern::Server::start(args).await?;
    let (rec, files) = server.with_store(|s| {
        let rec = s.library().map(|l| l[0].recording.clone());
        let files = rec.as_ref().map(|r| s.files(r.id)).ok();
        (rec, files)
    });
    let rec = rec?;
    let files = files.expect("files")?;
    assert_eq!(
        rec.state,
        lectern_store::RecordingState::Recovered,
        "{rec:?}"
    );
    assert!(!files.is_empty());
    for f in &files {
        let path = disk.0.join(&rec.dir).join(&f.file_name);
        assert!(f.state.playable(), "{f:?}");
        assert!(path.is_file());
        let errors = decode_errors(&path)?;
        assert!(errors.trim().is_empty(), "{}: {errors}", path.display());
        println!(
            "recovered {} after the disk filled: {:.2} s, {} bytes",
            f.file_name,
            f.duration_ms.unwrap_or(0) as f64 / 1000.0,
            f.bytes
        );
        assert!(f.duration_ms.unwrap_or(0) > 500);
    }
    server.shutdown().await;
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The library and the player in headless Firefox: a recording made by a headless publisher
/// (real VP8 + Opus) is listed, plays, and seeks, with no script errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_and_player_work_in_firefox() -> anyhow::Result<()> {
    use lectern_proto::ClientMsg;
    use lectern_testkit::firefox::Firefox;
    use lectern_testkit::{Publisher, PublisherOptions, Signal};
    let t = TestServer::start_with(|a| a.record_all = true).await?;
    let media = encoded_media(&t.dir, 320, 240)?;
    let publisher = Publisher::start(
        &t.ws_url(),
        t.session.id,
        &t.session.facilitator_key,
        PublisherOptions {
            encoded: Some(media),
            ..PublisherOptions::default()
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    publisher.stop().await?;
    // The facilitator comes back and stops the recording.
    let (mut fac, _) = Signal::join(
        &t.ws_url(),
        t.session.id,
        &t.session.facilitator_key,
        "Facilitator",
    )
    .await?;
    fac.send(&ClientMsg::StopRecording).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let (_, lib) = http_json(&t, "/api/library").await?;
        let rec = &lib["courses"][0]["sessions"][0]["recordings"][0];
        if rec["state"] == "ready" {
            break rec["id"].as_str().unwrap_or("").to_string();
        }
        anyhow::ensure!(Instant::now() < deadline, "not ready: {lib}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mut ff = Firefox::launch().await?;
    let key = &t.session.participant_key;
    let library = ff
        .open(&format!("{}/recordings#k={key}", t.http_url()))
        .await?;
    ff.wait_for(
        &library,
        &format!("!!document.querySelector('a[href^=\"/replay/{id}\"]')"),
        LONG,
    )
    .await?;
    let player = ff
        .open(&format!("{}/replay/{id}?t=1#k={key}", t.http_url()))
        .await?;
    ff.wait_for(
        &player,
        "!!window.lecternReplay && window.lecternReplay.ready.then(() => true)",
        LONG,
    )
    .await?;
    ff.eval(
        &player,
        "Promise.resolve(window.lecternReplay.play()).then(() => true)",
    )
    .await?;
    ff.wait_for(
        &player,
        "(() => { const c = window.lecternReplay.elements.camera; return !c.paused && c.currentTime > 1.5 && c.videoWidth > 0; })()",
        LONG,
    )
    .await?;
    ff.eval(
        &player,
        "Promise.resolve(window.lecternReplay.seek(3500)).then(() => true)",
    )
    .await?;
    ff.wait_for(
        &player,
        "Math.abs(window.lecternReplay.timelineMs() - 3500) < 700",
        LONG,
    )
    .await?;
    let errors: Vec<&String> = ff
        .logs()
        .iter()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    assert!(errors.is_empty(), "script errors in Firefox: {errors:?}");
    ff.quit().await;
    t.stop().await;
    Ok(())
}
