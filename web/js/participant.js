// The participant page: join with a name, then watch the facilitator's camera and screen.

import { LecternClient, NOTICE_VERSION } from './protocol.js';
import { readPageLink } from './links.js';
import { applyStrings, byId, format, pageState, playStream, plural, RecordingIndicator, setToggle, showMessage, showState } from './ui.js';

const STRINGS = {
  pageTitle: '{title} · lectern',
  pageTitleDefault: 'Watch · lectern',
  heading: 'Live session',
  viewerHeading: 'Session video',
  controlsHeading: 'Viewing controls',
  cameraTile: 'Facilitator',
  screenTile: 'Shared screen',
  cameraPlaceholder: 'The facilitator’s camera is off',
  screenPlaceholder: 'No screen is being shared',
  join: {
    heading: 'Join the session',
    intro: 'Enter your name so the facilitator knows who is watching. Sound starts when you join.',
    nameLabel: 'Your name',
    namePlaceholder: 'e.g. Alex Morgan',
    nameHint: 'Optional. Up to 80 characters.',
    button: 'Join',
  },
  consent: {
    label: 'I agree that this session may be recorded, with what I say and show, for the course\'s participants to replay.',
    hint: 'Without this you can watch until recording starts.',
  },
  controls: {
    enableAudio: 'Turn on sound',
    layout: 'Layout: {name}',
    layouts: { 'side-by-side': 'side by side', 'screen-large': 'screen large', 'camera-large': 'camera large' },
    mute: 'Mute',
    unmute: 'Unmute',
    volume: 'Volume',
    fullscreen: 'Full screen',
    exitFullscreen: 'Exit full screen',
  },
  watching: { one: '1 watching', other: '{n} watching' },
  recording: {
    indicator: 'Recording',
    started: 'This session is now being recorded.',
    already: 'This session is being recorded.',
    stopped: 'Recording stopped.',
  },
  connection: {
    idle: 'Not connected',
    connecting: 'Connecting',
    connected: 'Connected',
    reconnecting: 'Reconnecting',
    closed: 'Disconnected',
  },
  state: {
    beforeJoin: 'Enter your name, then press Join.',
    connecting: 'Connecting…',
    waiting: 'Waiting for the facilitator to start.',
    live: 'Live.',
    paused: 'The facilitator is reconnecting…',
    reconnecting: 'Connection lost. Reconnecting…',
    ended: 'This session has ended.',
    error: 'Cannot join this session.',
  },
  overlay: {
    connecting: { title: 'Connecting…', text: 'Joining the session.' },
    waiting: { title: 'Waiting for the facilitator', text: 'The session starts when the facilitator goes live. Keep this page open.' },
    paused: { title: 'The facilitator is reconnecting…', text: 'Stay on this page: the session continues as soon as they are back.' },
    pausedGrace: 'If they are not back within {minutes} minutes, the session ends.',
    reconnecting: { title: 'Reconnecting…', text: 'Your connection to the session was lost. Check your network; we keep trying.' },
    ended: { title: 'This session has ended', text: 'Thank you for joining. You can close this page.' },
    endReasons: {
      ended_by_facilitator: 'The facilitator ended the session. Thank you for joining. You can close this page.',
      facilitator_gone: 'The facilitator did not come back in time. You can close this page.',
    },
    error: { title: 'Cannot join this session' },
  },
  errors: {
    noKey: 'This link is incomplete: it has no key. Open the full link you were given by the organiser.',
    bad_key: 'This link is not valid for this session. Check that you opened the full link you were given.',
    unknown_session: 'There is no such session. Check the link you were given.',
    session_over: 'This session has already ended.',
    unsupported_version: 'This page is out of date. Reload it to get the current version.',
    replaced: 'This connection was replaced by another one.',
    too_large: 'The connection was closed because a message was too large. Reload the page.',
    connect_failed: 'Could not connect to the server.',
    notParticipant: 'This is a facilitator link. Open it on the facilitator page to present.',
    ice_failed: 'The video connection failed. Reconnecting…',
    subscribe_failed: 'The video could not be started. Reload the page if it does not appear.',
    busy: 'The server is busy. Please wait…',
    generic: 'Something went wrong: {message}',
    audioBlocked: 'Your browser blocked the sound. Press “Turn on sound”.',
  },
};

/** @typedef {'side-by-side' | 'screen-large' | 'camera-large'} Layout */
/** @type {Layout[]} */
const LAYOUTS = ['side-by-side', 'screen-large', 'camera-large'];
const NAME_KEY = 'lectern.name';

