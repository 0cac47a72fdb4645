// The replay page: one recording's camera and screen files, played in sync on one timeline,
// with chapters, events, deep links, keyboard shortcuts and a one-file download.
//
// How the players stay together:
// - The timeline clock is the camera element while it is playing a file (its sound is what
//   people follow); elsewhere a wall clock that continues from the last position.
// - The screen element follows the clock: small drift is corrected by nudging its speed (5–10 %),
//   drift over 300 ms by seeking it (a little ahead, by how long its seeks take).
// - Starting, seeking, a new camera file or a camera stall "align" both players: the clock
//   stops, both are paused at the same timeline moment, and both start together once ready.

import { byId, setToggle, showMessage } from './ui.js';
import { authHeaders, keyFragment } from './links.js';
import {
  buildTimeline, clamp, currentEventIndex, follow, formatClock, formatDuration,
  formatTimeParam, nextSegment, parseTimeParam, segmentAt,
} from './timeline.js';
import { formatDate, has, initI18n, mountLanguageSwitch, onLanguageChange, t } from './i18n.js';

await initI18n();
mountLanguageSwitch();


/** @typedef {import('./timeline.js').Segment} Segment */
/** @typedef {import('./timeline.js').Timeline} Timeline */
/** @typedef {'side-by-side' | 'screen-large'} Layout */

/** @type {Layout[]} */
const LAYOUTS = ['side-by-side', 'screen-large'];
const SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2];
const SKIP_MS = 10_000;
/** A paused player further than this from the clock is moved. */
const POSITION_TOLERANCE_MS = 15;
/** How long both players may take to get ready before playback starts without the slow one. */
const ALIGN_DEADLINE_MS = 2_500;
/** Show "Loading…" only when waiting lasts longer than this. */
const BUFFERING_DELAY_MS = 400;
/** Load the next file of a player this long before it starts. */
const PRELOAD_MS = 3_000;
const EXPORT_POLL_MS = 500;
const EXPORT_MAX_FAILURES = 6;

// ----- elements ----------------------------------------------------------------------------------

const el = {
  title: byId('session-title'),
  course: byId('session-course'),
  status: byId('status'),
  notice: byId('notice'),
  noticeHeading: byId('notice-heading'),
  noticeText: byId('notice-text'),
  noticeAction: /** @type {HTMLButtonElement} */ (byId('notice-action')),
  player: byId('player'),
  sidebar: byId('sidebar'),
  shortcuts: byId('shortcuts'),
  stage: byId('stage'),
  camera: /** @type {HTMLVideoElement} */ (byId('camera')),
  screen: /** @type {HTMLVideoElement} */ (byId('screen')),
  cameraPlaceholder: byId('camera-placeholder'),
  screenPlaceholder: byId('screen-placeholder'),
  cameraLabel: byId('camera-label'),
  overlay: byId('stage-overlay'),
  overlayTitle: byId('overlay-title'),
  buffering: byId('buffering'),
  controls: byId('player-controls'),
  seek: /** @type {HTMLInputElement} */ (byId('seek')),
  markers: byId('seek-markers'),
  timeCurrent: byId('time-current'),
  timeDuration: byId('time-duration'),
  play: /** @type {HTMLButtonElement} */ (byId('play')),
  back: /** @type {HTMLButtonElement} */ (byId('back')),
  forward: /** @type {HTMLButtonElement} */ (byId('forward')),
  speed: /** @type {HTMLSelectElement} */ (byId('speed')),
  mute: /** @type {HTMLButtonElement} */ (byId('mute')),
  volume: /** @type {HTMLInputElement} */ (byId('volume')),
  layout: /** @type {HTMLButtonElement} */ (byId('layout-toggle')),
  copyLink: /** @type {HTMLButtonElement} */ (byId('copy-link')),
  copyStatus: byId('copy-status'),
  copyFallback: byId('copy-fallback'),
  copyFallbackInput: /** @type {HTMLInputElement} */ (byId('copy-fallback-input')),
  message: byId('message'),
  chapterList: byId('chapter-list'),
  chaptersEmpty: byId('chapters-empty'),
  eventList: byId('event-list'),
  eventsEmpty: byId('events-empty'),
  exportButton: /** @type {HTMLButtonElement} */ (byId('export')),
  exportRow: byId('export-progress-row'),
  exportProgress: /** @type {HTMLProgressElement} */ (byId('export-progress')),
  exportPercent: byId('export-percent'),
  exportStatus: byId('export-status'),
  exportLink: /** @type {HTMLAnchorElement} */ (byId('export-link')),
};

// ----- one player per kind -----------------------------------------------------------------------

/**
 * One video element and the files of its kind. It knows which file it has loaded and where on
 * the timeline that puts it; the clock below decides what it should do.
 */
