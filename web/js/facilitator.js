// The facilitator page: preview camera and microphone, go live, share the screen, end the session.

import { LecternClient } from './protocol.js';
import { readPageLink } from './links.js';
import { applyStrings, byId, format, pageState, playStream, plural, RecordingIndicator, setToggle, showMessage, showState } from './ui.js';
import { DeviceLists, getTrack, mediaErrorKind } from './devices.js';

const STRINGS = {
  pageTitle: '{title} · Facilitate · lectern',
  pageTitleDefault: 'Facilitate · lectern',
  pageTitleAlert: 'Recording failed · {title}',
  heading: 'Facilitator',
  skipToControls: 'Skip to controls',
  previewHeading: 'Preview',
  controlsHeading: 'Broadcast controls',
  cameraTile: 'Your camera',
  screenTile: 'Your screen',
  cameraPlaceholder: 'Camera is off',
  screenPlaceholder: 'You are not sharing your screen',
  controls: {
    goLive: 'Go live',
    goingLive: 'Going live…',
    isLive: 'You are live',
    muteMic: 'Mute mic',
    unmuteMic: 'Unmute',
    cameraOff: 'Camera off',
    cameraOn: 'Camera on',
    shareScreen: 'Share screen',
    stopSharing: 'Stop sharing',
    endSession: 'End session',
    startRecording: 'Start recording',
    startingRecording: 'Starting recording…',
    stopRecording: 'Stop recording',
  },
  recording: {
    indicator: 'Recording',
    started: 'Recording started. Everything you broadcast is now recorded.',
    stopped: 'Recording stopped.',
    failed: 'Recording failed: {message}. Nothing is being recorded. Fix the problem, then press “Start recording” to try again.',
    failedNoReason: 'Recording failed. Nothing is being recorded. Press “Start recording” to try again.',
    incomplete: 'Recording problem: {message}',
    notSent: 'You are offline, so the recording could not be started or stopped. Try again once reconnected.',
  },
  chapter: {
    label: 'New chapter in the recording',
    placeholder: 'Chapter title, e.g. “Risk indicators”',
    add: 'Mark chapter',
    added: 'Chapter “{title}” marked in the recording.',
  },
  confirm: {
    text: 'End this session for everyone? Participants will be disconnected and the session cannot be restarted.',
    yes: 'End for everyone',
    no: 'Keep the session going',
  },
  devices: {
    heading: 'Devices',
    camera: 'Camera',
    microphone: 'Microphone',
    request: 'Allow camera and microphone',
    none: 'None available',
    unnamedCamera: 'Camera {n}',
    unnamedMicrophone: 'Microphone {n}',
  },
  publishing: {
    heading: 'Broadcasting',
    sources: { camera: 'Camera', microphone: 'Microphone', screen: 'Screen' },
    onAir: '{source}: on air',
    muted: '{source}: on air, muted',
    videoOff: '{source}: on air, camera off',
    off: '{source}: not broadcasting',
  },
  participants: {
    heading: 'Participants',
    count: { one: '1 participant', other: '{n} participants' },
    empty: 'Nobody has joined yet.',
  },
  connection: {
    idle: 'Not connected',
    connecting: 'Connecting',
    connected: 'Connected',
    reconnecting: 'Reconnecting',
    closed: 'Disconnected',
  },
  state: {
    connecting: 'Connecting to the session…',
    waiting: 'Not live yet. Check your camera and microphone, then press “Go live”.',
    goingLive: 'Going live…',
    live: 'You are live. Participants can see and hear you.',
    liveElsewhere: 'The session is live.',
    paused: 'Your broadcast is paused. Participants are waiting for you to come back.',
    resuming: 'Resuming your broadcast…',
    pausedPressGoLive: 'Your broadcast is paused. Press “Go live” to resume it; participants are waiting.',
    reconnecting: 'Connection lost. Reconnecting… Participants see that you are reconnecting.',
    ended: 'This session has ended. You can close this page.',
    error: 'Something went wrong.',
  },
  errors: {
    noKey: 'This link is incomplete: it has no facilitator key. Open the full facilitator link printed by the server.',
    bad_key: 'This facilitator link is not valid for this session. Check that you opened the full link printed by the server.',
    unknown_session: 'There is no such session. Check the link.',
    session_over: 'This session has already ended.',
    unsupported_version: 'This page is out of date. Reload it to get the current version.',
    replaced: 'The session was opened as facilitator somewhere else (another tab or device), so this page was disconnected.',
    too_large: 'The connection was closed because a message was too large. Reload the page.',
    connect_failed: 'Could not connect to the server.',
    notFacilitator: 'This is a participant link. To watch, open it at the watch page instead.',
    unsupported_codec: 'Your browser offered no video or audio format the server can relay. Try a current Chrome, Firefox or Safari.',
    bad_sdp: 'The server could not use your media settings. Try again, or reload the page.',
    bad_track: 'The server refused the broadcast setup. Try again, or reload the page.',
    busy: 'The server is busy. Retrying in a moment…',
    internal: 'The server ran into a problem. Try again.',
    ice_failed: 'The media connection to the server failed. Reconnecting…',
    publish_failed: 'Could not start broadcasting. Try again.',
    generic: 'Something went wrong: {message}',
    endNotSent: 'You are offline, so the session could not be ended. Try again once reconnected.',
  },
  media: {
    insecure: 'Camera and microphone need a secure connection (https). Ask the organiser for an https link.',
    unsupported: 'This browser cannot capture a camera or microphone.',
    denied: 'Camera and microphone access was blocked. Allow it in your browser’s site settings, then press “Allow camera and microphone”.',
    notFound: 'No camera or microphone was found. Connect one, then press “Allow camera and microphone”.',
    busy: 'Your camera or microphone is in use by another application. Close it, then press “Allow camera and microphone”.',
    failed: 'Could not start your camera or microphone.',
    switchFailed: 'Could not switch to that device. It may be in use by another application.',
    cameraLost: 'Your camera stopped. Choose another camera in Devices.',
    microphoneLost: 'Your microphone stopped. Choose another microphone in Devices.',
    nothingToPublish: 'There is nothing to broadcast yet: allow your camera or microphone, or share your screen.',
    screenUnsupported: 'Screen sharing is not supported in this browser.',
    screenFailed: 'Could not share your screen.',
    resumed: 'Welcome back: your broadcast has resumed.',
  },
};

