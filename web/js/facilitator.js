// The facilitator page: preview camera and microphone, go live, share the screen, record, end the
// session; the participant list with moderation (stage, mute, hands, removal), chat and Q&A; the
// stage speaker's video and sound (played here, where the echo canceller hears it).

import { LecternClient } from './protocol.js';
import { readPageLink } from './links.js';
import { byId, pageState, playStream, RecordingIndicator, setToggle, showMessage, showState } from './ui.js';
import { DeviceLists, getTrack, mediaErrorKind } from './devices.js';
import { ChatPanel, PeopleList, QuestionsPanel } from './social.js';
import { has, initI18n, mountLanguageSwitch, onLanguageChange, t, tn } from './i18n.js';

await initI18n();
mountLanguageSwitch();


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
  speakerTile: byId('speaker-tile'),
  speakerVideo: /** @type {HTMLVideoElement} */ (byId('speaker-video')),
  speakerAudio: /** @type {HTMLAudioElement} */ (byId('speaker-audio')),
  speakerName: byId('speaker-name'),
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
  title: t('facilitate.pageTitleDefault'),
};

const recordingIndicator = new RecordingIndicator(el.recordingIndicator);
const people = new PeopleList(client, { list: byId('people-list'), count: byId('people-count'), empty: byId('people-empty'), moderate: true });
const chat = new ChatPanel(client);
const questions = new QuestionsPanel(client, { moderate: true });
/** The stage speaker's media playing here, by kind. @type {{video: string | null, audio: string | null}} */
const speaker = { video: null, audio: null };
/** @type {ReturnType<typeof setTimeout> | undefined} */
let recordingPendingTimer;
/** How long a start or stop may go unanswered before the button is enabled again. */
const RECORDING_PENDING_MS = 10_000;

const devices = new DeviceLists(
  { camera: el.cameraSelect, microphone: el.micSelect },
  { none: t('facilitate.devices.none'), camera: t('facilitate.devices.unnamedCamera'), microphone: t('facilitate.devices.unnamedMicrophone') },
  (source, deviceId) => switchDevice(source, deviceId),
);

// ----- rendering ---------------------------------------------------------------------------------

function render() {
  const state = ui.pageError ? 'error' : pageState(client);
  showState(state, statusText(state), el.status);

  const connection = client.connectionState;
  el.connection.dataset.connection = connection;
  el.connection.textContent = t(`facilitate.connection.${connection}`);

  const over = state === 'ended' || state === 'error';
  const hasMedia = Boolean(local.camera || local.microphone || local.screen);

  el.goLive.disabled = over || ui.live || ui.goingLive || !hasMedia;
  el.goLive.textContent = ui.live ? t('facilitate.controls.isLive') : ui.goingLive ? t('facilitate.controls.goingLive') : t('facilitate.controls.goLive');
  el.goLive.dataset.live = String(ui.live);

  el.muteMic.disabled = over || !local.microphone;
  setToggle(el.muteMic, ui.micMuted, ui.micMuted ? t('facilitate.controls.unmuteMic') : t('facilitate.controls.muteMic'));
  el.toggleCamera.disabled = over || !local.camera;
  setToggle(el.toggleCamera, ui.cameraOff, ui.cameraOff ? t('facilitate.controls.cameraOn') : t('facilitate.controls.cameraOff'));
  el.shareScreen.disabled = over || !canShareScreen();
  setToggle(el.shareScreen, Boolean(local.screen), local.screen ? t('facilitate.controls.stopSharing') : t('facilitate.controls.shareScreen'));
  el.endSession.disabled = over || client.role !== 'facilitator';
  if (over) showConfirm(false);

  renderRecording(over);

  devices.setEnabled(!over);

  el.stage.dataset.camera = local.camera && !ui.cameraOff ? 'on' : 'off';
  el.stage.dataset.screen = local.screen ? 'on' : 'off';

  renderBadges();
  const connected = client.connectionState === 'connected' && !over;
  chat.setEnabled(connected);
  questions.setEnabled(connected);
  people.render();
  renderSpeaker();
}

