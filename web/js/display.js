// The classroom projector: joins with the room-display link, and after one "Start" (a gesture,
// so that sound may play) shows, without controls, the remote speaker on stage, the top open
// questions and the raised hands, updating live. Sound is off by default: the facilitator's
// device plays the speaker; it can be switched on for rooms without other audio.

import { LecternClient } from './protocol.js';
import { readPageLink } from './links.js';
import { byId, pageState, playStream, RecordingIndicator, setToggle, showMessage } from './ui.js';
import { initI18n, mountLanguageSwitch, onLanguageChange, t, has } from './i18n.js';
import { sortQuestions } from './social.js';

await initI18n();
mountLanguageSwitch();

/** How many questions the display shows. */
const TOP_QUESTIONS = 5;
/** How many raised hands it names. */
const MAX_HANDS = 8;

const el = {
  startScreen: byId('start-screen'),
  start: /** @type {HTMLButtonElement} */ (byId('start')),
  startError: byId('start-error'),
  display: byId('display'),
  title: byId('display-title'),
  connection: byId('connection'),
  stage: byId('display-stage'),
  video: /** @type {HTMLVideoElement} */ (byId('display-video')),
  audio: /** @type {HTMLAudioElement} */ (byId('display-audio')),
  speakerName: byId('display-speaker-name'),
  speakerAffiliation: byId('display-speaker-affiliation'),
  questions: byId('display-questions'),
  questionsEmpty: byId('display-questions-empty'),
  hands: byId('display-hands'),
  handsEmpty: byId('display-hands-empty'),
  soundHint: byId('sound-hint'),
  soundToggle: /** @type {HTMLButtonElement} */ (byId('sound-toggle')),
  overlay: byId('display-overlay'),
  overlayText: byId('display-overlay-text'),
  recordingIndicator: byId('recording-indicator'),
};

const link = readPageLink(location);
const client = new LecternClient({ session: link.session, key: link.key, role: 'room_display' });
window.lecternClient = client;

const ui = {
  started: false,
  sound: false,
  /** @type {string | null} */ pageError: null,
  /** The speaker's media playing, by kind. @type {{video: string | null, audio: string | null}} */
  media: { video: null, audio: null },
};

const recordingIndicator = new RecordingIndicator(el.recordingIndicator);
el.video.muted = true;
el.audio.muted = true;

function render() {
  if (!ui.started) return;
  const state = ui.pageError ? 'error' : pageState(client);
  document.body.dataset.state = state;
  el.connection.dataset.connection = client.connectionState;
  el.connection.textContent = t(`watch.connection.${client.connectionState}`);
  const over = state === 'ended' || state === 'error';
  recordingIndicator.update(client.recording, !over);

  const title = client.sessionInfo?.title || t('display.heading');
  if (el.title.textContent !== title) el.title.textContent = title;

  // The overlay covers everything until the session can be shown.
  const covered = state === 'connecting' || state === 'reconnecting' || over;
  el.overlay.hidden = !covered;
  el.overlay.dataset.kind = state;
  const text = state === 'error' ? errorText() : t(`display.states.${state}`);
  if (el.overlayText.textContent !== text) el.overlayText.textContent = text;

  renderSpeaker();
  renderQuestions();
  renderHands();
  renderSound();
}

function errorText() {
  if (ui.pageError) return ui.pageError;
  const code = client.fatalError?.code ?? '';
  return has(`display.errors.${code}`) ? t(`display.errors.${code}`) : t('display.errors.generic', { message: client.fatalError?.message || code });
}

/** The speaker: whoever publishes the video playing, or the first person on stage. */
function renderSpeaker() {
  const track = ui.media.video ? client.tracks.get(ui.media.video) : null;
  const speaker = (track && client.participants.get(track.publisher))
    || [...client.participants.values()].find((p) => p.stage)
    || null;
  el.stage.dataset.speaker = ui.media.video ? 'on' : 'off';
  const name = speaker?.name ?? '';
  const affiliation = speaker?.affiliation ?? '';
  if (el.speakerName.textContent !== name) el.speakerName.textContent = name;
  if (el.speakerAffiliation.textContent !== affiliation) el.speakerAffiliation.textContent = affiliation;
}