/** @typedef {import('./protocol.js').Source} Source */

// ----- elements ----------------------------------------------------------------------------------

const el = {
  title: byId('session-title'),
  course: byId('session-course'),
  connection: byId('connection'),
  status: byId('status'),
  stage: byId('stage'),
  cameraPreview: /** @type {HTMLVideoElement} */ (byId('camera-preview')),
  screenPreview: /** @type {HTMLVideoElement} */ (byId('screen-preview')),
  goLive: /** @type {HTMLButtonElement} */ (byId('go-live')),
  muteMic: /** @type {HTMLButtonElement} */ (byId('mute-mic')),
  toggleCamera: /** @type {HTMLButtonElement} */ (byId('toggle-camera')),
  shareScreen: /** @type {HTMLButtonElement} */ (byId('share-screen')),
  recordToggle: /** @type {HTMLButtonElement} */ (byId('record-toggle')),
  recordingIndicator: byId('recording-indicator'),
  recordingMessage: byId('recording-message'),
  recordingStatus: byId('recording-status'),
  chapterForm: /** @type {HTMLFormElement} */ (byId('chapter-form')),
  chapterTitle: /** @type {HTMLInputElement} */ (byId('chapter-title')),
  endSession: /** @type {HTMLButtonElement} */ (byId('end-session')),
  endConfirm: byId('end-confirm'),
  endConfirmYes: /** @type {HTMLButtonElement} */ (byId('end-session-confirm')),
  endConfirmNo: /** @type {HTMLButtonElement} */ (byId('end-session-cancel')),
  message: byId('message'),
  cameraSelect: /** @type {HTMLSelectElement} */ (byId('camera-select')),
  micSelect: /** @type {HTMLSelectElement} */ (byId('mic-select')),
  requestMedia: /** @type {HTMLButtonElement} */ (byId('request-media')),
  badges: {
    camera: byId('badge-camera'),
    microphone: byId('badge-microphone'),
    screen: byId('badge-screen'),
  },
  participantCount: byId('participant-count'),
  participantList: byId('participant-list'),
  participantsEmpty: byId('participants-empty'),
};

// ----- state -------------------------------------------------------------------------------------

const link = readPageLink(location);
const client = new LecternClient({ session: link.session, key: link.key, role: 'facilitator' });
window.lecternClient = client;

/** Local tracks: what the preview shows and what is (or will be) broadcast. */
const local = {
  /** @type {MediaStreamTrack | null} */ camera: null,
  /** @type {MediaStreamTrack | null} */ microphone: null,
  /** @type {MediaStreamTrack | null} */ screen: null,
};

