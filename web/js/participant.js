// The participant page: read the recording notice, join with a name (accepting or declining the
// notice), then watch the facilitator's camera and screen and the speaker on stage; chat, ask
// and upvote questions, raise a hand, and publish camera and microphone when brought on stage.

import { LecternClient, NOTICE_VERSION } from './protocol.js';
import { ChatPanel, PeopleList, QuestionsPanel } from './social.js';
import { mediaErrorKind } from './devices.js';
import { authHeaders, readPageLink } from './links.js';
import { byId, pageState, playStream, RecordingIndicator, setToggle, showMessage, showState } from './ui.js';
import { has, initI18n, mountLanguageSwitch, onLanguageChange, t, tn } from './i18n.js';

await initI18n();
mountLanguageSwitch();

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
  joinHeading: byId('join-heading'),
  decline: /** @type {HTMLButtonElement} */ (byId('join-decline')),
  consentRequired: byId('consent-required'),
  consentDeclined: byId('consent-declined'),
  speakerTile: byId('speaker-tile'),
  speakerVideo: /** @type {HTMLVideoElement} */ (byId('speaker-video')),
  speakerAudio: /** @type {HTMLAudioElement} */ (byId('speaker-audio')),
  speakerName: byId('speaker-name'),
  hand: /** @type {HTMLButtonElement} */ (byId('raise-hand')),
  handStatus: byId('hand-status'),
  onStage: byId('on-stage'),
  onStageHeading: byId('on-stage-heading'),
  onStageText: byId('on-stage-text'),
  stagePreview: /** @type {HTMLVideoElement} */ (byId('stage-preview')),
  stageMute: /** @type {HTMLButtonElement} */ (byId('stage-mute')),
  stageLeave: /** @type {HTMLButtonElement} */ (byId('stage-leave')),
  social: byId('social'),
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
  /** Joined without accepting the recording notice. */
  declined: false,
  /**
   * Being on stage: `off`; `starting` (asking for camera and microphone); `on` (publishing);
   * `failed` (the camera or microphone could not be started).
   * @type {'off' | 'starting' | 'on' | 'failed'}
   */
  stage: 'off',
  /** Why being on stage failed, or why it ended. */
  stageNote: '',
  /** @type {MediaStreamTrack[]} our camera and microphone while on stage */
  stageTracks: [],
};

const recordingIndicator = new RecordingIndicator(el.recordingIndicator);
const people = new PeopleList(client, { list: byId('people-list'), count: byId('people-count'), empty: byId('people-empty') });
const chat = new ChatPanel(client);
const questions = new QuestionsPanel(client);

/**
 * Where each kind of remote media plays, and which track id plays there: the facilitator's
 * camera, screen and sound, and the stage speaker's camera and sound.
 * @type {Record<'camera' | 'screen' | 'audio' | 'speakerVideo' | 'speakerAudio', {el: HTMLMediaElement, trackId: string | null}>}
 */
const slots = {
  camera: { el: el.camera, trackId: null },
  screen: { el: el.screen, trackId: null },
  audio: { el: el.audio, trackId: null },
  speakerVideo: { el: el.speakerVideo, trackId: null },
  speakerAudio: { el: el.speakerAudio, trackId: null },
};

// The videos carry no sound (it plays through the audio elements), so they may always autoplay.
el.camera.muted = true;
el.screen.muted = true;
el.speakerVideo.muted = true;

// ----- rendering ---------------------------------------------------------------------------------

function render() {
  if (!ui.joined && !ui.pageError) return;
  const state = ui.pageError ? 'error' : pageState(client);
  showState(state, statusText(state), el.status);

  const connection = client.connectionState;
  el.connection.dataset.connection = connection;
  el.connection.textContent = t(`watch.connection.${connection}`);

  const watching = [...client.participants.values()].filter((p) => p.role === 'participant').length;
  el.count.hidden = !client.peer || state === 'ended' || state === 'error';
  el.count.textContent = tn('watch.watching', watching);

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

  const connected = client.connectionState === 'connected' && !over;
  const self = client.self;
  setToggle(el.hand, Boolean(self?.hand), self?.hand ? t('hand.lower') : t('hand.raise'));
  el.hand.disabled = !connected;
  el.consentDeclined.hidden = !ui.declined || over;
  el.social.hidden = !client.peer;
  chat.setEnabled(connected);
  questions.setEnabled(connected);
  people.render();
  renderSpeaker();
  renderStage(over);
}