class Player {
  /**
   * @param {'camera' | 'screen'} kind
   * @param {HTMLVideoElement} video
   */
  constructor(kind, video) {
    this.kind = kind;
    this.el = video;
    /** @type {Segment[]} */ this.segments = [];
    /** @type {Segment | null} the file loaded in the element */ this.seg = null;
    /** Files that failed to load: treated as absent. @type {Set<string>} */
    this.broken = new Set();
    /** The loaded file has no more to play here (it is shorter than the manifest said). */
    this.cutShort = false;
    /** Its speed is being corrected. */
    this.nudging = false;
    /** How far ahead to seek while the clock runs: what such a seek takes here, learnt. */
    this.seekAheadMs = 120;
    /** @type {number | null} when the running seek started (performance.now), if it teaches */
    this.seekStartedAt = null;
    /** @type {Promise<void> | null} */ this.playing = null;

    video.addEventListener('seeked', () => {
      if (this.seekStartedAt !== null) {
        const took = performance.now() - this.seekStartedAt;
        this.seekAheadMs = clamp(0.5 * this.seekAheadMs + 0.5 * took, 30, 400);
        this.seekStartedAt = null;
      }
      schedule();
    });
    video.addEventListener('ended', () => {
      this.cutShort = true;
      schedule();
    });
    video.addEventListener('error', () => {
      if (!this.seg) return;
      this.broken.add(this.seg.id);
      this.seg = null;
      schedule();
    });
    for (const type of ['loadedmetadata', 'canplay', 'playing', 'pause']) {
      video.addEventListener(type, schedule);
    }
  }

  /** The usable file at `t`. @param {number} t */
  segmentAt(t) {
    return segmentAt(this.segments, t, (s) => !this.broken.has(s.id));
  }

  /** Loads a file (paused). @param {Segment} seg */
  load(seg) {
    if (this.seg === seg) return;
    this.seg = seg;
    this.cutShort = false;
    this.nudging = false;
    this.seekStartedAt = null;
    this.el.pause();
    this.el.src = seg.url; // starts loading
  }

  /** Its file has ended before the timeline says so: nothing to show until a seek. */
  get exhausted() {
    return this.cutShort || this.el.ended;
  }

  /** Timeline position of the element, or null without a file. */
  position() {
    if (!this.seg) return null;
    return this.seg.start + this.el.currentTime * 1000;
  }

  /**
   * Moves the element to timeline time `t` of its file.
   * @param {number} t
   * @param {boolean} [learn]  time this seek, to know how far ahead to seek while playing
   */
  seekTo(t, learn = false) {
    if (!this.seg || this.el.readyState < HTMLMediaElement.HAVE_METADATA) return;
    // A hair past `t`, so that a frame starting exactly at `t` is the one shown.
    const seconds = Math.max(0, (t - this.seg.start) / 1000 + 0.001);
    this.seekStartedAt = learn ? performance.now() : null;
    this.cutShort = false;
    this.el.currentTime = seconds;
  }

  /** Ready to play at once from where it is. */
  ready() {
    if (!this.seg || this.el.seeking) return false;
    const state = this.el.readyState;
    if (state >= HTMLMediaElement.HAVE_FUTURE_DATA) return true;
    // The last frames of a file: there is no "future" data to wait for.
    const pos = this.position() ?? 0;
    return state >= HTMLMediaElement.HAVE_CURRENT_DATA && this.seg.end - pos < 1000;
  }

  /** Playing, with data, not at its end. */
  running() {
    return Boolean(this.seg) && !this.el.paused && !this.el.seeking && !this.exhausted
      && this.el.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA;
  }

  play() {
    // An ended element would start over from its beginning.
    if (!this.el.paused || this.playing || !this.seg || this.exhausted) return;
    const attempt = this.el.play();
    if (!attempt) return; // old browsers: no promise
    const pending = attempt
      .catch((err) => {
        if (err && err.name === 'NotAllowedError') onAutoplayBlocked(this);
      })
      .finally(() => {
        if (this.playing === pending) this.playing = null;
        schedule();
      });
    this.playing = pending;
  }

  pause() {
    if (!this.el.paused) this.el.pause();
  }

  /** @param {number} rate */
  setRate(rate) {
    if (this.el.playbackRate !== rate) this.el.playbackRate = rate;
  }
}

const players = {
  camera: new Player('camera', el.camera),
  screen: new Player('screen', el.screen),
};
const ALL = [players.camera, players.screen];

// ----- state -------------------------------------------------------------------------------------

const recordingId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');
// The viewer's key (`#k=`) stays on the links back to the library.
for (const a of document.querySelectorAll('a[href="/recordings"]')) a.setAttribute('href', `/recordings${keyFragment(location.hash)}`);

/** @type {Timeline} */
let timeline = { duration: 0, camera: [], screen: [], events: [], chapters: [] };
let loaded = false;

/**
 * The timeline clock.
 * `paused`: still at `t`. `aligning`: the user wants playback; waiting for the players to be
 * ready at `t`. `running`: playing; `t` at `at` (performance.now) advances at `rate` unless the
 * camera is stalled.
 */
const clock = {
  /** @type {'paused' | 'aligning' | 'running'} */ phase: 'paused',
  t: 0,
  at: 0,
  rate: 1,
  /** Waiting for the camera while running. */
  blocked: false,
  /** When aligning started (performance.now). */
  alignSince: 0,
  /** When waiting started, for the buffering indicator; null when not waiting. @type {number | null} */
  waitingSince: null,
  /** Reached the end: Play starts over. */
  ended: false,
  /** The camera has led the clock since the last alignment (a `waiting` then is a stall). */
  cameraLed: false,
  /**
   * Where the camera was told to start (ms), until its time is seen moving steadily: the screen
   * waits for that, since a camera with sound takes longer to get going than a muted video
   * (its time jumps a little, then hardly moves while the sound starts).
   * @type {number | null}
   */
  cameraStartPos: null,
  /** The camera's last position and when it was seen (performance.now), while starting. */
  cameraSample: { pos: 0, at: 0, since: 0 },
};