const ui = {
  /** Go live was pressed and accepted: changes are broadcast right away. */
  live: false,
  goingLive: false,
  /** The session was paused when we joined (a page reload): go live again once media is ready. */
  resume: false,
  micMuted: false,
  cameraOff: false,
  mediaReady: false,
  ended: false,
  /** @type {string | null} a page-level fatal error, over any session state */
  pageError: null,
  /** A start or stop was sent and the server has not answered with a `recording` frame yet. */
  recordingPending: false,
  /** @type {string} why the last recording failed; shown until the next one starts */
  recordingAlert: '',
  /** @type {import('./protocol.js').RecordingState} the state last shown */
  recordingShown: 'off',
  /** The page title without alerts. */
  title: STRINGS.pageTitleDefault,
};

const recordingIndicator = new RecordingIndicator(el.recordingIndicator);
/** @type {ReturnType<typeof setTimeout> | undefined} */
let recordingPendingTimer;
/** How long a start or stop may go unanswered before the button is enabled again. */
const RECORDING_PENDING_MS = 10_000;

const devices = new DeviceLists(
  { camera: el.cameraSelect, microphone: el.micSelect },
  { none: STRINGS.devices.none, camera: STRINGS.devices.unnamedCamera, microphone: STRINGS.devices.unnamedMicrophone },
  (source, deviceId) => switchDevice(source, deviceId),
);

// ----- rendering ---------------------------------------------------------------------------------

function render() {
  const state = ui.pageError ? 'error' : pageState(client);
  showState(state, statusText(state), el.status);

  const connection = client.connectionState;
  el.connection.dataset.connection = connection;
  el.connection.textContent = STRINGS.connection[connection] ?? connection;

  const over = state === 'ended' || state === 'error';
  const hasMedia = Boolean(local.camera || local.microphone || local.screen);

  el.goLive.disabled = over || ui.live || ui.goingLive || !hasMedia;
  el.goLive.textContent = ui.live ? STRINGS.controls.isLive : ui.goingLive ? STRINGS.controls.goingLive : STRINGS.controls.goLive;
  el.goLive.dataset.live = String(ui.live);

  el.muteMic.disabled = over || !local.microphone;
  setToggle(el.muteMic, ui.micMuted, ui.micMuted ? STRINGS.controls.unmuteMic : STRINGS.controls.muteMic);
  el.toggleCamera.disabled = over || !local.camera;
  setToggle(el.toggleCamera, ui.cameraOff, ui.cameraOff ? STRINGS.controls.cameraOn : STRINGS.controls.cameraOff);
  el.shareScreen.disabled = over || !canShareScreen();
  setToggle(el.shareScreen, Boolean(local.screen), local.screen ? STRINGS.controls.stopSharing : STRINGS.controls.shareScreen);
  el.endSession.disabled = over || client.role !== 'facilitator';
  if (over) showConfirm(false);

  renderRecording(over);

  devices.setEnabled(!over);

  el.stage.dataset.camera = local.camera && !ui.cameraOff ? 'on' : 'off';
  el.stage.dataset.screen = local.screen ? 'on' : 'off';

  renderBadges();
  renderParticipants();
}

/** The record button, the top bar indicator and the failure alert. @param {boolean} over */
function renderRecording(over) {
  const rec = client.recording;
  const connected = client.connectionState === 'connected' && client.role === 'facilitator';
  const active = rec.state === 'on' || rec.state === 'starting';
  const label = rec.state === 'starting'
    ? STRINGS.controls.startingRecording
    : rec.state === 'on' ? STRINGS.controls.stopRecording : STRINGS.controls.startRecording;
  setToggle(el.recordToggle, active, label);
  el.recordToggle.disabled = over || !connected || rec.state === 'starting' || ui.recordingPending;
  el.recordToggle.dataset.recording = rec.state;
  el.chapterForm.hidden = over || !connected || rec.state !== 'on';
  recordingIndicator.update(rec, !over);
  const alert = over ? '' : ui.recordingAlert;
  showMessage(el.recordingMessage, alert, 'error');
  // Also in the tab's title, for a facilitator looking at another tab (their slides).
  const title = alert ? format(STRINGS.pageTitleAlert, { title: ui.title }) : ui.title;
  if (document.title !== title) document.title = title;
}