/** The stage speaker's tile: their name and affiliation while their video plays. */
function renderSpeaker() {
  const track = slots.speakerVideo.trackId ? client.tracks.get(slots.speakerVideo.trackId) : null;
  const speaker = track ? client.participants.get(track.publisher) : null;
  el.speakerTile.hidden = !slots.speakerVideo.trackId;
  const name = speaker ? [speaker.name, speaker.affiliation].filter(Boolean).join(' · ') : '';
  if (el.speakerName.textContent !== name) el.speakerName.textContent = name;
}

/** Our own stage panel. @param {boolean} over */
function renderStage(over) {
  const shown = !over && (ui.stage !== 'off' || Boolean(ui.stageNote));
  el.onStage.hidden = !shown;
  el.onStage.dataset.stage = ui.stage;
  const muted = Boolean(client.self?.muted);
  setToggle(el.stageMute, muted, muted ? t('stage.unmute') : t('stage.mute'));
  el.stageMute.hidden = ui.stage !== 'on';
  el.stageLeave.hidden = ui.stage === 'off';
  el.onStageHeading.textContent = ui.stage === 'off' ? t('stage.offHeading') : t('stage.heading');
  const text = ui.stage === 'starting' ? t('stage.starting')
    : ui.stage === 'on' ? (muted ? t('stage.onMuted') : t('stage.on'))
      : ui.stageNote;
  if (el.onStageText.textContent !== text) el.onStageText.textContent = text;
}

/** @param {import('./ui.js').PageState} state */
function statusText(state) {
  if (state === 'error') return ui.pageError ?? errorText(client.fatalError);
  const text = t(`watch.state.${state}`);
  if (state === 'ended') return text;
  if (ui.recordingNote === 'stopped' && ui.recordingNoteState !== state) ui.recordingNote = '';
  return ui.recordingNote ? `${text} ${t(`watch.recording.${ui.recordingNote}`)}` : text;
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
    title = t('watch.overlay.error.title');
    text = ui.pageError ?? errorText(client.fatalError);
  } else {
    title = t(`watch.overlay.${state}.title`);
    text = t(`watch.overlay.${state}.text`);
  }
  if (state === 'paused' && client.graceSeconds) {
    text = `${text} ${t('watch.overlay.pausedGrace', { minutes: Math.max(1, Math.round(client.graceSeconds / 60)) })}`;
  }
  if (state === 'ended' && client.endReason) {
    if (has(`watch.overlay.endReasons.${client.endReason}`)) text = t(`watch.overlay.endReasons.${client.endReason}`);
  }
  if (el.overlayTitle.textContent !== title) el.overlayTitle.textContent = title;
  if (el.overlayText.textContent !== text) el.overlayText.textContent = text;
}

/** @param {import('./protocol.js').ErrorInfo | null} error */
function errorText(error) {
  if (!error) return t('watch.state.error');
  if (has(`watch.errors.${error.code}`)) return t(`watch.errors.${error.code}`);
  return t('watch.errors.generic', { message: error.message || error.code });
}

// ----- media -------------------------------------------------------------------------------------

