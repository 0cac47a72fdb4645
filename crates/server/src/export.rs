//! Single-file export: a recording's camera, screen and audio laid out together in one MP4 (or
//! WebM), made by ffmpeg as an external tool.
//!
//! The layout: with a screen share, the screen fills the left 960×720 of a 1280×720 picture and
//! the camera sits in the top right corner; without one, the camera fills the picture. Every
//! file is placed at its start on the recording's timeline; the microphone tracks are mixed.
//! Progress comes from ffmpeg's `-progress` output (`out_time_us` against the duration).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use lectern_store::{FileKind, RecordingFile};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The output format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// H.264 + AAC: plays everywhere, including phones.
    Mp4,
    /// VP8 + Opus.
    Webm,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Webm => "webm",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Mp4 => "video/mp4",
            Format::Webm => "video/webm",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "mp4" => Some(Format::Mp4),
            "webm" => Some(Format::Webm),
            _ => None,
        }
    }
}

/// One input of an export: a file and where it starts on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub path: PathBuf,
    pub kind: FileKind,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub has_audio: bool,
    pub has_video: bool,
}

impl Input {
    /// From a catalogue row (files in `dir`).
    pub fn from_file(dir: &Path, f: &RecordingFile) -> Input {
        let tracks: serde_json::Value = serde_json::from_str(&f.tracks).unwrap_or_default();
        let sources: Vec<&str> = tracks
            .as_array()
            .map(|a| a.iter().filter_map(|t| t["source"].as_str()).collect())
            .unwrap_or_default();
        Input {
            path: dir.join(&f.file_name),
            kind: f.kind,
            start_ms: f.start_ms,
            duration_ms: f.duration_ms.unwrap_or(0),
            has_audio: sources.contains(&"microphone"),
            has_video: sources.iter().any(|s| *s == "camera" || *s == "screen"),
        }
    }
}

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const SCREEN_W: u32 = 960;
const CAMERA_SMALL_W: u32 = 320;
const CAMERA_SMALL_H: u32 = 240;