/** @param {import('./ui.js').PageState} state */
function statusText(state) {
  switch (state) {
    case 'error': return ui.pageError ?? errorText(client.fatalError);
    case 'waiting': return ui.goingLive ? STRINGS.state.goingLive : STRINGS.state.waiting;
    case 'live':
      if (ui.live) return STRINGS.state.live;
      return ui.resume || ui.goingLive ? STRINGS.state.resuming : STRINGS.state.liveElsewhere;
    case 'paused':
      if (ui.live || ui.goingLive) return STRINGS.state.resuming;
      return ui.resume && !ui.mediaReady ? STRINGS.state.paused : STRINGS.state.pausedPressGoLive;
    default: return STRINGS.state[state];
  }
}

function renderBadges() {
  const published = new Set(client.publishedSources);
  for (const source of /** @type {Source[]} */ (['camera', 'microphone', 'screen'])) {
    const badge = el.badges[source];
    const name = STRINGS.publishing.sources[source];
    let key = 'off';
    if (published.has(source)) {
      key = 'onAir';
      if (source === 'microphone' && ui.micMuted) key = 'muted';
      if (source === 'camera' && ui.cameraOff) key = 'videoOff';
    }
    badge.dataset.on = String(key !== 'off');
    badge.dataset.muted = String(key === 'muted' || key === 'videoOff');
    badge.textContent = format(STRINGS.publishing[key], { source: name });
  }
}

function renderParticipants() {
  const people = [...client.participants.values()]
    .filter((p) => p.role === 'participant' && p.peer !== client.peer)
    .sort((a, b) => a.name.localeCompare(b.name));
  el.participantCount.textContent = plural(STRINGS.participants.count, people.length);
  el.participantsEmpty.hidden = people.length > 0;
  const items = people.map((p) => {
    const li = document.createElement('li');
    li.textContent = p.name;
    li.dataset.peer = p.peer;
    return li;
  });
  el.participantList.replaceChildren(...items);
}

/** @param {import('./protocol.js').ErrorInfo | null} error */
function errorText(error) {
  if (!error) return STRINGS.state.error;
  const known = /** @type {Record<string, string>} */ (STRINGS.errors)[error.code];
  return known ?? format(STRINGS.errors.generic, { message: error.message || error.code });
}

/** @param {string} text @param {'info' | 'warning' | 'error'} [tone] */
function say(text, tone = 'warning') {
  showMessage(el.message, text, tone);
}

// ----- local media -------------------------------------------------------------------------------

function canShareScreen() {
  return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/** Asks for camera and microphone; falls back to whichever of the two works. */
async function acquireMedia() {
  el.requestMedia.hidden = true;
  if (!navigator.mediaDevices?.getUserMedia) {
    say(window.isSecureContext ? STRINGS.media.unsupported : STRINGS.media.insecure, 'error');
    return;
  }
  /** @type {MediaStreamTrack | null} */ let camera = null;
  /** @type {MediaStreamTrack | null} */ let microphone = null;
  let failure = null;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: devices.constraints('camera'), audio: devices.constraints('microphone') });
    camera = stream.getVideoTracks()[0] ?? null;
    microphone = stream.getAudioTracks()[0] ?? null;
  } catch (err) {
    failure = err;
    if (mediaErrorKind(err) !== 'denied') {
      // One of the two may be missing or busy: take whichever works.
      camera = await getTrack('camera', devices.constraints('camera')).catch(() => null);
      microphone = await getTrack('microphone', devices.constraints('microphone')).catch(() => null);
    }
  }
  if (ui.ended || ui.pageError) {
    camera?.stop();
    microphone?.stop();
    return;
  }
  setLocal('camera', camera);
  setLocal('microphone', microphone);
  ui.mediaReady = Boolean(camera || microphone);
  if (!camera && !microphone) {
    const kind = mediaErrorKind(failure);
    say(STRINGS.media[kind] ?? STRINGS.media.failed, 'error');
    el.requestMedia.hidden = false;
  } else {
    say('');
  }
  await devices.refresh({ camera, microphone });
  render();
  maybeResume();
}

/**
 * Makes a track the local one for a source: preview, enabled state, end handling and, when
 * live, the broadcast.
 * @param {Source} source
 * @param {MediaStreamTrack | null} track
 */