const ui = {
  /** @type {Layout} */ layout: 'side-by-side',
  /** The user is dragging the seek bar. */
  scrubbing: false,
  /** What is shown, to touch the DOM only on change. */
  shownSecond: -1,
  shownEvent: -2,
  shownChapter: -2,
  /** @type {string} */ shownPlay: '',
  /** @type {Array<() => void>} waiting for the players to settle after a seek */
  settleWaiters: /** @type {Array<() => void>} */ ([]),
};

// ----- the clock ---------------------------------------------------------------------------------

/** The timeline time now. */
function now() {
  if (clock.phase !== 'running' || clock.blocked) return clock.t;
  const cam = players.camera;
  if (cameraLeads()) return /** @type {number} */ (cam.position());
  return clock.t + (performance.now() - clock.at) * clock.rate;
}

/** The camera is playing a file that covers the clock: it is the clock. */
function cameraLeads() {
  const cam = players.camera;
  if (!cam.running()) return false;
  const pos = cam.position();
  return pos !== null && cam.seg !== null && pos >= cam.seg.start - 50 && pos < cam.seg.end;
}

/** @param {number} t */
function anchor(t) {
  clock.t = t;
  clock.at = performance.now();
}

/** Stops the clock at `t` and brings both players there; playback starts when both are ready. */
function align(/** @type {number} */ t) {
  anchor(clamp(t, 0, timeline.duration));
  clock.blocked = false;
  clock.alignSince = performance.now();
  clock.phase = 'aligning';
  clock.cameraLed = false;
  for (const p of ALL) {
    p.pause();
    p.nudging = false;
    p.setRate(clock.rate);
  }
  schedule();
}

function play() {
  if (!loaded) return;
  if (clock.ended || clock.t >= timeline.duration - 50) {
    clock.ended = false;
    anchor(0);
  }
  showMessage(el.message, '');
  align(clock.t);
  tick(); // both ready (the usual case once paused): they start right here
  if (clock.phase !== 'aligning') return;
  // Not ready yet: start the camera inside the click anyway, which lets it play with sound
  // later where autoplay is restricted; aligning pauses it again until both are ready.
  const cam = players.camera;
  if (cam.seg && !cam.playing) {
    cam.el.play()?.catch(() => { /* reported by the aligned start */ });
  }
}

function pause() {
  if (!loaded) return;
  anchor(now());
  clock.phase = 'paused';
  clock.blocked = false;
  for (const p of ALL) p.pause();
  tick();
}

function togglePlay() {
  if (clock.phase === 'paused') play();
  else pause();
}

/**
 * Goes to a timeline moment; playback continues there if it was playing.
 * @param {number} ms
 * @returns {Promise<void>} settles once both players show that moment (or after 5 s)
 */
function seek(ms) {
  if (!loaded) return Promise.resolve();
  const t = clamp(Number(ms) || 0, 0, timeline.duration);
  clock.ended = t >= timeline.duration;
  if (clock.phase === 'paused' || clock.ended) {
    if (clock.ended && clock.phase !== 'paused') {
      for (const p of ALL) p.pause();
      clock.phase = 'paused';
    }
    anchor(t);
  } else {
    align(t);
  }
  const settled = new Promise((resolve) => {
    ui.settleWaiters.push(resolve);
    setTimeout(resolve, 5000);
  });
  tick();
  return /** @type {Promise<void>} */ (settled);
}

/** @param {number} delta */
function skip(delta) {
  seek(now() + delta);
}

/** @param {number} rate */
function setSpeed(rate) {
  const t = now();
  clock.rate = rate;
  el.speed.value = String(rate);
  for (const p of ALL) {
    p.nudging = false;
    p.setRate(rate);
  }
  // Re-anchor so the wall clock continues from here at the new rate; the drift check of the
  // next tick re-aligns the screen.
  anchor(t);
  tick();
}

/** @param {number} direction  +1 faster, -1 slower */
function stepSpeed(direction) {
  const i = SPEEDS.indexOf(clock.rate);
  const next = SPEEDS[clamp((i < 0 ? 1 : i) + direction, 0, SPEEDS.length - 1)];
  setSpeed(next);
}

/**
 * The browser refused to play with sound (no click yet): play muted and say so; if even that
 * is refused, stop and ask for a click on Play.
 * @param {Player} player
 */
function onAutoplayBlocked(player) {
  if (clock.phase === 'paused') return;
  if (player.kind === 'camera' && !player.el.muted) {
    player.el.muted = true;
    showMessage(el.message, t('replay.errors.autoplayMuted'), 'warning');
    return; // the next tick plays it again, muted
  }
  pause();
  showMessage(el.message, t('replay.errors.autoplay'), 'warning');
}

// ----- keeping the players in line ---------------------------------------------------------------

let tickQueued = false;

/** Runs `tick` soon (after the current event). */
function schedule() {
  if (tickQueued) return;
  tickQueued = true;
  queueMicrotask(() => {
    tickQueued = false;
    tick();
  });
}

/** Brings the players in line with the clock and updates the controls. Cheap; run often. */
function tick() {
  if (!loaded) return;
  if (clock.phase === 'aligning') tickAligning();
  else if (clock.phase === 'running') tickRunning();
  else tickPaused();
  renderTime();
  if (clock.phase !== 'paused' || clock.waitingSince !== null) requestFrames();
}

function tickPaused() {
  const t = clock.t;
  let settled = true;
  for (const p of ALL) {
    p.pause();
    if (!place(p, t)) continue;
    const pos = /** @type {number} */ (p.position());
    if (p.el.seeking || p.el.readyState < HTMLMediaElement.HAVE_METADATA) {
      settled = false;
    } else if (Math.abs(pos - t) > POSITION_TOLERANCE_MS) {
      p.seekTo(t);
      settled = false;
    } else if (p.el.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) {
      settled = false;
    }
  }
  clock.waitingSince = null;
  if (settled) resolveSettled();
}