// ----- elements ----------------------------------------------------------------------------------

const el = {
  title: byId('session-title'),
  course: byId('session-course'),
  count: byId('participant-count'),
  connection: byId('connection'),
  status: byId('status'),
  joinScreen: byId('join-screen'),
  joinForm: /** @type {HTMLFormElement} */ (byId('join-form')),
  name: /** @type {HTMLInputElement} */ (byId('display-name')),
  consent: /** @type {HTMLInputElement} */ (byId('consent')),
  join: /** @type {HTMLButtonElement} */ (byId('join')),
  viewer: byId('viewer'),
  viewerHeading: byId('viewer-heading'),
  stage: byId('stage'),
  camera: /** @type {HTMLVideoElement} */ (byId('camera')),
  screen: /** @type {HTMLVideoElement} */ (byId('screen')),
  audio: /** @type {HTMLAudioElement} */ (byId('audio')),
  overlay: byId('overlay'),
  overlayTitle: byId('overlay-title'),
  overlayText: byId('overlay-text'),
  enableAudio: /** @type {HTMLButtonElement} */ (byId('enable-audio')),
  layout: /** @type {HTMLButtonElement} */ (byId('layout-toggle')),
  mute: /** @type {HTMLButtonElement} */ (byId('mute-audio')),
  volume: /** @type {HTMLInputElement} */ (byId('volume')),
  fullscreen: /** @type {HTMLButtonElement} */ (byId('fullscreen')),
  message: byId('message'),
  recordingIndicator: byId('recording-indicator'),
};

// ----- state -------------------------------------------------------------------------------------

const link = readPageLink(location);
const client = new LecternClient({ session: link.session, key: link.key, role: 'participant' });
window.lecternClient = client;

const ui = {
  joined: false,
  /** @type {Layout} */ layout: 'side-by-side',
  /** @type {string | null} a page-level fatal error, over any session state */
  pageError: null,
  /**
   * What the status line adds about recording: `started`/`already` while recorded, `stopped`
   * after a recording ended (until the status changes for another reason), or nothing.
   * @type {'' | 'started' | 'already' | 'stopped'}
   */
  recordingNote: '',
  /** @type {import('./ui.js').PageState | null} the state the `stopped` note was added in */
  recordingNoteState: null,
};

const recordingIndicator = new RecordingIndicator(el.recordingIndicator);

/**
 * Where each kind of remote media plays, and which track id plays there.
 * @type {Record<'camera' | 'screen' | 'audio', {el: HTMLMediaElement, trackId: string | null}>}
 */
const slots = {
  camera: { el: el.camera, trackId: null },
  screen: { el: el.screen, trackId: null },
  audio: { el: el.audio, trackId: null },
};

// The videos carry no sound (it plays through #audio), so they may always autoplay.
el.camera.muted = true;
el.screen.muted = true;

// ----- rendering ---------------------------------------------------------------------------------

function render() {
  if (!ui.joined && !ui.pageError) return;
  const state = ui.pageError ? 'error' : pageState(client);
  showState(state, statusText(state), el.status);

  const connection = client.connectionState;
  el.connection.dataset.connection = connection;
  el.connection.textContent = STRINGS.connection[connection] ?? connection;

  const watching = [...client.participants.values()].filter((p) => p.role === 'participant').length;
  el.count.hidden = !client.peer || state === 'ended' || state === 'error';
  el.count.textContent = plural(STRINGS.watching, watching);

  renderOverlay(state);
  el.stage.dataset.camera = slots.camera.trackId ? 'on' : 'off';
  el.stage.dataset.screen = slots.screen.trackId ? 'on' : 'off';

  const over = state === 'ended' || state === 'error';
  el.layout.disabled = over;
  el.mute.disabled = over;
  el.volume.disabled = over;
  el.fullscreen.disabled = over;
  if (over && document.fullscreenElement) document.exitFullscreen().catch(() => {});
  if (over) el.enableAudio.hidden = true;
  recordingIndicator.update(client.recording, !over);
}

/** @param {import('./ui.js').PageState} state */
function statusText(state) {
  if (state === 'error') return ui.pageError ?? errorText(client.fatalError);
  const text = STRINGS.state[state];
  if (state === 'ended') return text;
  if (ui.recordingNote === 'stopped' && ui.recordingNoteState !== state) ui.recordingNote = '';
  return ui.recordingNote ? `${text} ${STRINGS.recording[ui.recordingNote]}` : text;
}