function setLocal(source, track) {
  const previous = local[source];
  if (previous === track) return;
  local[source] = track;
  if (previous) previous.stop();
  if (track) {
    if (source === 'camera') track.enabled = !ui.cameraOff;
    if (source === 'microphone') track.enabled = !ui.micMuted;
    track.addEventListener('ended', () => onTrackEnded(source, track));
  }
  if (source === 'camera') playStream(el.cameraPreview, track ? new MediaStream([track]) : null);
  if (source === 'screen') playStream(el.screenPreview, track ? new MediaStream([track]) : null);
  // Before "Go live" the client only remembers the track; once live it is sent at once.
  client.setSource(source, track).catch(onPublishError);
  render();
}

/** The browser (or the device) ended a track: not our own `stop()`. */
function onTrackEnded(/** @type {Source} */ source, /** @type {MediaStreamTrack} */ track) {
  if (local[source] !== track) return;
  setLocal(source, null);
  if (source === 'camera') say(STRINGS.media.cameraLost);
  if (source === 'microphone') say(STRINGS.media.microphoneLost);
  if (source !== 'screen') devices.refresh(local);
}

/** @param {Source} source @param {string} deviceId */
async function switchDevice(source, deviceId) {
  const constraints = devices.constraints(source, deviceId);
  let track;
  try {
    track = await getTrack(source, constraints);
  } catch (err) {
    // Some devices (phones) cannot open two cameras at once: release the old one and retry.
    if (mediaErrorKind(err) === 'busy' && local[source]) {
      local[source]?.stop();
      track = await getTrack(source, constraints).catch(() => null);
      if (!track) setLocal(source, null);
    }
    if (!track) {
      say(STRINGS.media.switchFailed);
      await devices.refresh(local);
      return;
    }
  }
  if (ui.ended || ui.pageError) {
    track.stop();
    return;
  }
  say('');
  setLocal(source, track);
  await devices.refresh(local);
}