/** @param {import('./protocol.js').MediaInfo} media @returns {keyof typeof slots} */
function slotFor(media) {
  const publisher = client.tracks.get(media.trackId)?.publisher;
  const role = publisher ? client.participants.get(publisher)?.role : undefined;
  if (role && role !== 'facilitator') return media.kind === 'audio' ? 'speakerAudio' : 'speakerVideo';
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
    showMessage(el.message, t('watch.errors.audioBlocked'), 'warning');
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
  for (const media of [el.audio, el.camera, el.screen, el.speakerAudio, el.speakerVideo]) {
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
  el.layout.textContent = t('watch.controls.layout', { name: t(`watch.controls.layouts.${ui.layout}`) });
}

function toggleMute() {
  el.audio.muted = !el.audio.muted;
  setToggle(el.mute, el.audio.muted, el.audio.muted ? t('watch.controls.unmute') : t('watch.controls.mute'));
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
  setToggle(el.fullscreen, on, on ? t('watch.controls.exitFullscreen') : t('watch.controls.fullscreen'));
}

// ----- joining -----------------------------------------------------------------------------------

/**
 * Joins, having accepted the recording notice (`consent`) or declined it.
 * @param {boolean} consent
 */
function join(consent) {
  if (ui.joined) return;
  const name = el.name.value.trim().slice(0, 80);
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch { /* private mode */ }
  unlockPlayback();
  ui.joined = true;
  ui.declined = !consent;
  el.joinScreen.hidden = true;
  el.consentRequired.hidden = true;
  el.viewer.hidden = false;
  client.name = name;
  client.consent = consent ? NOTICE_VERSION : null;
  if (client.connectionState === 'idle') client.connect();
  else client.rejoin();
  render();
  el.viewerHeading.focus();
}

/** The session is (now) recorded and we had not accepted: show the notice again. */
function askConsentAgain() {
  ui.joined = false;
  ui.declined = false;
  endStage('');
  clearAllMedia();
  showMessage(el.message, '');
  el.viewer.hidden = true;
  el.social.hidden = true;
  el.joinScreen.hidden = false;
  el.consentRequired.hidden = false;
  // The session is being recorded: keep saying so while the notice is read again.
  const rec = client.recording.state === 'on' ? client.recording : { state: /** @type {const} */ ('on') };
  recordingIndicator.update(rec, true);
  document.body.dataset.state = 'consent';
  el.status.textContent = t('consent.required');
  el.joinHeading.focus();
}

function showBrokenLink() {
  ui.pageError = t('watch.errors.noKey');
  el.joinScreen.hidden = true;
  el.viewer.hidden = false;
  render();
}

// ----- on stage ----------------------------------------------------------------------------------

/** Brought on stage: ask for camera and microphone and publish them. */
async function startStage() {
  ui.stage = 'starting';
  ui.stageNote = '';
  render();
  el.onStageHeading.focus();
  /** @type {MediaStream | null} */
  let stream = null;
  try {
    if (!navigator.mediaDevices?.getUserMedia) throw new DOMException('no getUserMedia', window.isSecureContext ? 'NotSupportedError' : 'SecurityError');
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (err) {
    if (ui.stage !== 'starting') return;
    ui.stage = 'failed';
    ui.stageNote = t(`stage.mediaErrors.${mediaErrorKind(err)}`);
    render();
    return;
  }
  if (ui.stage !== 'starting' || !client.onStage) {
    for (const track of stream.getTracks()) track.stop();
    return;
  }
  ui.stageTracks = stream.getTracks();
  const mic = stream.getAudioTracks()[0] ?? null;
  if (mic) mic.enabled = !client.self?.muted;
  playStream(el.stagePreview, new MediaStream(stream.getVideoTracks()));
  try {
    await client.publish({ camera: stream.getVideoTracks()[0] ?? null, microphone: mic });
    if (ui.stage === 'starting') ui.stage = 'on';
  } catch (err) {
    if (ui.stage !== 'starting') return;
    stopStageTracks();
    ui.stage = 'failed';
    ui.stageNote = t('stage.publishFailed');
  }
  render();
}

function stopStageTracks() {
  for (const track of ui.stageTracks) track.stop();
  ui.stageTracks = [];
  playStream(el.stagePreview, null);
}

/** Off stage (taken off, left, or disconnected). @param {string} note  what to tell */
function endStage(note) {
  const was = ui.stage;
  ui.stage = 'off';
  stopStageTracks();
  client.stopPublishing();
  ui.stageNote = was === 'off' ? ui.stageNote : note;
  render();
}

// ----- client events -----------------------------------------------------------------------------

client.addEventListener('connection', render);

client.addEventListener('joined', () => {
  if (client.role !== 'participant') {
    ui.pageError = t('watch.errors.notParticipant');
    client.leave();
    render();
    return;
  }
  const info = client.sessionInfo;
  if (info?.title) {
    el.title.textContent = info.title;
    document.title = t('watch.pageTitle', { title: info.title });
  }
  el.course.textContent = info?.course ?? '';
  el.course.hidden = !info?.course;
  onRecording(true);
});

client.addEventListener('recording', () => onRecording(false));

client.addEventListener('joined', () => {
  chat.reset();
  questions.reset();
  ui.stage = 'off';
  ui.stageNote = '';
  render();
});
client.addEventListener('chat', () => chat.render());
client.addEventListener('question', () => questions.render());
client.addEventListener('participant_updated', render);
client.addEventListener('stage', (event) => {
  const { on, muted } = /** @type {CustomEvent<{on: boolean, muted: boolean}>} */ (event).detail;
  if (on && ui.stage === 'off') startStage();
  else if (!on && ui.stage !== 'off') endStage(t('stage.takenOff'));
  const mic = ui.stageTracks.find((track) => track.kind === 'audio');
  if (mic) mic.enabled = !muted;
  render();
});

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
  if (error.code === 'consent_required') {
    askConsentAgain();
    return;
  }
  if (error.fatal) endStage('');
  if (!error.fatal && (chat.onError(error) || questions.onError(error))) return;
  if (error.fatal) {
    clearAllMedia();
    showMessage(el.message, '');
  } else if (error.local) {
    showMessage(el.message, errorText(error), 'warning');
  }
  render();
});

