//! Crash recovery: making a file left unfinished playable and seekable.
//!
//! A file can be left in any of these states, all handled the same way:
//! - cut between two clusters (the process died, or the last cluster never reached the disk);
//! - cut inside a cluster or a block (power loss while a cluster was being written);
//! - followed by zeros or garbage (blocks a filesystem allocated but never filled);
//! - finished except for the Segment size (a crash during finalize), or already finished.
//!
//! The scan keeps every complete cluster and, in a cut last cluster, its complete blocks
//! (rewriting that cluster's 8-byte size in place). Everything after is cut off, and the file is
//! finished as [`MkvWriter::finalize`](super::MkvWriter::finalize) does. If finishing would not
//! change a byte, the file is left alone.
//!
//! Damage inside the run of clusters (not something a crash causes, but a disk can) does not
//! cost the rest of the file when the damaged cluster's size still leads to the next cluster:
//! the damaged part is covered by a Void element, in place, and the scan goes on.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::finish::{Layout, Plan};
use super::reader::scan;
use super::{FileSummary, MkvError, Recovered};

/// Repairs a file left unfinished (see the module docs). A file that is already finished is
/// left byte-identical and reported with `repaired: false`. Fails if the file has no usable
/// header (EBML header, Segment with an 8-byte size field, Info with a 1 ms TimestampScale,
/// Tracks); the caller then marks the recording failed.
pub fn recover(path: &Path) -> Result<Recovered, MkvError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let scan = scan(&file)?;
    if scan.timestamp_scale != 1_000_000 {
        return Err(MkvError::invalid(format!(
            "TimestampScale {} (this recovery handles 1 ms)",
            scan.timestamp_scale
        )));
    }
    if scan.segment.size_len != 8 {
        return Err(MkvError::invalid(
            "the Segment size field cannot be rewritten in place",
        ));
    }
    let layout = Layout {
        segment_size_pos: scan.segment.size_pos(),
        segment_data_start: scan.segment.data_start,
        seek_area: scan.seek_area,
        info_pos: scan.info_pos,
        tracks_pos: scan.tracks_pos,
        duration_pos: scan.duration_pos,
    };
    let duration_ms = scan.timeline.end_ms();
    let plan = Plan::new(&layout, &scan.cues, duration_ms, scan.clusters_end);
    let summary = FileSummary {
        duration_ms,
        bytes: plan.end(),
        frames: scan.timeline.frames(),
        cues: plan.cue_points,
    };
    if scan.fixes.is_empty() && plan.is_applied(&mut file)? {
        return Ok(Recovered {
            summary,
            repaired: false,
            dropped_bytes: 0,
        });
    }

    for (pos, bytes) in &scan.fixes {
        file.seek(SeekFrom::Start(*pos))?;
        file.write_all(bytes)?;
    }
    plan.apply(&mut file)?;
    Ok(Recovered {
        summary,
        repaired: true,
        dropped_bytes: scan.file_len.saturating_sub(scan.readable_end) + scan.voided,
    })
}