function tickAligning() {
  const t = clock.t;
  let allReady = true;
  for (const p of ALL) {
    p.pause();
    if (!place(p, t)) continue;
    const pos = /** @type {number} */ (p.position());
    if (p.el.readyState >= HTMLMediaElement.HAVE_METADATA && !p.el.seeking && Math.abs(pos - t) > POSITION_TOLERANCE_MS) {
      p.seekTo(t);
    }
    if (!p.ready() || p.el.seeking || Math.abs(pos - t) > POSITION_TOLERANCE_MS) allReady = false;
  }
  clock.waitingSince ??= performance.now();
  const late = performance.now() - clock.alignSince > ALIGN_DEADLINE_MS;
  if (!allReady && !late) return;
  if (!allReady) giveUpOnStalledCamera();
  // Start everyone at the same moment.
  resolveSettled();
  clock.phase = 'running';
  clock.blocked = false;
  anchor(t);
  const cam = players.camera;
  const camPlays = Boolean(cam.seg && cam.segmentAt(t) === cam.seg && !cam.exhausted);
  clock.cameraStartPos = camPlays ? cam.position() : null;
  clock.cameraSample = { pos: clock.cameraStartPos ?? 0, at: performance.now(), since: performance.now() };
  for (const p of ALL) {
    if (!p.seg || p.segmentAt(t) !== p.seg || p.exhausted) continue;
    p.setRate(clock.rate);
    // The screen starts once the camera's time moves (see tickRunning).
    if (p === cam || !camPlays) p.play();
  }
}

/**
 * Aligning took too long: if the camera simply has no more data (a file cut short), play on
 * without it; otherwise it keeps buffering and leads again once it plays.
 */
function giveUpOnStalledCamera() {
  const cam = players.camera;
  if (!cam.seg || cam.ready()) return;
  const video = cam.el;
  const idle = video.networkState === HTMLMediaElement.NETWORK_IDLE;
  const pos = video.currentTime;
  let bufferedEnd = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= pos + 0.1) bufferedEnd = Math.max(bufferedEnd, video.buffered.end(i));
  }
  if (idle && bufferedEnd - pos < 0.2 && video.readyState >= HTMLMediaElement.HAVE_METADATA) cam.cutShort = true;
}

function tickRunning() {
  const cam = players.camera;
  let t = now();
  if (t >= timeline.duration) {
    finish();
    return;
  }

  // The camera: lead, or hold the clock while it gets going.
  const camSeg = cam.segmentAt(t);
  clock.blocked = false;
  if (camSeg && !(cam.seg === camSeg && cam.exhausted)) {
    if (cam.seg !== camSeg) {
      // A new camera file starts here: start both players together on it.
      align(t);
      tickAligning();
      return;
    }
    cam.setRate(clock.rate);
    if (cameraLeads()) {
      t = /** @type {number} */ (cam.position());
      anchor(t);
      clock.cameraLed = true;
      if (clock.cameraStartPos !== null && !cameraSteady(t)) {
        clock.blocked = true; // started, but not quite going yet: hold the screen
      } else {
        clock.cameraStartPos = null;
      }
    } else {
      // Not playing yet (or stalled): the clock stands still until it does.
      clock.blocked = true;
      anchor(t);
      const pos = cam.position();
      if (cam.el.paused && pos !== null && Math.abs(pos - t) > 100) cam.seekTo(t);
      cam.play();
    }
  } else {
    clock.cameraStartPos = null;
    cam.pause();
    place(cam, t); // placeholder, preloading
  }

  // The screen follows.
  const scr = players.screen;
  if (!place(scr, t) || scr.exhausted) {
    scr.pause();
  } else if (clock.blocked) {
    scr.pause();
  } else if (!scr.el.seeking && scr.el.readyState >= HTMLMediaElement.HAVE_METADATA) {
    const drift = /** @type {number} */ (scr.position()) - t;
    const fix = follow(drift, scr.el.paused, clock.rate, scr.nudging);
    scr.nudging = fix.nudging;
    scr.setRate(fix.rate);
    if (fix.action === 'hold') {
      scr.pause(); // ahead: the clock catches up
    } else {
      if (fix.action === 'seek') scr.seekTo(t + scr.seekAheadMs * clock.rate, true);
      scr.play();
    }
  }

  if (clock.blocked) clock.waitingSince ??= performance.now();
  else clock.waitingSince = null;
}

/**
 * Whether the starting camera now plays at its speed (or has been given long enough).
 * @param {number} pos  its timeline position
 */
function cameraSteady(pos) {
  const sample = clock.cameraSample;
  const at = performance.now();
  if (at - sample.since > 1000) return true;
  const wall = at - sample.at;
  if (wall < 8) return false;
  const ratio = (pos - sample.pos) / (wall * clock.rate);
  clock.cameraSample = { pos, at, since: sample.since };
  return ratio > 0.7 && pos - (clock.cameraStartPos ?? pos) > 30;
}

/** The end of the recording. */
function finish() {
  anchor(timeline.duration);
  clock.phase = 'paused';
  clock.blocked = false;
  clock.ended = true;
  for (const p of ALL) p.pause();
  renderTime();
}

/**
 * Gives a player the file for `t` (or none); preloads the next one when nothing plays.
 * @param {Player} p
 * @param {number} t
 * @returns {boolean} whether it has a file at `t`
 */