/// The ffmpeg arguments that lay `inputs` out into `output` (pure; unit-tested).
pub fn ffmpeg_args(
    inputs: &[Input],
    duration_ms: i64,
    format: Format,
    output: &Path,
) -> Vec<String> {
    let secs = |ms: i64| format!("{:.3}", ms.max(0) as f64 / 1000.0);
    let total = duration_ms.max(
        inputs
            .iter()
            .map(|i| i.start_ms + i.duration_ms)
            .max()
            .unwrap_or(0),
    );
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-v", "error"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in inputs {
        args.push("-i".into());
        args.push(i.path.display().to_string());
    }
    let has_screen = inputs
        .iter()
        .any(|i| i.kind == FileKind::Screen && i.has_video);
    let mut graph = vec![format!(
        "color=c=black:s={WIDTH}x{HEIGHT}:r=30:d={}[base0]",
        secs(total)
    )];
    let mut base = "base0".to_string();
    let mut audio = Vec::new();
    for (n, i) in inputs.iter().enumerate() {
        let start = secs(i.start_ms);
        if i.has_video {
            let (w, h, x, y) = match (i.kind, has_screen) {
                (FileKind::Screen, _) => (SCREEN_W, HEIGHT, 0, 0),
                (FileKind::Camera, true) => (CAMERA_SMALL_W, CAMERA_SMALL_H, SCREEN_W, 0),
                (FileKind::Camera, false) => (WIDTH, HEIGHT, 0, 0),
            };
            graph.push(format!(
                "[{n}:v]setpts=PTS-STARTPTS+{start}/TB,\
                 scale={w}:{h}:force_original_aspect_ratio=decrease,\
                 pad={w}:{h}:(ow-iw)/2:(oh-ih)/2[v{n}]"
            ));
            let next = format!("base{}", n + 1);
            graph.push(format!(
                "[{base}][v{n}]overlay=x={x}:y={y}:eof_action=pass:repeatlast=0[{next}]"
            ));
            base = next;
        }
        if i.has_audio {
            let delay = i.start_ms.max(0);
            graph.push(format!(
                "[{n}:a]asetpts=PTS-STARTPTS,adelay={delay}:all=1,aresample=48000[a{n}]"
            ));
            audio.push(format!("[a{n}]"));
        }
    }
    graph.push(format!("[{base}]format=yuv420p[vout]"));
    if audio.len() > 1 {
        graph.push(format!(
            "{}amix=inputs={}:duration=longest:dropout_transition=0:normalize=0[aout]",
            audio.join(""),
            audio.len()
        ));
    } else if let Some(a) = audio.first() {
        graph.push(format!("{a}anull[aout]"));
    }
    args.push("-filter_complex".into());
    args.push(graph.join(";"));
    args.extend(["-map".into(), "[vout]".into()]);
    if !audio.is_empty() {
        args.extend(["-map".into(), "[aout]".into()]);
    }
    match format {
        Format::Mp4 => {
            args.extend(
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "23",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "128k",
                    "-movflags",
                    "+faststart",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
        }
        Format::Webm => {
            args.extend(
                [
                    "-c:v",
                    "libvpx",
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-b:v",
                    "1500k",
                    "-c:a",
                    "libopus",
                    "-b:a",
                    "96k",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
        }
    }
    args.extend([
        "-t".into(),
        secs(total),
        "-progress".into(),
        "pipe:1".into(),
        "-nostats".into(),
        output.display().to_string(),
    ]);
    args
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "ffmpeg is needed to export recordings and was not found (install it, e.g. \
         `apt-get install ffmpeg`, or set LECTERN_FFMPEG to its path)"
    )]
    NoFfmpeg,
    #[error("the recording has no playable files")]
    Empty,
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The ffmpeg program: `LECTERN_FFMPEG`, or `ffmpeg` on the PATH.
pub fn ffmpeg_program() -> String {
    std::env::var("LECTERN_FFMPEG").unwrap_or_else(|_| "ffmpeg".to_string())
}

/// Runs an export, calling `progress` with 0.0–1.0 as ffmpeg advances. The output is written
/// to a temporary name and renamed when complete, so a half-made file is never served.
pub async fn run(
    inputs: &[Input],
    duration_ms: i64,
    format: Format,
    output: &Path,
    progress: impl FnMut(f64),
) -> Result<(), ExportError> {
    run_with(
        &ffmpeg_program(),
        inputs,
        duration_ms,
        format,
        output,
        progress,
    )
    .await
}

/// [`run`] with a given ffmpeg program.
pub async fn run_with(
    program: &str,
    inputs: &[Input],
    duration_ms: i64,
    format: Format,
    output: &Path,
    mut progress: impl FnMut(f64),
) -> Result<(), ExportError> {
    if inputs.is_empty() {
        return Err(ExportError::Empty);
    }
    let partial = output.with_extension(format!("partial.{}", format.extension()));
    let total_us = duration_ms.max(1) as f64 * 1000.0;
    let args = ffmpeg_args(inputs, duration_ms, format, &partial);
    let mut child = match tokio::process::Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ExportError::NoFfmpeg),
        Err(e) => return Err(e.into()),
    };
    let stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(s) = stderr {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if text.len() < 4000 {
                    text.push_str(&l);
                    text.push('\n');
                }
            }
        }
        text
    });
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(us) = line.strip_prefix("out_time_us=") {
                if let Ok(us) = us.trim().parse::<f64>() {
                    progress((us / total_us).clamp(0.0, 0.99));
                }
            }
        }
    }
    let status = child.wait().await?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        let msg = errors.trim();
        return Err(ExportError::Ffmpeg(if msg.is_empty() {
            format!("exit status {status}")
        } else {
            msg.lines().last().unwrap_or(msg).to_string()
        }));
    }
    std::fs::rename(&partial, output)?;
    progress(1.0);
    Ok(())
}

/// Where an export job stands.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// One export job, as the page polls it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Job {
    #[serde(skip)]
    pub recording: lectern_proto::RecordingId,
    pub state: JobState,
    pub progress: f64,
    pub error: Option<String>,
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    pub format: Format,
}

/// Export jobs of the web API (kept in memory; finished exports stay on disk next to the
/// recording and are reused).
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
}

