// The pure logic of the replay player: a recording's timeline (which file plays where), its
// events, time formats and the drift correction rule. No DOM access: testable on its own.
//
// Every time here is in milliseconds on the recording's timeline (0 = when recording started).

/** @typedef {'camera' | 'screen'} FileKind */

/**
 * One media file placed on the timeline: it covers `[start, end)`, and timeline time `t` is
 * its media time `(t - start) / 1000` seconds.
 * @typedef {object} Segment
 * @property {string} id
 * @property {FileKind} kind
 * @property {string} url
 * @property {string} mime
 * @property {string} publisher
 * @property {number} start
 * @property {number} end
 */

/**
 * A timed event of the recording.
 * @typedef {object} TimelineEvent
 * @property {number} index   its position in the sorted list
 * @property {number} at      ms on the timeline
 * @property {string} kind    `chapter`, `chat`, `question`, …
 * @property {Record<string, unknown>} data
 * @property {string} label   what to show: `data.text`, else `data.title`, else the kind
 */

/**
 * @typedef {object} Timeline
 * @property {number} duration   ms
 * @property {Segment[]} camera  sorted by start, never overlapping
 * @property {Segment[]} screen
 * @property {TimelineEvent[]} events    every event, in time order
 * @property {TimelineEvent[]} chapters  the `chapter` events
 */

/** Drift (ms) above which the follower is moved by seeking instead of by changing its speed. */
export const HARD_SEEK_MS = 300;
/** Drift (ms) at which speed correction starts, and the one at which it stops. */
const NUDGE_START_MS = 30;
const NUDGE_STOP_MS = 10;
/** Speed correction bounds, as a fraction of the playback rate. */
const NUDGE_MIN = 0.05;
const NUDGE_MAX = 0.10;

/** @param {number} value @param {number} min @param {number} max */
export function clamp(value, min, max) {
  return Math.min(max, Math.max(min, value));
}

/** @param {unknown} value @returns {value is number} */
function isNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Event kinds kept in the manifest but not shown on the replay timeline: in a class of hundreds
 * they would bury the discussion (votes show in a question's count; joins and leaves in the
 * audit log).
 */
export const HIDDEN_EVENT_KINDS = Object.freeze(['vote', 'join', 'leave']);

/**
 * Places a manifest's files and events on one timeline.
 *
 * Files of one kind may be several (a publisher reconnected); a file whose duration is unknown
 * lasts until the next file of its kind or the end of the recording; where two overlap, the
 * later one wins. Failed files and files without a URL are left out.
 * @param {any} manifest  the JSON of `GET /api/recordings/<id>`
 * @returns {Timeline}
 */
export function buildTimeline(manifest) {
  const files = Array.isArray(manifest?.files) ? manifest.files : [];
  const usable = files.filter((f) => f && (f.kind === 'camera' || f.kind === 'screen')
    && typeof f.url === 'string' && f.url && f.state !== 'failed' && isNumber(f.start_ms));

  const events = (Array.isArray(manifest?.events) ? manifest.events : [])
    .filter((e) => e && isNumber(e.at_ms) && typeof e.kind === 'string' && !HIDDEN_EVENT_KINDS.includes(e.kind))
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at_ms - b.e.at_ms || a.i - b.i)
    .map(({ e }, index) => {
      const data = e.data && typeof e.data === 'object' ? e.data : {};
      return { index, at: Math.max(0, e.at_ms), kind: e.kind, data, label: eventLabel(e.kind, data) };
    });

  // The recording's length: as the manifest says, else as far as anything reaches.
  let duration = isNumber(manifest?.duration_ms) && manifest.duration_ms > 0 ? manifest.duration_ms : 0;
  if (!duration && isNumber(manifest?.stopped_at_ms) && isNumber(manifest?.started_at_ms)) {
    duration = Math.max(0, manifest.stopped_at_ms - manifest.started_at_ms);
  }
  for (const f of usable) {
    if (isNumber(f.duration_ms) && f.duration_ms > 0) duration = Math.max(duration, f.start_ms + f.duration_ms);
    else duration = Math.max(duration, f.start_ms);
  }
  for (const e of events) duration = Math.max(duration, e.at);

  /** @param {FileKind} kind @returns {Segment[]} */
  const place = (kind) => {
    const list = usable
      .filter((f) => f.kind === kind)
      .sort((a, b) => a.start_ms - b.start_ms);
    /** @type {Segment[]} */
    const segments = [];
    list.forEach((f, i) => {
      const start = Math.max(0, f.start_ms);
      const next = list[i + 1];
      let end = isNumber(f.duration_ms) && f.duration_ms > 0 ? f.start_ms + f.duration_ms : (next ? next.start_ms : duration);
      if (next && next.start_ms < end) end = next.start_ms;
      end = Math.min(end, duration);
      if (end <= start) return;
      segments.push({
        id: String(f.id ?? f.url),
        kind,
        url: f.url,
        mime: typeof f.mime === 'string' ? f.mime : '',
        publisher: typeof f.publisher === 'string' ? f.publisher : '',
        start,
        end,
      });
    });
    return segments;
  };

  return {
    duration,
    camera: place('camera'),
    screen: place('screen'),
    events,
    chapters: events.filter((e) => e.kind === 'chapter'),
  };
}

/**
 * What to show for an event: its text, else its title, else its kind.
 * @param {string} kind
 * @param {Record<string, unknown>} data
 */