function place(p, t) {
  const seg = p.segmentAt(t);
  if (seg) {
    p.load(seg);
    return true;
  }
  const next = nextSegment(p.segments, t);
  if (next && !p.broken.has(next.id) && next.start - t < PRELOAD_MS && p.seg !== next) {
    p.load(next);
  }
  return false;
}

function resolveSettled() {
  const waiters = ui.settleWaiters.splice(0);
  for (const resolve of waiters) resolve();
}

// ----- rendering ---------------------------------------------------------------------------------

function renderTime() {
  const at = now();
  const duration = timeline.duration;

  // Which tiles show a picture.
  for (const p of ALL) {
    const seg = p.segmentAt(at);
    const on = Boolean(seg && p.seg === seg && !p.exhausted);
    const key = p.kind === 'camera' ? 'camera' : 'screen';
    const value = on ? 'on' : 'off';
    if (el.stage.dataset[key] !== value) el.stage.dataset[key] = value;
    const brokenHere = p.segments.some((s) => p.broken.has(s.id) && s.start <= at && at < s.end);
    const placeholder = p.kind === 'camera' ? el.cameraPlaceholder : el.screenPlaceholder;
    const text = brokenHere
      ? (p.kind === 'camera' ? t('replay.cameraBroken') : t('replay.screenBroken'))
      : (p.kind === 'camera' ? t('replay.cameraPlaceholder') : t('replay.screenPlaceholder'));
    if (placeholder.textContent !== text) placeholder.textContent = text;
  }
  const seg = players.camera.segmentAt(at);
  const camLabel = seg?.publisher ? t('replay.cameraTileNamed', { name: seg.publisher }) : t('replay.cameraTile');
  if (el.cameraLabel.textContent !== camLabel) el.cameraLabel.textContent = camLabel;

  const waiting = clock.waitingSince !== null && performance.now() - clock.waitingSince > BUFFERING_DELAY_MS;
  if (el.buffering.hidden === waiting) el.buffering.hidden = !waiting;

  const playLabel = clock.phase === 'paused'
    ? (clock.ended ? t('replay.controls.replay') : t('replay.controls.play'))
    : t('replay.controls.pause');
  if (ui.shownPlay !== playLabel) {
    ui.shownPlay = playLabel;
    el.play.textContent = playLabel;
    el.play.dataset.playing = String(clock.phase !== 'paused');
  }

  if (!ui.scrubbing) el.seek.value = String(Math.round(at));
  const second = Math.floor(at / 1000);
  if (second !== ui.shownSecond) {
    ui.shownSecond = second;
    const current = formatClock(at, duration);
    const total = formatClock(duration, duration);
    el.timeCurrent.textContent = current;
    el.seek.setAttribute('aria-valuetext', t('replay.controls.seekValue', { time: current, duration: total }));
  }

  renderCurrentEvent(at);
}

/** Highlights the current chapter and event. @param {number} t */
function renderCurrentEvent(t) {
  const chapter = currentEventIndex(timeline.chapters, t);
  if (chapter !== ui.shownChapter) {
    ui.shownChapter = chapter;
    markCurrent(el.chapterList, chapter);
  }
  const event = currentEventIndex(timeline.events, t);
  if (event !== ui.shownEvent) {
    ui.shownEvent = event;
    const item = markCurrent(el.eventList, event);
    // Keep it in view while playing, unless the user is in the list.
    if (item && clock.phase !== 'paused' && !el.eventList.contains(document.activeElement)) {
      scrollIntoList(el.eventList, item);
    }
  }
}

/**
 * @param {HTMLElement} list
 * @param {number} index
 * @returns {HTMLElement | null} the current item
 */
function markCurrent(list, index) {
  /** @type {HTMLElement | null} */
  let current = null;
  list.querySelectorAll('li').forEach((li, i) => {
    const button = li.querySelector('button');
    const on = i === index;
    li.classList.toggle('is-current', on);
    if (on) {
      button?.setAttribute('aria-current', 'true');
      current = li;
    } else {
      button?.removeAttribute('aria-current');
    }
  });
  return current;
}

/** Scrolls a list (not the page) so an item is visible. @param {HTMLElement} list @param {HTMLElement} item */
function scrollIntoList(list, item) {
  const top = item.offsetTop - list.offsetTop;
  const bottom = top + item.offsetHeight;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (bottom > list.scrollTop + list.clientHeight) list.scrollTop = bottom - list.clientHeight;
}

/** The seek bar markers, chapter list and event list. */
function renderEvents() {
  const duration = timeline.duration || 1;
  const markers = timeline.events.map((e) => {
    const mark = document.createElement('span');
    mark.className = 'seek-marker';
    mark.dataset.kind = e.kind === 'chapter' ? 'chapter' : 'event';
    mark.style.left = `${clamp((e.at / duration) * 100, 0, 100)}%`;
    mark.title = `${formatClock(e.at, timeline.duration)} ${e.label}`;
    return mark;
  });
  el.markers.replaceChildren(...markers);

  el.chapterList.replaceChildren(...timeline.chapters.map((c) => jumpItem(c.at, c.label, null)));
  el.chaptersEmpty.hidden = timeline.chapters.length > 0;

  el.eventList.replaceChildren(...timeline.events.map((e) => {
    const kindLabel = has(`replay.events.kinds.${e.kind}`) ? t(`replay.events.kinds.${e.kind}`) : e.kind;
    return jumpItem(e.at, e.label === e.kind ? kindLabel : e.label, e.label === e.kind ? null : kindLabel, e.kind);
  }));
  el.eventsEmpty.hidden = timeline.events.length > 0;
}