// ----- wiring ------------------------------------------------------------------------------------

el.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  join(true);
});
el.decline.addEventListener('click', () => join(false));
el.hand.addEventListener('click', () => {
  const raised = Boolean(client.self?.hand);
  if (raised ? client.lowerHand() : client.raiseHand()) {
    el.handStatus.textContent = raised ? t('hand.lowered') : t('hand.raised');
  }
});
el.stageMute.addEventListener('click', () => {
  const self = client.self;
  if (!self) return;
  const muted = !self.muted;
  const mic = ui.stageTracks.find((track) => track.kind === 'audio');
  if (mic) mic.enabled = !muted;
  client.mute(self.peer, muted);
});
el.stageLeave.addEventListener('click', () => {
  if (ui.stage === 'off') {
    ui.stageNote = '';
    render();
    return;
  }
  if (client.peer) client.setStage(client.peer, false);
  endStage(t('stage.left'));
  el.hand.focus();
});
onLanguageChange(() => {
  document.title = client.sessionInfo?.title ? t('watch.pageTitle', { title: client.sessionInfo.title }) : t('watch.pageTitleDefault');
  renderLayout();
  chat.reset();
  questions.render();
  if (ui.joined || ui.pageError) render();
});
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
  document.title = t('watch.pageTitleDefault');
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
  showInviteName();
}

/**
 * A personal invite carries its holder's name, which the server uses whatever is typed: show it
 * instead of asking. (A shared link has none: the field stays.)
 */
async function showInviteName() {
  try {
    const response = await fetch('/api/me', { headers: authHeaders(location.hash, { Accept: 'application/json' }), cache: 'no-store' });
    if (!response.ok) return; // the join explains what is wrong with the link
    const me = await response.json();
    if (typeof me?.name !== 'string' || !me.name.trim()) return;
    el.name.value = me.name;
    el.name.readOnly = true;
    const hint = byId('display-name-hint');
    hint.dataset.text = 'watch.join.nameFromInvite';
    hint.textContent = t('watch.join.nameFromInvite');
  } catch { /* offline: the field stays */ }
}

start();