/** The stage speaker's tile: their name and affiliation while their video plays. */
function renderSpeaker() {
  const track = speaker.video ? client.tracks.get(speaker.video) : null;
  const who = track ? client.participants.get(track.publisher) : null;
  el.speakerTile.hidden = !speaker.video;
  const name = who ? [who.name, who.affiliation].filter(Boolean).join(' · ') : '';
  if (el.speakerName.textContent !== name) el.speakerName.textContent = name;
}

/**
 * Media from the session: the stage speaker's camera and microphone. Their sound plays here by
 * default, so that the room hears them through this device and its echo canceller sees it.
 * @param {import('./protocol.js').MediaInfo} media
 */
async function showMedia(media) {
  const kind = media.kind === 'audio' ? 'audio' : 'video';
  const target = kind === 'audio' ? el.speakerAudio : el.speakerVideo;
  if (media.removed || !media.stream) {
    if (speaker[kind] === media.trackId) {
      speaker[kind] = null;
      target.srcObject = null;
    }
    render();
    return;
  }
  const publisher = client.tracks.get(media.trackId)?.publisher;
  if (!publisher || publisher === client.peer) return;
  speaker[kind] = media.trackId;
  render();
  await playStream(target, media.stream);
}

/** The record button, the top bar indicator and the failure alert. @param {boolean} over */
function renderRecording(over) {
  const rec = client.recording;
  const connected = client.connectionState === 'connected' && client.role === 'facilitator';
  const active = rec.state === 'on' || rec.state === 'starting';
  const label = rec.state === 'starting'
    ? t('facilitate.controls.startingRecording')
    : rec.state === 'on' ? t('facilitate.controls.stopRecording') : t('facilitate.controls.startRecording');
  setToggle(el.recordToggle, active, label);
  el.recordToggle.disabled = over || !connected || rec.state === 'starting' || ui.recordingPending;
  el.recordToggle.dataset.recording = rec.state;
  el.chapterForm.hidden = over || !connected || rec.state !== 'on';
  recordingIndicator.update(rec, !over);
  const alert = over ? '' : ui.recordingAlert;
  showMessage(el.recordingMessage, alert, 'error');
  // Also in the tab's title, for a facilitator looking at another tab (their slides).
  const title = alert ? t('facilitate.pageTitleAlert', { title: ui.title }) : ui.title;
  if (document.title !== title) document.title = title;
}

/** @param {import('./ui.js').PageState} state */
function statusText(state) {
  switch (state) {
    case 'error': return ui.pageError ?? errorText(client.fatalError);
    case 'waiting': return ui.goingLive ? t('facilitate.state.goingLive') : t('facilitate.state.waiting');
    case 'live':
      if (ui.live) return t('facilitate.state.live');
      return ui.resume || ui.goingLive ? t('facilitate.state.resuming') : t('facilitate.state.liveElsewhere');
    case 'paused':
      if (ui.live || ui.goingLive) return t('facilitate.state.resuming');
      return ui.resume && !ui.mediaReady ? t('facilitate.state.paused') : t('facilitate.state.pausedPressGoLive');
    default: return t(`facilitate.state.${state}`);
  }
}

function renderBadges() {
  const published = new Set(client.publishedSources);
  for (const source of /** @type {Source[]} */ (['camera', 'microphone', 'screen'])) {
    const badge = el.badges[source];
    const name = t(`facilitate.publishing.sources.${source}`);
    let key = 'off';
    if (published.has(source)) {
      key = 'onAir';
      if (source === 'microphone' && ui.micMuted) key = 'muted';
      if (source === 'camera' && ui.cameraOff) key = 'videoOff';
    }
    badge.dataset.on = String(key !== 'off');
    badge.dataset.muted = String(key === 'muted' || key === 'videoOff');
    badge.textContent = t(`facilitate.publishing.${key}`, { source: name });
  }
}