/**
 * A list item with a button that seeks to `at`.
 * @param {number} at
 * @param {string} text
 * @param {string | null} kindLabel
 * @param {string} [kind]
 */
function jumpItem(at, text, kindLabel, kind) {
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jump';
  const time = document.createElement('span');
  time.className = 'jump-time';
  time.textContent = formatClock(at, timeline.duration);
  button.append(time);
  if (kindLabel) {
    const badge = document.createElement('span');
    badge.className = 'jump-kind';
    badge.dataset.kind = kind ?? '';
    badge.textContent = kindLabel;
    button.append(badge);
  }
  const label = document.createElement('span');
  label.className = 'jump-text';
  label.textContent = text;
  button.append(label);
  button.addEventListener('click', () => seek(at));
  li.append(button);
  return li;
}

function renderLayout() {
  el.stage.dataset.layout = ui.layout;
  el.layout.textContent = t('replay.controls.layout', { name: t(`replay.controls.layouts.${ui.layout}`) });
}

function toggleLayout() {
  ui.layout = LAYOUTS[(LAYOUTS.indexOf(ui.layout) + 1) % LAYOUTS.length];
  renderLayout();
}

// ----- sound -------------------------------------------------------------------------------------

function toggleMute() {
  el.camera.muted = !el.camera.muted;
  if (!el.camera.muted && el.message.textContent === t('replay.errors.autoplayMuted')) showMessage(el.message, '');
  renderMute();
}

function renderMute() {
  setToggle(el.mute, el.camera.muted, el.camera.muted ? t('replay.controls.unmute') : t('replay.controls.mute'));
}

function setVolume() {
  el.camera.volume = clamp(Number(el.volume.value) / 100, 0, 1);
  el.volume.setAttribute('aria-valuetext', `${el.volume.value} %`);
}

/** iOS fixes media volume at 100 %: offer only the mute button there. */
function volumeSettable() {
  const probe = document.createElement('audio');
  probe.volume = 0.5;
  return probe.volume === 0.5;
}

// ----- links -------------------------------------------------------------------------------------

/** The page's URL for a moment, keeping other parameters. @param {number} ms */
function linkAt(ms) {
  const url = new URL(location.href);
  url.hash = '';
  url.searchParams.set('t', formatTimeParam(ms));
  return url.toString();
}

async function copyLink() {
  const at = now();
  const link = linkAt(at);
  const time = formatClock(at, timeline.duration);
  let copied = false;
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(link);
      copied = true;
    }
  } catch { /* not allowed: show it instead */ }
  if (copied) {
    el.copyFallback.hidden = true;
    el.copyStatus.textContent = t('replay.controls.copied', { time });
    clearTimeout(copyStatusTimer);
    copyStatusTimer = setTimeout(() => { el.copyStatus.textContent = ''; }, 6000);
  } else {
    el.copyFallback.hidden = false;
    el.copyFallbackInput.value = link;
    el.copyFallbackInput.focus();
    el.copyFallbackInput.select();
  }
}
/** @type {ReturnType<typeof setTimeout> | undefined} */
let copyStatusTimer;

// ----- download as one file ----------------------------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let exportTimer;

async function startExport() {
  clearTimeout(exportTimer);
  el.exportButton.disabled = true;
  el.exportLink.hidden = true;
  el.exportLink.removeAttribute('href');
  showExportProgress(0);
  el.exportStatus.textContent = t('replay.export.starting');
  el.exportStatus.dataset.tone = 'info';
  try {
    const response = await fetch(`/api/recordings/${encodeURIComponent(recordingId)}/export`, {
      method: 'POST',
      headers: authHeaders(location.hash, { Accept: 'application/json' }),
    });
    const body = await readJson(response);
    if (!response.ok) {
      const unavailable = (response.status === 404 && body?.error !== 'unknown_recording')
        || response.status === 405 || response.status === 501;
      exportFailed(unavailable ? t('replay.export.unavailable') : t('replay.export.failed', { error: body?.message || `HTTP ${response.status}` }));
      return;
    }
    const statusUrl = typeof body?.status_url === 'string' ? body.status_url
      : typeof body?.job === 'string' ? `/api/exports/${encodeURIComponent(body.job)}` : null;
    if (!statusUrl) {
      exportFailed(t('replay.export.failed', { error: 'no job' }));
      return;
    }
    pollExport(statusUrl, 0);
  } catch (err) {
    exportFailed(t('replay.export.failed', { error: err instanceof Error ? err.message : String(err) }));
  }
}

/**
 * @param {string} statusUrl
 * @param {number} failures  polls in a row that got no answer
 */
async function pollExport(statusUrl, failures) {
  let job;
  try {
    const response = await fetch(statusUrl, { headers: authHeaders(location.hash, { Accept: 'application/json' }), cache: 'no-store' });
    job = await readJson(response);
    if (!response.ok) {
      exportFailed(t('replay.export.failed', { error: job?.message || `HTTP ${response.status}` }));
      return;
    }
  } catch {
    if (failures + 1 >= EXPORT_MAX_FAILURES) {
      exportFailed(t('replay.export.lost'));
      return;
    }
    exportTimer = setTimeout(() => pollExport(statusUrl, failures + 1), EXPORT_POLL_MS * 2);
    return;
  }
  if (job?.state === 'done' && typeof job.url === 'string') {
    showExportProgress(1);
    el.exportLink.href = job.url;
    el.exportLink.hidden = false;
    el.exportStatus.textContent = t('replay.export.done');
    el.exportStatus.dataset.tone = 'ok';
    el.exportButton.disabled = false;
    el.exportButton.textContent = t('replay.export.again');
    return;
  }
  if (job?.state === 'failed') {
    exportFailed(t('replay.export.failed', { error: job.error || '?' }));
    return;
  }
  showExportProgress(typeof job?.progress === 'number' ? job.progress : 0);
  exportTimer = setTimeout(() => pollExport(statusUrl, 0), EXPORT_POLL_MS);
}