function renderQuestions() {
  const open = sortQuestions([...client.questions.values()].filter((q) => q.state === 'open')).slice(0, TOP_QUESTIONS);
  el.questions.replaceChildren(...open.map((q) => {
    const li = document.createElement('li');
    li.dataset.id = q.id;
    const votes = document.createElement('span');
    votes.className = 'display-votes';
    votes.textContent = String(q.votes);
    votes.setAttribute('aria-label', t('display.votes', { n: q.votes }));
    const text = document.createElement('span');
    text.className = 'display-question-text';
    text.textContent = q.text;
    const who = document.createElement('span');
    who.className = 'display-question-by';
    who.textContent = q.name;
    li.append(votes, text, who);
    return li;
  }));
  el.questionsEmpty.hidden = open.length > 0;
}

function renderHands() {
  const hands = [...client.participants.values()].filter((p) => p.hand).sort((a, b) => a.name.localeCompare(b.name));
  const shown = hands.slice(0, MAX_HANDS).map((p) => {
    const li = document.createElement('li');
    li.dataset.peer = p.peer;
    li.textContent = p.affiliation ? `${p.name} · ${p.affiliation}` : p.name;
    return li;
  });
  if (hands.length > MAX_HANDS) {
    const more = document.createElement('li');
    more.className = 'display-more';
    more.textContent = t('display.moreHands', { n: hands.length - MAX_HANDS });
    shown.push(more);
  }
  el.hands.replaceChildren(...shown);
  el.handsEmpty.hidden = hands.length > 0;
}

function renderSound() {
  el.soundHint.dataset.sound = ui.sound ? 'on' : 'off';
  el.soundHint.textContent = ui.sound ? t('display.soundOn') : t('display.soundOff');
  setToggle(el.soundToggle, ui.sound, ui.sound ? t('display.soundToggleOff') : t('display.soundToggleOn'));
}

/** @param {import('./protocol.js').MediaInfo} media */
async function showMedia(media) {
  const kind = media.kind === 'audio' ? 'audio' : 'video';
  const target = kind === 'audio' ? el.audio : el.video;
  if (media.removed || !media.stream) {
    if (ui.media[kind] === media.trackId) {
      ui.media[kind] = null;
      target.srcObject = null;
    }
    render();
    return;
  }
  // Only the stage speaker shows here: the facilitator is in the room.
  const publisher = client.tracks.get(media.trackId)?.publisher;
  const who = publisher ? client.participants.get(publisher) : null;
  if (!who || who.role === 'facilitator') return;
  ui.media[kind] = media.trackId;
  render();
  await playStream(target, media.stream);
}

function toggleSound() {
  ui.sound = !ui.sound;
  el.audio.muted = !ui.sound;
  if (ui.sound) el.audio.play().catch(() => { /* started by the toggle's gesture; retried on the next track */ });
  renderSound();
}

function start() {
  if (ui.started) return;
  if (!link.session || !link.key) {
    showMessage(el.startError, t('display.errors.noKey'), 'error');
    return;
  }
  ui.started = true;
  // Inside the click: lets the media elements play (with sound, later) in every browser.
  for (const media of [el.video, el.audio]) media.play().catch(() => { /* no source yet */ });
  el.startScreen.hidden = true;
  el.display.hidden = false;
  client.connect();
  render();
  if (document.fullscreenEnabled) document.documentElement.requestFullscreen().catch(() => { /* stays windowed */ });
}

client.addEventListener('joined', () => {
  if (client.role !== 'room_display') {
    ui.pageError = t('display.errors.notDisplay');
    client.leave();
  }
  render();
});
for (const type of ['connection', 'participant_joined', 'participant_left', 'participant_updated', 'question', 'session_state', 'session_ended', 'recording', 'track_published', 'track_unpublished', 'error']) {
  client.addEventListener(type, render);
}
client.addEventListener('media', (event) => {
  showMedia(/** @type {CustomEvent<import('./protocol.js').MediaInfo>} */ (event).detail);
});

el.start.addEventListener('click', start);
el.soundToggle.addEventListener('click', toggleSound);
onLanguageChange(() => {
  document.title = t('display.pageTitle');
  render();
});
window.addEventListener('pagehide', () => {
  if (ui.started) client.leave();
});

document.title = t('display.pageTitle');
el.start.focus();
