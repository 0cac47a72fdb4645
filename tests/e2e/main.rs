//! End-to-end tests: a real server on port 0, headless Rust WebRTC clients and headless
//! Chromium. One test binary, so the suite links once.

mod access;
mod admin;
mod bad_input;
mod bench;
mod browser;
mod classroom;
mod firefox;
mod languages;
mod media;
mod pages;
mod recording;
mod tls;
mod web_classroom;
mod web_pages;
mod whip;