impl Jobs {
    pub fn get(&self, id: &str) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Forgets the exports of a recording (it changed): a running one throws its file away.
    pub fn forget(&self, recording: lectern_proto::RecordingId) {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, j| j.recording != recording);
    }

    /// Starts (or joins) the export of a recording; returns the job id.
    pub fn start(
        self: &Arc<Self>,
        recording: lectern_proto::RecordingId,
        inputs: Vec<Input>,
        duration_ms: i64,
        format: Format,
        output: PathBuf,
    ) -> String {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((id, _)) = jobs.iter().find(|(_, j)| {
            j.recording == recording
                && j.format == format
                && (j.state == JobState::Running || (j.state == JobState::Done && j.path.is_file()))
        }) {
            return id.clone();
        }
        let id = {
            let b: [u8; 16] = rand_bytes();
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        };
        let done = output.is_file();
        jobs.insert(
            id.clone(),
            Job {
                recording,
                state: if done {
                    JobState::Done
                } else {
                    JobState::Running
                },
                progress: if done { 1.0 } else { 0.0 },
                error: None,
                path: output.clone(),
                format,
            },
        );
        drop(jobs);
        if !done {
            let this = self.clone();
            let job = id.clone();
            tokio::spawn(async move {
                let p = this.clone();
                let j = job.clone();
                let result = run(&inputs, duration_ms, format, &output, move |f| {
                    if let Some(x) = p.jobs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&j) {
                        x.progress = f;
                    }
                })
                .await;
                let mut jobs = this.jobs.lock().unwrap_or_else(|p| p.into_inner());
                if !jobs.contains_key(&job) {
                    // Forgotten while it ran (the recording changed): its file is stale.
                    let _ = std::fs::remove_file(&output);
                }
                if let Some(x) = jobs.get_mut(&job) {
                    match result {
                        Ok(()) => {
                            x.state = JobState::Done;
                            x.progress = 1.0;
                        }
                        Err(e) => {
                            tracing::warn!("export of recording {}: {e}", x.recording);
                            x.state = JobState::Failed;
                            x.error = Some(e.to_string());
                        }
                    }
                }
            });
        }
        id
    }
}

fn rand_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: FileKind, start_ms: i64, audio: bool) -> Input {
        Input {
            path: PathBuf::from(format!("/r/{}-{start_ms}.webm", kind.as_str())),
            kind,
            start_ms,
            duration_ms: 5000,
            has_audio: audio,
            has_video: true,
        }
    }

    #[test]
    fn camera_and_screen_are_laid_out_on_the_timeline() {
        let args = ffmpeg_args(
            &[
                input(FileKind::Camera, 0, true),
                input(FileKind::Screen, 2500, false),
            ],
            7000,
            Format::Mp4,
            Path::new("/r/out.mp4"),
        );
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(
            graph.contains("[1:v]setpts=PTS-STARTPTS+2.500/TB"),
            "{graph}"
        );
        assert!(
            graph.contains("overlay=x=960:y=0"),
            "camera in the corner: {graph}"
        );
        assert!(
            graph.contains("overlay=x=0:y=0"),
            "screen on the left: {graph}"
        );
        assert!(graph.contains("[0:a]asetpts=PTS-STARTPTS,adelay=0:all=1"));
        assert!(!graph.contains("[1:a]"), "the screen has no audio");
        assert!(args.contains(&"libx264".to_string()));
        assert_eq!(
            args[args.iter().position(|a| a == "-t").unwrap() + 1],
            "7.500"
        );
        assert_eq!(args.last().unwrap(), "/r/out.mp4");
    }

    #[tokio::test]
    async fn a_missing_ffmpeg_is_named() {
        let err = run_with(
            "/nonexistent/ffmpeg",
            &[input(FileKind::Camera, 0, true)],
            5000,
            Format::Mp4,
            Path::new("/tmp/lectern-never-written.mp4"),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ExportError::NoFfmpeg));
        let text = err.to_string();
        assert!(text.contains("ffmpeg is needed") && text.contains("apt-get install ffmpeg"));
        let empty = run_with(
            "ffmpeg",
            &[],
            0,
            Format::Mp4,
            Path::new("/tmp/x.mp4"),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(empty, ExportError::Empty));
    }

    #[test]
    fn camera_alone_fills_the_picture_and_audio_is_mixed() {
        let args = ffmpeg_args(
            &[
                input(FileKind::Camera, 0, true),
                input(FileKind::Camera, 6000, true),
            ],
            11000,
            Format::Webm,
            Path::new("/r/out.webm"),
        );
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("scale=1280:720"), "{graph}");
        assert!(graph.contains("adelay=6000:all=1"));
        assert!(graph.contains("amix=inputs=2"));
        assert!(args.contains(&"libvpx".to_string()));
    }
}
