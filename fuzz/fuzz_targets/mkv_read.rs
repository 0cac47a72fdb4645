//! Feeds arbitrary bytes to the Matroska reader and recovery: neither may panic, and a file that
//! `recover` accepts must afterwards be complete and stable (a second recovery changes nothing).
//!
//! The API works on paths, so each input goes through a file in the temporary directory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lectern_record::mkv::{inspect, recover};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("lectern-fuzz-{}.mkv", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = inspect(&path);
    if let Ok(first) = recover(&path) {
        let info = inspect(&path).expect("a recovered file is readable");
        assert!(info.complete, "a recovered file is complete: {info:?}");
        let second = recover(&path).expect("a recovered file recovers again");
        assert!(!second.repaired, "a second recovery changed the file");
        assert_eq!(second.summary, first.summary);
    }
});