/**
 * Announces a change of the recording state in the status line.
 * @param {boolean} joined  the state came with `joined` (no transition seen)
 */
function onRecording(joined) {
  const on = client.recording.state === 'on';
  const wasOn = ui.recordingNote === 'started' || ui.recordingNote === 'already';
  if (on && !wasOn) {
    ui.recordingNote = joined ? 'already' : 'started';
  } else if (!on && wasOn) {
    ui.recordingNote = 'stopped';
    ui.recordingNoteState = ui.pageError ? 'error' : pageState(client);
  }
  render();
}

/** @param {import('./ui.js').PageState} state */
function renderOverlay(state) {
  el.overlay.dataset.kind = state;
  el.overlay.hidden = state === 'live';
  if (state === 'live') return;
  let title = '';
  let text = '';
  if (state === 'error') {
    title = STRINGS.overlay.error.title;
    text = ui.pageError ?? errorText(client.fatalError);
  } else {
    ({ title, text } = STRINGS.overlay[state]);
  }
  if (state === 'paused' && client.graceSeconds) {
    text = `${text} ${format(STRINGS.overlay.pausedGrace, { minutes: Math.max(1, Math.round(client.graceSeconds / 60)) })}`;
  }
  if (state === 'ended' && client.endReason) {
    text = /** @type {Record<string, string>} */ (STRINGS.overlay.endReasons)[client.endReason] ?? text;
  }
  if (el.overlayTitle.textContent !== title) el.overlayTitle.textContent = title;
  if (el.overlayText.textContent !== text) el.overlayText.textContent = text;
}

/** @param {import('./protocol.js').ErrorInfo | null} error */
function errorText(error) {
  if (!error) return STRINGS.state.error;
  const known = /** @type {Record<string, string>} */ (STRINGS.errors)[error.code];
  return known ?? format(STRINGS.errors.generic, { message: error.message || error.code });
}

// ----- media -------------------------------------------------------------------------------------

/** @param {import('./protocol.js').MediaInfo} media @returns {keyof typeof slots} */
function slotFor(media) {
  if (media.kind === 'audio') return 'audio';
  if (media.source === 'screen') return 'screen';
  if (media.source === 'camera') return 'camera';
  return slots.camera.trackId && slots.camera.trackId !== media.trackId ? 'screen' : 'camera';
}

/** @param {import('./protocol.js').MediaInfo} media */
async function showMedia(media) {
  for (const slot of Object.values(slots)) {
    if (slot.trackId === media.trackId) clearSlot(slot);
  }
  if (media.removed || !media.stream) {
    render();
    return;
  }
  const slot = slots[slotFor(media)];
  slot.trackId = media.trackId;
  render();
  const played = await playStream(slot.el, media.stream);
  if (!played && slot.trackId === media.trackId) {
    el.enableAudio.hidden = false;
    showMessage(el.message, STRINGS.errors.audioBlocked, 'warning');
  }
}

/** @param {{el: HTMLMediaElement, trackId: string | null}} slot */
function clearSlot(slot) {
  slot.trackId = null;
  slot.el.srcObject = null;
}

function clearAllMedia() {
  for (const slot of Object.values(slots)) clearSlot(slot);
}

/** Inside the Join click: lets media elements play with sound later (Safari, Chrome). */
function unlockPlayback() {
  for (const media of [el.audio, el.camera, el.screen]) {
    media.play().catch(() => { /* no source yet */ });
  }
}

async function enableAudio() {
  let ok = true;
  for (const slot of Object.values(slots)) {
    if (slot.trackId) ok = (await slot.el.play().then(() => true, () => false)) && ok;
  }
  if (ok) {
    el.enableAudio.hidden = true;
    showMessage(el.message, '');
    el.mute.focus();
  }
}

// ----- controls ----------------------------------------------------------------------------------

function cycleLayout() {
  ui.layout = LAYOUTS[(LAYOUTS.indexOf(ui.layout) + 1) % LAYOUTS.length];
  renderLayout();
}

function renderLayout() {
  el.stage.dataset.layout = ui.layout;
  el.layout.textContent = format(STRINGS.controls.layout, { name: STRINGS.controls.layouts[ui.layout] });
}