/** @param {number} fraction */
function showExportProgress(fraction) {
  const value = clamp(fraction, 0, 1);
  el.exportRow.hidden = false;
  el.exportProgress.value = Math.round(value * 100);
  el.exportPercent.textContent = percent.format(value);
}

const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });

/** @param {string} text */
function exportFailed(text) {
  el.exportRow.hidden = true;
  el.exportStatus.textContent = text;
  el.exportStatus.dataset.tone = 'error';
  el.exportButton.disabled = false;
}

/** @param {Response} response */
async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// ----- keyboard ----------------------------------------------------------------------------------

/** @param {KeyboardEvent} event */
function onKey(event) {
  if (!loaded || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = /** @type {HTMLElement | null} */ (event.target instanceof HTMLElement ? event.target : null);
  if (target && typingIn(target)) return;
  const isSeekBar = target === el.seek;
  const otherRange = target instanceof HTMLInputElement && target.type === 'range' && !isSeekBar;
  const onButtonLike = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement
    || target?.tagName === 'SUMMARY';

  const key = event.key;
  let handled = true;
  switch (key) {
    case ' ':
    case 'Spacebar':
      if (onButtonLike) return; // Space presses the focused button
      togglePlay();
      break;
    case 'k': case 'K':
      togglePlay();
      break;
    case 'j': case 'J':
      skip(-SKIP_MS);
      break;
    case 'l': case 'L':
      skip(SKIP_MS);
      break;
    case 'ArrowLeft':
      if (otherRange) return;
      skip(-SKIP_MS);
      break;
    case 'ArrowRight':
      if (otherRange) return;
      skip(SKIP_MS);
      break;
    case '>':
      stepSpeed(1);
      break;
    case '<':
      stepSpeed(-1);
      break;
    case 'm': case 'M':
      toggleMute();
      break;
    case 'Home':
      if (otherRange) return;
      seek(0);
      break;
    case 'End':
      if (otherRange) return;
      seek(timeline.duration);
      break;
    default:
      if (/^[0-9]$/.test(key) && !event.shiftKey) {
        seek((timeline.duration * Number(key)) / 10);
      } else {
        handled = false;
      }
  }
  if (handled) event.preventDefault();
}

/** Text fields, menus and editable content keep their keys. @param {HTMLElement} target */
function typingIn(target) {
  if (target.isContentEditable) return true;
  if (target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['range', 'button', 'checkbox', 'radio', 'submit', 'reset'].includes(target.type);
  }
  return false;
}

// ----- loading -----------------------------------------------------------------------------------

/** @typedef {'loading' | 'ready' | 'error' | 'in-progress' | 'failed'} ReplayState */

/** @param {ReplayState} state @param {string} status */
function showState(state, status) {
  document.body.dataset.state = state;
  if (el.status.textContent !== status) el.status.textContent = status;
  const playable = state === 'ready';
  el.player.hidden = !playable && state !== 'loading';
  el.sidebar.hidden = !playable;
  el.shortcuts.hidden = !playable;
  el.notice.hidden = playable || state === 'loading';
  el.overlay.hidden = state !== 'loading';
}

/**
 * A card in place of the player.
 * @param {ReplayState} state
 * @param {string} status
 * @param {{heading: string, text: string, action?: string}} notice
 * @param {(() => void) | null} action
 */
function showNotice(state, status, notice, action) {
  showState(state, status);
  el.noticeHeading.textContent = notice.heading;
  el.noticeText.textContent = notice.text;
  el.noticeAction.hidden = !action || !notice.action;
  el.noticeAction.textContent = notice.action ?? '';
  el.noticeAction.onclick = action;
  el.noticeHeading.focus();
}

/**
 * The texts of a notice: `replay.notice.<kind>.{heading, text, action}`.
 * @param {string} kind
 * @param {Record<string, string>} [params]
 */
function notice(kind, params) {
  const base = `replay.notice.${kind}`;
  return {
    heading: t(`${base}.heading`),
    text: t(`${base}.text`, params),
    action: has(`${base}.action`) ? t(`${base}.action`) : undefined,
  };
}

async function loadManifest() {
  showState('loading', t('replay.status.loading'));
  if (!recordingId) {
    showNotice('error', t('replay.status.error'), notice('unknown'), null);
    throw new Error('unknown_recording');
  }
  let response;
  let manifest;
  try {
    response = await fetch(`/api/recordings/${encodeURIComponent(recordingId)}`, { headers: authHeaders(location.hash, { Accept: 'application/json' }) });
    manifest = await readJson(response);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    showNotice('error', t('replay.status.error'), notice('network', { detail }), retry);
    throw err;
  }
  if (!response.ok || !manifest || typeof manifest !== 'object') {
    if (response.status === 404 || manifest?.error === 'unknown_recording') {
      showNotice('error', t('replay.status.error'), notice('unknown'), null);
    } else {
      const detail = manifest?.message || `HTTP ${response.status}`;
      showNotice('error', t('replay.status.error'), notice('network', { detail }), retry);
    }
    throw new Error(manifest?.error || `HTTP ${response.status}`);
  }
  return manifest;
}

function retry() {
  location.reload();
}

/** @param {any} manifest */
function showHeader(manifest) {
  const title = typeof manifest.session_title === 'string' && manifest.session_title ? manifest.session_title : t('replay.heading');
  el.title.textContent = title;
  document.title = t('replay.pageTitle', { title });
  const course = typeof manifest.course_title === 'string' ? manifest.course_title : '';
  el.course.textContent = course;
  el.course.hidden = !course;
}

/** @param {any} manifest */
function readyStatus(manifest) {
  const duration = formatDuration(timeline.duration);
  let text = typeof manifest.started_at_ms === 'number'
    ? t('replay.status.ready', { date: formatDate(manifest.started_at_ms), duration })
    : t('replay.status.readyNoDate', { duration });
  if (manifest.state === 'recovered') text = `${text} ${t('replay.status.recovered')}`;
  return text;
}


/** @type {any} the manifest shown, to redraw its texts in another language */
let lastManifest = null;

/** Redraws the texts this page builds itself, after the language changed. */
function onLanguage() {
  renderLayout();
  renderMute();
  if (!lastManifest) return;
  showHeader(lastManifest);
  if (!loaded) return;
  ui.shownPlay = '';
  ui.shownSecond = -1;
  renderEvents();
  renderTime();
  showState('ready', readyStatus(lastManifest));
}

/** Loads the manifest and sets the players up; rejects when there is nothing to play. */
async function start() {
  document.title = t('replay.pageTitleDefault');
  renderLayout();
  renderMute();
  el.volume.parentElement?.toggleAttribute('hidden', !volumeSettable());
  setVolume();
  el.screen.muted = true;

  const manifest = await loadManifest();
  lastManifest = manifest;
  showHeader(manifest);

  if (manifest.state === 'recording' || manifest.state === 'finalizing') {
    showNotice('in-progress', t('replay.status.inProgress'), notice(manifest.state), retry);
    throw new Error(`recording is ${manifest.state}`);
  }
  if (manifest.state === 'failed') {
    const error = typeof manifest.error === 'string' && manifest.error ? manifest.error : '';
    const text = error ? t('replay.notice.failed.text', { error }) : t('replay.notice.failed.textNoReason');
    showNotice('failed', t('replay.status.failed'), { heading: t('replay.notice.failed.heading'), text }, null);
    throw new Error('recording failed');
  }

  timeline = buildTimeline(manifest);
  if (!timeline.camera.length && !timeline.screen.length) {
    showNotice('failed', t('replay.status.error'), notice('empty'), null);
    throw new Error('nothing to play');
  }
  players.camera.segments = timeline.camera;
  players.screen.segments = timeline.screen;
  el.stage.dataset.hasCamera = String(timeline.camera.length > 0);
  el.stage.dataset.hasScreen = String(timeline.screen.length > 0);

  el.seek.max = String(Math.round(timeline.duration));
  el.timeDuration.textContent = formatClock(timeline.duration, timeline.duration);
  renderEvents();

  loaded = true;
  for (const control of [el.play, el.back, el.forward, el.speed, el.seek, el.copyLink, el.exportButton]) {
    control.disabled = false;
  }
  showState('ready', readyStatus(manifest));

  const startAt = parseTimeParam(new URLSearchParams(location.search).get('t'));
  await seek(startAt ?? 0);
}

// ----- wiring ------------------------------------------------------------------------------------

el.play.addEventListener('click', togglePlay);
el.back.addEventListener('click', () => skip(-SKIP_MS));
el.forward.addEventListener('click', () => skip(SKIP_MS));
el.speed.addEventListener('change', () => setSpeed(Number(el.speed.value) || 1));
el.mute.addEventListener('click', toggleMute);
el.volume.addEventListener('input', setVolume);
el.layout.addEventListener('click', toggleLayout);
el.copyLink.addEventListener('click', copyLink);
el.exportButton.addEventListener('click', startExport);
el.seek.addEventListener('input', () => {
  ui.scrubbing = true;
  seek(Number(el.seek.value));
});
el.seek.addEventListener('change', () => {
  ui.scrubbing = false;
  seek(Number(el.seek.value));
});
el.seek.addEventListener('pointerup', () => { ui.scrubbing = false; });
el.seek.addEventListener('blur', () => { ui.scrubbing = false; });
el.camera.addEventListener('volumechange', renderMute);
// A camera stall while playing: stop the clock and start both again together.
el.camera.addEventListener('waiting', () => {
  const cam = players.camera;
  if (clock.phase === 'running' && clock.cameraLed && cam.seg && !cam.exhausted && !cameraLeads()) {
    align(cam.position() ?? clock.t);
  }
});
document.addEventListener('keydown', onKey);
onLanguageChange(onLanguage);

// Every frame while playing and visible; a slower beat keeps the players in line when frames
// do not run (a hidden tab) or nothing plays.
let frameRequested = false;
function requestFrames() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    tick();
  });
}
setInterval(tick, 250);

const ready = start();
ready.catch(() => { /* the page shows what went wrong */ });

/** For automated tests (and the curious): drive the player from the console. */
window.lecternReplay = {
  ready: ready.then(() => undefined),
  seek,
  play() {
    play();
  },
  pause() {
    pause();
  },
  timelineMs: () => now(),
  elements: { camera: el.camera, screen: el.screen },
};
window.lecternReplay.ready.catch(() => {});