export function eventLabel(kind, data) {
  for (const key of ['text', 'title']) {
    const value = data?.[key];
    if (typeof value === 'string' && value.trim()) return value.trim();
  }
  return kind;
}

/**
 * The segment playing at `t`, or null.
 * @param {Segment[]} segments
 * @param {number} t
 * @param {(segment: Segment) => boolean} [usable]  a filter (files that failed to load)
 * @returns {Segment | null}
 */
export function segmentAt(segments, t, usable) {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i];
    if (s.start <= t && t < s.end) return usable && !usable(s) ? null : s;
  }
  return null;
}

/**
 * The first segment starting after `t`, or null.
 * @param {Segment[]} segments
 * @param {number} t
 * @returns {Segment | null}
 */
export function nextSegment(segments, t) {
  return segments.find((s) => s.start > t) ?? null;
}

/**
 * The index of the last event at or before `t`; -1 before the first.
 * @param {{at: number}[]} events  sorted by time
 * @param {number} t
 */
export function currentEventIndex(events, t) {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (events[mid].at <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * How a following player corrects its drift from the leader.
 * @param {number} drift     follower position minus leader position, in ms (> 0: ahead)
 * @param {number} rate      the playback rate both should have
 * @param {boolean} nudging  whether the follower's speed is being corrected already
 * @returns {{seek: boolean, rate: number, nudging: boolean}}
 */
export function driftCorrection(drift, rate, nudging) {
  const size = Math.abs(drift);
  if (size > HARD_SEEK_MS) return { seek: true, rate, nudging: false };
  if (size <= (nudging ? NUDGE_STOP_MS : NUDGE_START_MS)) return { seek: false, rate, nudging: false };
  const fraction = clamp(size / 1000, NUDGE_MIN, NUDGE_MAX);
  return { seek: false, rate: rate * (drift > 0 ? 1 - fraction : 1 + fraction), nudging: true };
}

/** A following player this far ahead (ms) is held (paused) until the leader catches up. */
export const HOLD_MS = 100;
/** A paused follower this far behind (ms) is moved by seeking before it plays. */
const PAUSED_BEHIND_MS = 40;
/** A paused follower this far ahead (ms) waits before it plays. */
const PAUSED_AHEAD_MS = 15;

/**
 * What a following player does about its drift from the leader while the clock runs.
 * - over 300 ms either way: seek (a little ahead, by what its seeks take);
 * - paused: seek if behind, wait if ahead, else play;
 * - playing and over 100 ms ahead: hold it (pause) until the leader catches up;
 * - else correct its speed by 5–10 % (see `driftCorrection`).
 * @param {number} drift     follower position minus leader position, in ms (> 0: ahead)
 * @param {boolean} paused   whether the follower is paused
 * @param {number} rate      the playback rate both should have
 * @param {boolean} nudging  whether its speed is being corrected already
 * @returns {{action: 'seek' | 'hold' | 'play', rate: number, nudging: boolean}}
 */
export function follow(drift, paused, rate, nudging) {
  if (Math.abs(drift) > HARD_SEEK_MS) return { action: 'seek', rate, nudging: false };
  if (paused) {
    if (drift < -PAUSED_BEHIND_MS) return { action: 'seek', rate, nudging: false };
    if (drift > PAUSED_AHEAD_MS) return { action: 'hold', rate, nudging: false };
    return { action: 'play', rate, nudging: false };
  }
  if (drift > HOLD_MS) return { action: 'hold', rate, nudging: false };
  const fix = driftCorrection(drift, rate, nudging);
  return { action: 'play', rate: fix.rate, nudging: fix.nudging };
}

/**
 * Parses the `t` parameter of a replay link: `90`, `90.5`, `1:30`, `1:02:03`, `1m30s`, `1h2m`,
 * `45s`. Returns ms, or null if it is none of these.
 * @param {string | null | undefined} value
 * @returns {number | null}
 */
export function parseTimeParam(value) {
  if (typeof value !== 'string') return null;
  const text = value.trim().toLowerCase();
  if (!text) return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const clock = /^(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)$/.exec(text);
  if (clock) {
    const [, h, m, s] = clock;
    if (Number(s) >= 60 || (h !== undefined && Number(m) >= 60)) return null;
    return Math.round(((Number(h ?? 0) * 60 + Number(m)) * 60 + Number(s)) * 1000);
  }
  const units = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(text);
  if (units && (units[1] || units[2] || units[3])) {
    const [, h, m, s] = units;
    return Math.round(((Number(h ?? 0) * 60 + Number(m ?? 0)) * 60 + Number(s ?? 0)) * 1000);
  }
  return null;
}

/**
 * The `t` parameter for a moment, in whole seconds: `45s`, `1m30s`, `1h2m3s`.
 * @param {number} ms
 */
export function formatTimeParam(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  let out = '';
  if (h) out += `${h}h`;
  if (h || m) out += `${m}m`;
  return `${out}${s}s`;
}

/**
 * A player clock: `m:ss`, or `h:mm:ss` when the recording is an hour or longer (pass its
 * duration as `scale` so that every time on the page has the same form).
 * @param {number} ms
 * @param {number} [scale]
 */
export function formatClock(ms, scale = ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  if (h > 0 || scale >= 3_600_000) return `${h}:${String(m).padStart(2, '0')}:${s}`;
  return `${m}:${s}`;
}

/**
 * A duration as `h:mm:ss` (the library's form).
 * @param {number} ms
 */
export function formatDuration(ms) {
  return formatClock(ms, 3_600_000);
}
