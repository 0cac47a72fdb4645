//! Headless lectern clients for tests and load generation, built on webrtc-rs's sans-IO `rtc`
//! core with real ICE, DTLS and SRTP:
//! - [`Signal`]: the WebSocket signalling client;
//! - [`Publisher`]: joins as facilitator and sends synthetic VP8 + Opus RTP;
//! - [`Viewer`]: joins as participant, answers the server's offers and records what arrives;
//! - [`browser`]: a small DevTools-protocol driver for headless Chromium;
//! - [`encoded`]: real VP8/VP9/H.264/Opus made with ffmpeg, and readers for IVF, Ogg and Annex B;
//! - [`BenchViewer`]: a lean viewer for load generation that decrypts RTP itself, generic over
//!   its signalling (lectern's or, through [`janus`], the Janus video room's);
//! - [`load`]: the load generator behind `lectern-load` (one publisher, N viewers, lectern and
//!   Janus side by side).
//!
//! The load generator runs the release binaries:
//!
//! ```text
//! cargo build --release -p lectern -p lectern-testkit
//! target/release/lectern-load --viewers 400 --seconds 20            # lectern, then Janus
//! target/release/lectern-load --target lectern --viewers 200 --json
//! ```
//!
//! Janus comes from Debian's `janus` package; adding its loopback alias needs root (see
//! [`janus`]).
//!
//! Synthetic payloads carry a packet index and the send time (see [`media`]), so a test can
//! match every received packet with the sent one and measure latency on one host clock.

#![forbid(unsafe_code)]

pub mod bench_viewer;
pub mod browser;
pub mod encoded;
mod endpoint;
pub mod firefox;
pub mod hist;
pub mod http;
pub mod janus;
pub mod load;
pub mod media;
mod publisher;
mod signal;
mod viewer;

pub use bench_viewer::{BenchOptions, BenchStats, BenchViewer, LecternSubscribe, ViewerSignal};
pub use publisher::{
    EncodedMedia, LecternPublish, PublishEvent, PublishSignal, Publisher, PublisherOptions,
    SentFrame, SentPacket,
};
pub use signal::Signal;
pub use viewer::{ReceivedPacket, Viewer, ViewerOptions};