async function toggleScreen() {
  if (local.screen) {
    setLocal('screen', null);
    return;
  }
  if (!canShareScreen()) {
    say(STRINGS.media.screenUnsupported);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch (err) {
    if (mediaErrorKind(err) !== 'denied') say(STRINGS.media.screenFailed); // denied: the user cancelled
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  if (ui.ended || ui.pageError) {
    track.stop();
    return;
  }
  if ('contentHint' in track) track.contentHint = 'detail';
  say('');
  setLocal('screen', track);
}

function toggleMic() {
  ui.micMuted = !ui.micMuted;
  if (local.microphone) local.microphone.enabled = !ui.micMuted;
  render();
}

function toggleCamera() {
  ui.cameraOff = !ui.cameraOff;
  if (local.camera) local.camera.enabled = !ui.cameraOff;
  render();
}

function stopAllMedia() {
  for (const source of /** @type {Source[]} */ (['camera', 'microphone', 'screen'])) {
    local[source]?.stop();
    local[source] = null;
  }
  playStream(el.cameraPreview, null);
  playStream(el.screenPreview, null);
}

// ----- broadcasting ------------------------------------------------------------------------------

async function goLive() {
  if (!local.camera && !local.microphone && !local.screen) {
    say(STRINGS.media.nothingToPublish);
    return;
  }
  ui.goingLive = true;
  render();
  try {
    await client.publish({ camera: local.camera, microphone: local.microphone, screen: local.screen });
    ui.live = true;
    if (ui.resume) say(STRINGS.media.resumed, 'info');
  } catch (err) {
    onPublishError(err);
  } finally {
    ui.goingLive = false;
    ui.resume = false;
    render();
  }
}

/** After a reload during a live session, broadcast again without another click. */
function maybeResume() {
  if (ui.resume && ui.mediaReady && !ui.live && !ui.goingLive && client.connectionState === 'connected') goLive();
}

/** @param {unknown} err */
function onPublishError(err) {
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : 'publish_failed';
  // Server refusals arrive as `error` events too; show local failures here.
  if (err && typeof err === 'object' && 'local' in err && err.local === false) return;
  say(/** @type {Record<string, string>} */ (STRINGS.errors)[code] ?? STRINGS.errors.publish_failed, 'error');
}

// ----- ending the session ------------------------------------------------------------------------

/** @param {boolean} open */
function showConfirm(open) {
  if (el.endConfirm.hidden === !open) return;
  el.endConfirm.hidden = !open;
  el.endSession.setAttribute('aria-expanded', String(open));
}

function confirmEnd() {
  if (!client.endSession()) {
    say(STRINGS.errors.endNotSent);
    return;
  }
  el.endConfirmYes.disabled = true;
}

function onSessionOver() {
  ui.ended = true;
  ui.live = false;
  stopAllMedia();
  render();
}

// ----- recording ---------------------------------------------------------------------------------

function toggleRecording() {
  const on = client.recording.state === 'on';
  const sent = on ? client.stopRecording() : client.startRecording();
  if (!sent) {
    say(STRINGS.recording.notSent);
    return;
  }
  ui.recordingPending = true;
  clearTimeout(recordingPendingTimer);
  recordingPendingTimer = setTimeout(() => {
    ui.recordingPending = false;
    render();
  }, RECORDING_PENDING_MS);
  render();
}

/** A `recording` frame, or the state that came with `joined`. */
function onRecording() {
  ui.recordingPending = false;
  clearTimeout(recordingPendingTimer);
  const rec = client.recording;
  const previous = ui.recordingShown;
  ui.recordingShown = rec.state;
  if (rec.state === 'failed') {
    ui.recordingAlert = rec.message
      ? format(STRINGS.recording.failed, { message: rec.message.replace(/[.\s]+$/, '') })
      : STRINGS.recording.failedNoReason;
  } else if (rec.state === 'starting' || rec.state === 'on') {
    ui.recordingAlert = '';
  }
  if (rec.state !== previous) {
    if (rec.state === 'on') el.recordingStatus.textContent = STRINGS.recording.started;
    else if (rec.state === 'off' && previous === 'on') el.recordingStatus.textContent = STRINGS.recording.stopped;
  }
  render();
}

// ----- client events -----------------------------------------------------------------------------

client.addEventListener('connection', () => {
  render();
  maybeResume();
});

client.addEventListener('joined', () => {
  if (client.role !== 'facilitator') {
    ui.pageError = STRINGS.errors.notFacilitator;
    stopAllMedia();
    client.leave();
    render();
    return;
  }
  const info = client.sessionInfo;
  if (info?.title) {
    el.title.textContent = info.title;
    ui.title = format(STRINGS.pageTitle, { title: info.title });
  }
  el.course.textContent = info?.course ?? '';
  el.course.hidden = !info?.course;
  // Back after a reload: the server kept our tracks, paused, for us to resume.
  const pausedTracks = [...client.tracks.values()].some((t) => t.paused);
  if ((client.sessionState === 'paused' || pausedTracks) && !ui.live) ui.resume = true;
  onRecording();
});

client.addEventListener('recording', onRecording);

for (const type of ['participant_joined', 'participant_left', 'session_state', 'published']) {
  client.addEventListener(type, render);
}

client.addEventListener('session_ended', onSessionOver);

client.addEventListener('error', (event) => {
  const error = /** @type {CustomEvent<import('./protocol.js').ErrorInfo>} */ (event).detail;
  if (error.fatal) {
    onSessionOver();
    return;
  }
  if (error.code === 'publish_failed') return; // shown by onPublishError
  if (error.code === 'recording_failed') {
    ui.recordingAlert = format(STRINGS.recording.incomplete, { message: error.message || error.code });
    render();
    return;
  }
  say(errorText(error), error.code === 'busy' || error.code === 'ice_failed' ? 'warning' : 'error');
});

// ----- wiring ------------------------------------------------------------------------------------

el.goLive.addEventListener('click', goLive);
el.muteMic.addEventListener('click', toggleMic);
el.toggleCamera.addEventListener('click', toggleCamera);
el.shareScreen.addEventListener('click', toggleScreen);
el.recordToggle.addEventListener('click', toggleRecording);
el.chapterForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const title = el.chapterTitle.value.trim();
  if (!title) return;
  if (!client.addChapter(title)) {
    say(STRINGS.recording.notSent);
    return;
  }
  el.chapterTitle.value = '';
  el.recordingStatus.textContent = format(STRINGS.chapter.added, { title });
});
el.requestMedia.addEventListener('click', acquireMedia);
el.endSession.addEventListener('click', () => {
  showConfirm(true);
  el.endConfirmNo.focus();
});
el.endConfirmNo.addEventListener('click', () => {
  showConfirm(false);
  el.endSession.focus();
});
el.endConfirmYes.addEventListener('click', confirmEnd);
el.endConfirm.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    showConfirm(false);
    el.endSession.focus();
  }
});

function start() {
  applyStrings(document, STRINGS);
  ui.title = STRINGS.pageTitleDefault;
  document.title = ui.title;
  if (!link.session || !link.key) {
    ui.pageError = STRINGS.errors.noKey;
    render();
    return;
  }
  render();
  client.connect();
  acquireMedia();
}

start();
