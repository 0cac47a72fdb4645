//! The Matroska/WebM layer against real media and a real player: files written by `MkvWriter`
//! are checked with ffprobe/ffmpeg, cut at many points to imitate crashes and power loss, then
//! recovered and checked again, and mutated thousands of times to make sure the reader never
//! panics.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lectern_record::mkv::{
    ebml, inspect, recover, MediaKind, MkvError, MkvWriter, TrackKind, TrackSpec, VideoCodec,
    WriterOptions,
};
use lectern_testkit::encoded;

const FIVE_SECONDS_MS: u64 = 5000;

#[test]
fn vp8_and_opus_play_and_seek() {
    let dir = TempDir::new("play");
    let path = dir.file("camera.webm");
    let frames = camera_and_microphone(FIVE_SECONDS_MS);
    let video_frames = frames.iter().filter(|f| f.track == 1).count() as u64;
    let audio_frames = frames.iter().filter(|f| f.track == 2).count() as u64;
    let (summary, _) = mux(&path, vec![vp8_track(1), opus_track(2)], &frames);

    assert_eq!(summary.frames, vec![(1, video_frames), (2, audio_frames)]);
    assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
    assert!(
        summary.duration_ms.abs_diff(FIVE_SECONDS_MS) <= 50,
        "{summary:?}"
    );
    // A keyframe a second: one cue per second.
    assert!((5..=6).contains(&summary.cues), "{summary:?}");

    let probe = ffprobe(&path);
    assert_eq!(probe.codecs, ["vp8", "opus"]);
    assert!((probe.duration - 5.0).abs() <= 0.2, "{probe:?}");
    assert_decodes(&path);
    let seek_errors = decode_errors(&path, &["-ss", "3"], &["-frames:v", "1"]);
    assert!(seek_errors.is_empty(), "seeking: {seek_errors}");

    let info = inspect(&path).unwrap();
    assert_eq!(info.doc_type, "webm");
    let codecs: Vec<_> = info.tracks.iter().map(|t| t.codec_id.as_str()).collect();
    assert_eq!(codecs, ["V_VP8", "A_OPUS"]);
    assert_eq!(
        info.tracks[0].kind,
        MediaKind::Video {
            width: 320,
            height: 240
        }
    );
    assert_eq!(
        info.tracks[1].kind,
        MediaKind::Audio {
            sampling_frequency: 48_000.0,
            channels: 2
        }
    );
    assert_eq!(info.tracks[1].codec_private_len, 19);
    assert!(info.has_cues && info.has_seek_head);
    assert_eq!(info.cue_points, summary.cues);
    assert!(info.segment_size_known && info.complete);
    assert_eq!(info.trailing_bytes, 0);
    assert_eq!(info.duration_ms, Some(summary.duration_ms as f64));
    assert_eq!(info.blocks, video_frames + audio_frames);
    assert_eq!(info.blocks_per_track, summary.frames);
    assert_eq!(info.first_block_ms, Some(0));
    assert_eq!(info.last_block_ms, frames.last().map(|f| f.ts_ms));
    assert!(info.clusters >= summary.cues);

    // A finished file is left alone.
    let before = std::fs::read(&path).unwrap();
    let again = recover(&path).unwrap();
    assert!(!again.repaired);
    assert_eq!(again.dropped_bytes, 0);
    assert_eq!(again.summary, summary);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Cuts a finished file at many points (between clusters, inside a cluster header, inside
/// blocks, inside the Cues, with zeros appended), recovers each cut, and has ffmpeg play it.
#[test]
fn crash_cuts_recover_to_playable_files() {
    let dir = TempDir::new("cuts");
    let original = dir.file("original.webm");
    let frames = camera_and_microphone(FIVE_SECONDS_MS);
    let (summary, history) = mux(&original, vec![vp8_track(1), opus_track(2)], &frames);
    let bytes = std::fs::read(&original).unwrap();
    let header_len = history[0].0;
    let clusters_end = history.last().unwrap().0;
    assert!(history.len() >= 6, "{history:?}");
    assert_eq!(history.last().unwrap().1, summary.duration_ms);

    // Cuts inside the header: Tracks incomplete → error; right after Tracks → an empty file.
    for cut in [0, 4, 30, 60, header_len / 2, header_len - 1] {
        let path = dir.file(&format!("header-{cut}.webm"));
        std::fs::write(&path, &bytes[..cut as usize]).unwrap();
        assert!(
            matches!(recover(&path), Err(MkvError::Invalid(_))),
            "cut at {cut} of a {header_len}-byte header"
        );
        assert!(inspect(&path).is_err());
    }
    let path = dir.file("header-only.webm");
    let mut header_and_zeros = bytes[..header_len as usize].to_vec();
    header_and_zeros.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &header_and_zeros).unwrap();
    let recovered = recover(&path).unwrap();
    assert!(recovered.repaired);
    assert_eq!(recovered.dropped_bytes, 4096);
    assert_eq!(recovered.summary.duration_ms, 0);
    assert_eq!(recovered.summary.frames, vec![(1, 0), (2, 0)]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), header_len);
    assert!(inspect(&path).unwrap().complete);

    // Cuts through the media.
    // (cut, zeros appended): a short run of zeros, or one longer than a cluster, so that the
    // cut cluster's size reaches into the zeros.
    const SOME: usize = 8192;
    const MANY: usize = 200_000;
    let mut cuts: Vec<(u64, usize)> = Vec::new();
    for window in history.windows(2) {
        let (start, end) = (window[0].0, window[1].0);
        cuts.push((start, 0)); // clean, between clusters
        cuts.push((start + 7, 0)); // inside the cluster header
        cuts.push((start + (end - start) / 3, 0)); // inside a block, most likely
        cuts.push((start + (end - start) / 2, SOME));
        cuts.push((start + (end - start) * 2 / 3, MANY));
    }
    cuts.push((clusters_end, SOME));
    cuts.push((clusters_end + 10, 0)); // inside the Cues
    cuts.push((bytes.len() as u64 - 1, 0));
    cuts.push((bytes.len() as u64 - 1, MANY));

    let mut checked_control = false;
    for (cut, zeros) in cuts {
        let path = dir.file(&format!("cut-{cut}-{zeros}.webm"));
        let mut data = bytes[..cut as usize].to_vec();
        data.resize(data.len() + zeros, 0);
        std::fs::write(&path, &data).unwrap();
        if !checked_control && !history.iter().any(|h| h.0 == cut) {
            // Control: unrepaired, ffmpeg does notice the cut.
            assert!(!decode_errors(&path, &[], &[]).is_empty(), "cut at {cut}");
            checked_control = true;
        }
        let recovered = recover(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert!(recovered.repaired, "cut at {cut}");
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(recovered.summary.bytes, len);

        // Media kept: at least every cluster wholly before the cut, at most up to the next.
        let kept_at_least = history
            .iter()
            .filter(|h| h.0 <= cut)
            .map(|h| h.1)
            .max()
            .unwrap();
        let kept_at_most = history
            .iter()
            .find(|h| h.0 > cut)
            .map_or(summary.duration_ms, |h| h.1 + 50);
        let duration = recovered.summary.duration_ms;
        assert!(
            duration + 50 >= kept_at_least && duration <= kept_at_most,
            "cut at {cut}: {duration} ms, expected {kept_at_least}..={kept_at_most}"
        );
        assert!(kept_at_most - kept_at_least <= 1100);

        let info = inspect(&path).unwrap();
        assert!(info.complete && info.segment_size_known, "cut at {cut}");
        assert_eq!(info.trailing_bytes, 0);
        assert_eq!(info.duration_ms, Some(duration as f64));
        assert_eq!(info.cue_points, recovered.summary.cues);

        if duration > 0 {
            let probe = ffprobe(&path);
            assert_eq!(probe.codecs, ["vp8", "opus"], "cut at {cut}");
            assert!(
                (probe.duration * 1000.0 - duration as f64).abs() < 1.0,
                "cut at {cut}: {probe:?}"
            );
            assert!(
                (probe.duration * 1000.0 - kept_at_least as f64).abs() <= 1100.0,
                "cut at {cut}: {probe:?}"
            );
            assert_decodes(&path);
        }

        // Idempotent.
        let before = std::fs::read(&path).unwrap();
        let again = recover(&path).unwrap();
        assert!(
            !again.repaired,
            "cut at {cut}: second recovery changed the file"
        );
        assert_eq!(again.summary, recovered.summary);
        assert_eq!(std::fs::read(&path).unwrap(), before, "cut at {cut}");
    }

    // Whole clusters kept intact: cutting at the end of the clusters gives the original file.
    let path = dir.file("whole.webm");
    std::fs::write(&path, &bytes[..clusters_end as usize]).unwrap();
    let recovered = recover(&path).unwrap();
    assert_eq!(recovered.summary, summary);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// A crash during finalize, after the Cues but before the Segment size.
#[test]
fn finalized_but_for_the_segment_size() {
    let dir = TempDir::new("segment-size");
    let path = dir.file("camera.webm");
    let frames = camera_and_microphone(2000);
    let (summary, _) = mux(&path, vec![vp8_track(1), opus_track(2)], &frames);
    let finished = std::fs::read(&path).unwrap();

    // The Segment size field follows the EBML header and the Segment id.
    let ebml_len = 5 + usize::from(finished[4] & 0x7F);
    let size_at = ebml_len + 4;
    assert_eq!(&finished[ebml_len..size_at], &[0x18, 0x53, 0x80, 0x67]);
    let mut unfinished = finished.clone();
    unfinished[size_at..size_at + 8]
        .copy_from_slice(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    std::fs::write(&path, &unfinished).unwrap();
    assert!(!inspect(&path).unwrap().segment_size_known);

    let recovered = recover(&path).unwrap();
    assert!(recovered.repaired);
    assert_eq!(recovered.dropped_bytes, 0);
    assert_eq!(recovered.summary, summary);
    assert_eq!(std::fs::read(&path).unwrap(), finished);

    // Garbage after a finished file is cut off too.
    let mut garbage = finished.clone();
    garbage.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&path, &garbage).unwrap();
    let recovered = recover(&path).unwrap();
    assert!(recovered.repaired);
    assert_eq!(recovered.dropped_bytes, 5000);
    assert_eq!(std::fs::read(&path).unwrap(), finished);
}

/// Damage inside the file (a disk's doing, not a crash's) costs only the damaged cluster's
/// remaining blocks: the rest of the file is kept.
#[test]
fn damage_inside_costs_only_that_cluster() {
    let dir = TempDir::new("damage");
    let original = dir.file("original.webm");
    let frames = camera_and_microphone(FIVE_SECONDS_MS);
    let (summary, history) = mux(&original, vec![vp8_track(1), opus_track(2)], &frames);
    let bytes = std::fs::read(&original).unwrap();
    let total_frames: u64 = summary.frames.iter().map(|f| f.1).sum();

    // (cluster, first damaged block): a block in the middle, or the cluster's Timestamp.
    for (cluster, damaged) in [(2usize, Some(10usize)), (3, None)] {
        let cluster_at = history[cluster].0 as usize;
        let (children, blocks, cluster_end) = cluster_children(&bytes, cluster_at);
        // Damaged: from the bad block to the cluster's end, or the whole cluster.
        let (at, lost, voided) = match damaged {
            Some(block) => (
                blocks[block],
                blocks.len() - block,
                cluster_end - blocks[block],
            ),
            None => (children[0], blocks.len(), cluster_end - cluster_at),
        };
        let mut data = bytes.clone();
        data[at] = 0x00; // not an element id
        let path = dir.file(&format!("damaged-{cluster}.webm"));
        std::fs::write(&path, &data).unwrap();
        assert!(!decode_errors(&path, &[], &[]).is_empty(), "control");

        let recovered = recover(&path).unwrap();
        assert!(recovered.repaired);
        assert_eq!(recovered.dropped_bytes, voided as u64);
        assert_eq!(recovered.summary.duration_ms, summary.duration_ms);
        let kept: u64 = recovered.summary.frames.iter().map(|f| f.1).sum();
        assert_eq!(kept, total_frames - lost as u64, "cluster {cluster}");
        // A cluster voided whole loses its cue point.
        let lost_cues = usize::from(damaged.is_none());
        assert_eq!(recovered.summary.cues, summary.cues - lost_cues);
        assert_eq!(
            recovered.summary.bytes,
            std::fs::metadata(&path).unwrap().len()
        );
        if lost_cues == 0 {
            assert_eq!(recovered.summary.bytes, bytes.len() as u64);
        }
        let info = inspect(&path).unwrap();
        assert!(info.complete);
        assert_eq!(info.blocks, kept);
        assert_decodes(&path);
        let before = std::fs::read(&path).unwrap();
        assert!(!recover(&path).unwrap().repaired);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

/// Offsets of the children of the cluster at `cluster_at`, of its SimpleBlocks, and of its end.
fn cluster_children(bytes: &[u8], cluster_at: usize) -> (Vec<usize>, Vec<usize>, usize) {
    let element = |at: usize| {
        let (element_id, id_len) = ebml::decode_id(&bytes[at..]).expect("element id");
        let size = ebml::decode_size(&bytes[at + id_len..]).expect("element size");
        let data = at + id_len + size.len;
        (
            element_id,
            data,
            data + size.value.expect("known size") as usize,
        )
    };
    let (cluster_id, mut at, end) = element(cluster_at);
    assert_eq!(cluster_id, ebml::id::CLUSTER);
    let (mut children, mut blocks) = (Vec::new(), Vec::new());
    while at < end {
        let (child_id, _, child_end) = element(at);
        children.push(at);
        if child_id == ebml::id::SIMPLE_BLOCK {
            blocks.push(at);
        }
        at = child_end;
    }
    (children, blocks, end)
}

/// A writer dropped without finalize (the process was killed) after regular flushes.
#[test]
fn killed_writer_keeps_flushed_media() {
    let dir = TempDir::new("killed");
    let path = dir.file("camera.webm");
    let frames = camera_and_microphone(3600);
    let written_ms;
    {
        let mut writer = MkvWriter::create(
            &path,
            vec![vp8_track(1), opus_track(2)],
            WriterOptions::default(),
        )
        .unwrap();
        let mut next_flush = 1000;
        for frame in &frames {
            if frame.ts_ms >= next_flush {
                // The recorder flushes every second.
                writer.flush().unwrap();
                assert_eq!(
                    writer.bytes_written(),
                    std::fs::metadata(&path).unwrap().len()
                );
                assert_eq!(writer.buffered_bytes(), 0);
                next_flush += 1000;
            }
            writer
                .write_frame(frame.track, frame.ts_ms, frame.keyframe, &frame.data)
                .unwrap();
        }
        written_ms = writer.duration_ms();
        assert!(writer.buffered_bytes() > 0);
        // Dropped here, as if killed: the open cluster is lost.
    }
    assert!(written_ms >= 3580, "{written_ms}");
    assert!(!inspect(&path).unwrap().segment_size_known);

    let recovered = recover(&path).unwrap();
    assert!(recovered.repaired);
    assert_eq!(recovered.dropped_bytes, 0);
    assert!(
        recovered.summary.duration_ms + 1000 >= written_ms,
        "{} of {written_ms} ms kept",
        recovered.summary.duration_ms
    );
    let probe = ffprobe(&path);
    assert!(
        probe.duration * 1000.0 + 1000.0 >= written_ms as f64,
        "{probe:?}"
    );
    assert_decodes(&path);
    let seek_errors = decode_errors(&path, &["-ss", "2"], &["-frames:v", "1"]);
    assert!(seek_errors.is_empty(), "seeking: {seek_errors}");

    let before = std::fs::read(&path).unwrap();
    assert!(!recover(&path).unwrap().repaired);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn vp9_only_file_plays() {
    let dir = TempDir::new("vp9");
    let ivf_path = dir.file("screen.ivf");
    encoded::vp9_ivf(&ivf_path, 2.0, 320, 240, 30).unwrap();
    let ivf = encoded::read_ivf(&ivf_path).unwrap();
    assert_eq!((ivf.width, ivf.height), (320, 240));
    assert!(ivf.frames[0].keyframe);
    assert_eq!(ivf.frames.iter().filter(|f| f.keyframe).count(), 2);

    let path = dir.file("screen.webm");
    let track = TrackSpec {
        number: 1,
        name: "screen".into(),
        kind: TrackKind::Video {
            codec: VideoCodec::Vp9,
            width: ivf.width,
            height: ivf.height,
            codec_private: None,
        },
    };
    let frames: Vec<Frame> = ivf
        .frames
        .iter()
        .map(|f| Frame {
            track: 1,
            ts_ms: f.pts_ms,
            keyframe: f.keyframe,
            data: f.data.clone(),
        })
        .collect();
    let (summary, _) = mux(&path, vec![track], &frames);
    assert_eq!(summary.cues, 2);
    assert_eq!(summary.frames, vec![(1, ivf.frames.len() as u64)]);

    let probe = ffprobe(&path);
    assert_eq!(probe.codecs, ["vp9"]);
    assert!((probe.duration - 2.0).abs() <= 0.1, "{probe:?}");
    assert_decodes(&path);
    let info = inspect(&path).unwrap();
    assert_eq!(info.doc_type, "webm");
    assert_eq!(info.tracks[0].codec_id, "V_VP9");
}

#[test]
fn h264_and_opus_file_plays() {
    if !encoded::has_encoder("libx264") {
        // Debian's ffmpeg has libx264; a build without it cannot make H.264 to test with.
        eprintln!("NOTE: this ffmpeg has no libx264; the H.264 file test cannot run");
        assert!(
            encoded::has_encoder("libvpx"),
            "ffmpeg without libvpx either"
        );
        return;
    }
    let dir = TempDir::new("h264");
    let stream_path = dir.file("camera.h264");
    encoded::h264_annexb(&stream_path, 2.0, 320, 240, 30).unwrap();
    let units = encoded::annexb_access_units(&std::fs::read(&stream_path).unwrap());
    assert_eq!(units.len(), 60);
    assert!(units[0].keyframe && units[30].keyframe && !units[1].keyframe);
    let sps = units[0]
        .nals
        .iter()
        .find(|n| encoded::nal_type(n) == 7)
        .expect("SPS");
    let pps = units[0]
        .nals
        .iter()
        .find(|n| encoded::nal_type(n) == 8)
        .expect("PPS");
    let avcc = encoded::avcc_record(sps, pps).unwrap();

    let mut frames: Vec<Frame> = units
        .iter()
        .enumerate()
        .map(|(i, unit)| Frame {
            track: 1,
            ts_ms: i as u64 * 1000 / 30,
            keyframe: unit.keyframe,
            data: encoded::avcc_frame(&unit.nals),
        })
        .collect();
    frames.extend(
        camera_and_microphone(2000)
            .into_iter()
            .filter(|f| f.track == 2),
    );
    frames.sort_by_key(|f| (f.ts_ms, f.track));

    let path = dir.file("camera.mkv");
    let video = TrackSpec {
        number: 1,
        name: "camera".into(),
        kind: TrackKind::Video {
            codec: VideoCodec::H264,
            width: 320,
            height: 240,
            codec_private: Some(avcc),
        },
    };
    let (summary, _) = mux(&path, vec![video, opus_track(2)], &frames);
    assert_eq!(summary.cues, 2);

    let probe = ffprobe(&path);
    assert_eq!(probe.codecs, ["h264", "opus"]);
    assert!((probe.duration - 2.0).abs() <= 0.1, "{probe:?}");
    assert_decodes(&path);
    let info = inspect(&path).unwrap();
    assert_eq!(info.doc_type, "matroska");
    assert_eq!(info.tracks[0].codec_id, "V_MPEG4/ISO/AVC");

    // Recovery of a cut H.264 file.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.file("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let recovered = recover(&cut).unwrap();
    assert!(recovered.repaired && recovered.summary.duration_ms >= 500);
    assert_decodes(&cut);
}

#[test]
fn audio_only_file_has_a_cue_per_cluster() {
    let dir = TempDir::new("audio");
    let path = dir.file("microphone.webm");
    let frames: Vec<Frame> = camera_and_microphone(3000)
        .into_iter()
        .filter(|f| f.track == 2)
        .map(|f| Frame { track: 1, ..f })
        .collect();
    let (summary, _) = mux(&path, vec![opus_track(1)], &frames);
    let info = inspect(&path).unwrap();
    assert_eq!(summary.cues, info.clusters);
    assert!(info.clusters >= 3);
    assert_eq!(summary.duration_ms, 3000);
    let probe = ffprobe(&path);
    assert_eq!(probe.codecs, ["opus"]);
    assert_decodes(&path);
}

#[test]
fn writer_rules() {
    let dir = TempDir::new("rules");
    let path = dir.file("rules.webm");
    let options = WriterOptions {
        cluster_max_ms: 500,
        cluster_max_bytes: 2000,
        sync_interval: Duration::from_secs(3600),
    };
    let mut writer = MkvWriter::create(&path, vec![vp8_track(1), opus_track(2)], options).unwrap();
    assert!(matches!(
        MkvWriter::create(&path, vec![vp8_track(1)], WriterOptions::default()),
        Err(MkvError::Io(_))
    ));
    assert!(matches!(
        writer.write_frame(3, 0, true, &[1]),
        Err(MkvError::UnknownTrack(3))
    ));
    assert!(writer.write_frame(1, 0, true, &[]).is_err());

    let header = writer.bytes_written();
    writer.write_frame(1, 100, true, &[0x10; 100]).unwrap();
    writer.write_frame(2, 120, false, &[0xF8; 50]).unwrap();
    // Earlier than the last frame: raised to 120.
    writer.write_frame(1, 110, false, &[0x11; 100]).unwrap();
    assert_eq!(writer.clamped(), 1);
    assert_eq!(writer.bytes_written(), header);
    // Span > 500 ms: new cluster.
    writer.write_frame(2, 700, false, &[0xF8; 50]).unwrap();
    assert!(writer.bytes_written() > header);
    // Size: a frame that does not fit the 2000-byte cluster opens a new one; one larger than
    // a whole cluster gets its own.
    writer.write_frame(1, 720, false, &[0x12; 1950]).unwrap();
    writer.write_frame(1, 740, false, &[0x13; 5000]).unwrap();
    // A keyframe always starts a cluster.
    writer.write_frame(1, 760, true, &[0x14; 10]).unwrap();
    writer.write_frame(1, 780, false, &[0x15; 10]).unwrap();
    let summary = writer.finalize().unwrap();
    assert_eq!(summary.frames, vec![(1, 6), (2, 2)]);
    assert_eq!(summary.cues, 2);

    let info = inspect(&path).unwrap();
    assert_eq!(info.clusters, 5);
    assert_eq!(info.blocks, 8);
    assert_eq!(info.first_block_ms, Some(100));
    assert_eq!(info.last_block_ms, Some(780));
    // Last video frame 780 + its interval 20; last Opus packet (0xF8: 20 ms) ends at 720.
    assert_eq!(summary.duration_ms, 800);
}

/// Mutates a valid file thousands of times (bit flips, cuts, random runs, random vints) and
/// checks that `inspect` and `recover` never panic, stay fast, and that whatever `recover`
/// accepts is readable and stable afterwards.
#[test]
fn mutated_files_never_panic() {
    let dir = TempDir::in_memory("fuzz");
    let base_path = dir.file("base.webm");
    let frames = camera_and_microphone(1500);
    mux(&base_path, vec![vp8_track(1), opus_track(2)], &frames);
    let base = std::fs::read(&base_path).unwrap();
    let path = dir.file("mutated.webm");
    let mut rng = XorShift::new(0x6c65_6374_6572_6e21);
    let started = Instant::now();
    let (mut recovered, mut refused) = (0, 0);

    for iteration in 0..4000 {
        let mut data = base.clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut data, &mut rng);
        }
        std::fs::write(&path, &data).unwrap();
        let one = Instant::now();
        let _ = inspect(&path);
        match recover(&path) {
            Ok(first) => {
                recovered += 1;
                let info = inspect(&path).unwrap_or_else(|e| {
                    panic!("iteration {iteration}: inspect after recover: {e}")
                });
                assert!(info.complete, "iteration {iteration}: {info:?}");
                let after = std::fs::read(&path).unwrap();
                let second = recover(&path).unwrap();
                assert!(!second.repaired, "iteration {iteration}: not stable");
                assert_eq!(second.summary, first.summary, "iteration {iteration}");
                assert_eq!(std::fs::read(&path).unwrap(), after);
            }
            Err(_) => refused += 1,
        }
        assert!(
            one.elapsed() < Duration::from_secs(2),
            "iteration {iteration} took {:?}",
            one.elapsed()
        );
    }
    eprintln!(
        "{recovered} recovered, {refused} refused in {:?}",
        started.elapsed()
    );
    assert!(recovered > 2000, "{recovered} recovered, {refused} refused");
}

fn mutate(data: &mut Vec<u8>, rng: &mut XorShift) {
    if data.is_empty() {
        data.push(rng.next() as u8);
        return;
    }
    // Half the mutations hit the first 2 KiB, where the header and first clusters are.
    let span = if rng.below(2) == 0 {
        data.len().min(2048)
    } else {
        data.len()
    } as u64;
    let at = rng.below(span) as usize;
    match rng.below(6) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data.truncate(at),
        2 => {
            let run = 1 + rng.below(64) as usize;
            for byte in data.iter_mut().skip(at).take(run) {
                *byte = rng.next() as u8;
            }
        }
        3 => {
            // A random vint: any length, any value, sometimes "unknown".
            let len = 1 + rng.below(8) as usize;
            let value = if rng.below(4) == 0 {
                (1u64 << (7 * len)) - 1
            } else {
                rng.next() & ((1u64 << (7 * len)) - 1)
            };
            let marked = value | (1u64 << (7 * len));
            for i in 0..len {
                if let Some(byte) = data.get_mut(at + i) {
                    *byte = (marked >> (8 * (len - 1 - i))) as u8;
                }
            }
        }
        4 => {
            let run = 1 + rng.below(4096) as usize;
            data.extend(std::iter::repeat_n(0, run));
        }
        _ => {
            let run = 1 + rng.below(256) as usize;
            let end = (at + run).min(data.len());
            data.drain(at..end);
        }
    }
}
