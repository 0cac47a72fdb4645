//! lectern's recorder: a subscriber of a room that archives what it forwards.
//!
//! ```text
//!  room task ──(bounded queue, never waits)──▶ recorder task
//!                                               per track: depacketize + reorder (depack/)
//!                                               RTP time → session time (clock.rs)
//!                                               per publisher group: one Matroska/WebM file (mkv/)
//!                                                 camera + microphone │ screen
//! ```
//!
//! Files are written as media arrives, one cluster (≤ 1 s) at a time, and synced to disk at
//! least every second; [`mkv::recover`] makes a file left unfinished by a crash playable.

#![forbid(unsafe_code)]

pub mod clock;
pub mod depack;
pub mod mkv;
pub mod recorder;
pub mod task;