/** @param {import('./protocol.js').ErrorInfo | null} error */
function errorText(error) {
  if (!error) return t('facilitate.state.error');
  if (has(`facilitate.errors.${error.code}`)) return t(`facilitate.errors.${error.code}`);
  return t('facilitate.errors.generic', { message: error.message || error.code });
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
    say(window.isSecureContext ? t('facilitate.media.unsupported') : t('facilitate.media.insecure'), 'error');
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
    say(has(`facilitate.media.${kind}`) ? t(`facilitate.media.${kind}`) : t('facilitate.media.failed'), 'error');
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
  if (source === 'camera') say(t('facilitate.media.cameraLost'));
  if (source === 'microphone') say(t('facilitate.media.microphoneLost'));
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
      say(t('facilitate.media.switchFailed'));
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
    say(t('facilitate.media.screenUnsupported'));
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch (err) {
    if (mediaErrorKind(err) !== 'denied') say(t('facilitate.media.screenFailed')); // denied: the user cancelled
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
    say(t('facilitate.media.nothingToPublish'));
    return;
  }
  ui.goingLive = true;
  render();
  try {
    await client.publish({ camera: local.camera, microphone: local.microphone, screen: local.screen });
    ui.live = true;
    if (ui.resume) say(t('facilitate.media.resumed'), 'info');
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
  say(has(`facilitate.errors.${code}`) ? t(`facilitate.errors.${code}`) : t('facilitate.errors.publish_failed'), 'error');
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
    say(t('facilitate.errors.endNotSent'));
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
    say(t('facilitate.recording.notSent'));
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
      ? t('facilitate.recording.failed', { message: rec.message.replace(/[.\s]+$/, '') })
      : t('facilitate.recording.failedNoReason');
  } else if (rec.state === 'starting' || rec.state === 'on') {
    ui.recordingAlert = '';
  }
  if (rec.state !== previous) {
    if (rec.state === 'on') el.recordingStatus.textContent = t('facilitate.recording.started');
    else if (rec.state === 'off' && previous === 'on') el.recordingStatus.textContent = t('facilitate.recording.stopped');
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
    ui.pageError = t('facilitate.errors.notFacilitator');
    stopAllMedia();
    client.leave();
    render();
    return;
  }
  const info = client.sessionInfo;
  if (info?.title) {
    el.title.textContent = info.title;
    ui.title = t('facilitate.pageTitle', { title: info.title });
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

client.addEventListener('joined', () => {
  chat.reset();
  questions.reset();
});
client.addEventListener('chat', () => chat.render());
client.addEventListener('question', () => questions.render());
client.addEventListener('participant_updated', render);
client.addEventListener('media', (event) => {
  showMedia(/** @type {CustomEvent<import('./protocol.js').MediaInfo>} */ (event).detail);
});

client.addEventListener('error', (event) => {
  const error = /** @type {CustomEvent<import('./protocol.js').ErrorInfo>} */ (event).detail;
  if (error.fatal) {
    onSessionOver();
    return;
  }
  if (error.code === 'publish_failed') return; // shown by onPublishError
  if (chat.onError(error) || questions.onError(error)) return;
  if (error.code === 'recording_failed') {
    ui.recordingAlert = t('facilitate.recording.incomplete', { message: error.message || error.code });
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
    say(t('facilitate.recording.notSent'));
    return;
  }
  el.chapterTitle.value = '';
  el.recordingStatus.textContent = t('facilitate.chapter.added', { title });
});
el.requestMedia.addEventListener('click', acquireMedia);
onLanguageChange(() => {
  ui.title = client.sessionInfo?.title ? t('facilitate.pageTitle', { title: client.sessionInfo.title }) : t('facilitate.pageTitleDefault');
  chat.reset();
  questions.render();
  render();
});
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
  ui.title = t('facilitate.pageTitleDefault');
  document.title = ui.title;
  if (!link.session || !link.key) {
    ui.pageError = t('facilitate.errors.noKey');
    render();
    return;
  }
  render();
  client.connect();
  acquireMedia();
}

start();
