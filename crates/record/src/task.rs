//! The recorder's driver: one thread per recording, reading the room's tap with a timeout so
//! files are flushed and synced on time even when no media comes. Disk writes and `fdatasync`
//! block this thread only, never the room or the async runtime.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lectern_proto::RecordingId;
use lectern_sfu::{Control, RoomHandle, TapMsg};

use crate::recorder::{Catalogue, Recorder, RecorderStats, Request};

/// How often the recorder looks after timers when no message comes.
const TICK: Duration = Duration::from_millis(100);

/// What a recorder needs to start.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    pub recording: RecordingId,
    /// The recording's folder (created if needed).
    pub dir: PathBuf,
    /// Where the recording's timeline starts.
    pub started: SystemTime,
    pub started_at: Instant,
}

/// A running recorder thread.
#[derive(Debug)]
pub struct RecorderThread {
    pub recording: RecordingId,
    handle: std::thread::JoinHandle<RecorderStats>,
}

impl RecorderThread {
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the recorder to finalize its files (after its tap sent `Stop` or was dropped).
    pub fn join(self) -> Option<RecorderStats> {
        self.handle.join().ok()
    }
}

/// Creates the recording's folder and starts its recorder on a thread of its own. `room` gets
/// the recorder's keyframe requests and, if it fails, a [`Control::RecorderFailed`].
pub fn spawn(
    config: RecorderConfig,
    tap: Receiver<TapMsg>,
    room: RoomHandle,
    catalogue: Arc<dyn Catalogue>,
) -> std::io::Result<RecorderThread> {
    let mut recorder = Recorder::new(
        config.recording,
        &config.dir,
        config.started,
        config.started_at,
        catalogue,
    )?;
    let recording = config.recording;
    let handle = std::thread::Builder::new()
        .name(format!("recorder-{}", &recording.to_string()[..8]))
        .spawn(move || run(&mut recorder, tap, room))?;
    Ok(RecorderThread { recording, handle })
}

fn run(recorder: &mut Recorder, tap: Receiver<TapMsg>, room: RoomHandle) -> RecorderStats {
    let mut next_tick = Instant::now() + TICK;
    let mut reported_failure = false;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let running = match tap.recv_timeout(wait) {
            Ok(m) => {
                let mut go_on = recorder.handle(Instant::now(), m);
                // Take what is queued before looking at timers again.
                while go_on {
                    match tap.try_recv() {
                        Ok(m) => go_on = recorder.handle(Instant::now(), m),
                        Err(_) => break,
                    }
                }
                go_on
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                // The room is gone without saying stop (it crashed or the server is going
                // down): finish what was recorded.
                recorder.stop(Instant::now());
                false
            }
        };
        let now = Instant::now();
        if running && now >= next_tick {
            recorder.tick(now);
            next_tick = now + TICK;
        }
        while let Some(Request::Keyframe(track)) = recorder.poll_request() {
            let _ = room.try_send(Control::RecorderKeyframe { track });
        }
        if let (Some(e), false) = (recorder.error(), reported_failure) {
            reported_failure = true;
            let _ = room.try_send(Control::RecorderFailed {
                recording: Some(recorder.recording()),
                message: e.to_string(),
            });
        }
        if !running {
            return recorder.stats();
        }
    }
}