function toggleMute() {
  el.audio.muted = !el.audio.muted;
  setToggle(el.mute, el.audio.muted, el.audio.muted ? STRINGS.controls.unmute : STRINGS.controls.mute);
}

function setVolume() {
  el.audio.volume = Math.min(1, Math.max(0, Number(el.volume.value) / 100));
  el.volume.setAttribute('aria-valuetext', `${el.volume.value}%`);
}

/** iOS fixes media volume at 100 %: offer only the mute button there. */
function volumeSettable() {
  const probe = document.createElement('audio');
  probe.volume = 0.5;
  return probe.volume === 0.5;
}

function fullscreenSupported() {
  return Boolean(document.fullscreenEnabled && el.stage.requestFullscreen);
}

async function toggleFullscreen() {
  try {
    if (document.fullscreenElement) await document.exitFullscreen();
    else await el.stage.requestFullscreen();
  } catch { /* refused: nothing to do */ }
}

function renderFullscreen() {
  const on = document.fullscreenElement === el.stage;
  setToggle(el.fullscreen, on, on ? STRINGS.controls.exitFullscreen : STRINGS.controls.fullscreen);
}

// ----- joining -----------------------------------------------------------------------------------

/** @param {SubmitEvent} event */
function onJoin(event) {
  event.preventDefault();
  if (ui.joined) return;
  const name = el.name.value.trim().slice(0, 80);
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch { /* private mode */ }
  unlockPlayback();
  ui.joined = true;
  el.joinScreen.hidden = true;
  el.viewer.hidden = false;
  client.name = name;
  client.consent = el.consent.checked ? NOTICE_VERSION : null;
  client.connect();
  render();
  el.viewerHeading.focus();
}

function showBrokenLink() {
  ui.pageError = STRINGS.errors.noKey;
  el.joinScreen.hidden = true;
  el.viewer.hidden = false;
  render();
}

// ----- client events -----------------------------------------------------------------------------

client.addEventListener('connection', render);

client.addEventListener('joined', () => {
  if (client.role !== 'participant') {
    ui.pageError = STRINGS.errors.notParticipant;
    client.leave();
    render();
    return;
  }
  const info = client.sessionInfo;
  if (info?.title) {
    el.title.textContent = info.title;
    document.title = format(STRINGS.pageTitle, { title: info.title });
  }
  el.course.textContent = info?.course ?? '';
  el.course.hidden = !info?.course;
  onRecording(true);
});

client.addEventListener('recording', () => onRecording(false));

for (const type of ['participant_joined', 'participant_left', 'session_state', 'track_published', 'track_unpublished']) {
  client.addEventListener(type, render);
}

client.addEventListener('media', (event) => {
  showMedia(/** @type {CustomEvent<import('./protocol.js').MediaInfo>} */ (event).detail);
});

client.addEventListener('session_ended', () => {
  clearAllMedia();
  render();
});

client.addEventListener('error', (event) => {
  const error = /** @type {CustomEvent<import('./protocol.js').ErrorInfo>} */ (event).detail;
  if (error.fatal) {
    clearAllMedia();
    showMessage(el.message, '');
  } else if (error.local) {
    showMessage(el.message, errorText(error), 'warning');
  }
  render();
});

// ----- wiring ------------------------------------------------------------------------------------

el.joinForm.addEventListener('submit', onJoin);
el.enableAudio.addEventListener('click', enableAudio);
el.layout.addEventListener('click', cycleLayout);
el.mute.addEventListener('click', toggleMute);
el.volume.addEventListener('input', setVolume);
el.fullscreen.addEventListener('click', toggleFullscreen);
document.addEventListener('fullscreenchange', renderFullscreen);

// Leaving the page: say goodbye, so the facilitator's list is right at once.
window.addEventListener('pagehide', () => {
  if (ui.joined) client.leave();
});
// Back from the back/forward cache: the old connection is gone, start afresh.
window.addEventListener('pageshow', (event) => {
  if (event.persisted && ui.joined) location.reload();
});

function start() {
  applyStrings(document, STRINGS);
  document.title = STRINGS.pageTitleDefault;
  renderLayout();
  el.fullscreen.hidden = !fullscreenSupported();
  el.volume.parentElement?.toggleAttribute('hidden', !volumeSettable());
  try {
    el.name.value = localStorage.getItem(NAME_KEY) ?? '';
  } catch { /* private mode */ }
  if (!link.session || !link.key) {
    showBrokenLink();
    return;
  }
  setVolume();
}

start();
