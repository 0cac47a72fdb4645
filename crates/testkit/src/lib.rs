//! Headless lectern clients for tests and load generation, built on webrtc-rs's sans-IO `rtc`
//! core with real ICE, DTLS and SRTP:
//! - [`Signal`]: the WebSocket signalling client;
//! - [`Publisher`]: joins as facilitator and sends synthetic VP8 + Opus RTP;
//! - [`Viewer`]: joins as participant, answers the server's offers and records what arrives;
//! - [`browser`]: a small DevTools-protocol driver for headless Chromium.
//!
//! Synthetic payloads carry a packet index and the send time (see [`media`]), so a test can
//! match every received packet with the sent one and measure latency on one host clock.

#![forbid(unsafe_code)]

pub mod browser;
mod endpoint;
pub mod firefox;
pub mod media;
mod publisher;
mod signal;
mod viewer;

pub use publisher::{Publisher, PublisherOptions, SentPacket};
pub use signal::Signal;
pub use viewer::{ReceivedPacket, Viewer, ViewerOptions};
