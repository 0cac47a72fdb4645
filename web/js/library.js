// The library page: every recording, by course and session, with links to play them.

import { authHeaders, keyFragment } from './links.js';
import { applyStrings, byId, format } from './ui.js';
import { formatDuration } from './timeline.js';

const STRINGS = {
  pageTitle: 'Recordings · lectern',
  skipToContent: 'Skip to the recordings',
  heading: 'Recordings',
  loading: 'Loading the recordings…',
  retry: 'Try again',
  summary: { one: '1 recording', other: '{n} recordings' },
  empty: 'No recordings yet. A facilitator starts one with “Start recording” during a live session.',
  error: 'The recordings could not be loaded: {detail}',
  untitledCourse: 'Untitled course',
  untitledSession: 'Untitled session',
  unknownDate: 'Unknown date',
  playLabel: 'Play the recording of {when}',
  noDuration: '–:––:––',
  states: {
    recording: 'Recording',
    finalizing: 'Finalizing',
    ready: 'Ready',
    recovered: 'Recovered after an interruption',
    failed: 'Failed',
  },
  failedNoReason: 'No reason was given.',
};

/**
 * @typedef {object} LibraryRecording
 * @property {string} id
 * @property {string} state
 * @property {number | null} started_at_ms
 * @property {number | null} duration_ms
 * @property {string | null} error
 * @property {boolean} playable
 */

const el = {
  status: byId('status'),
  content: byId('library-content'),
  retry: /** @type {HTMLButtonElement} */ (byId('retry')),
};

const dateFormat = (() => {
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  } catch {
    return new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
  }
})();

/** @param {'loading' | 'ready' | 'empty' | 'error'} state @param {string} text @param {'info' | 'error'} [tone] */
function showStatus(state, text, tone = 'info') {
  document.body.dataset.state = state;
  el.status.textContent = text;
  el.status.dataset.tone = tone;
}

async function load() {
  el.retry.hidden = true;
  showStatus('loading', STRINGS.loading);
  let data;
  try {
    const response = await fetch('/api/library', { headers: authHeaders(location.hash, { Accept: 'application/json' }), cache: 'no-store' });
    data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(data?.message || `HTTP ${response.status}`);
    if (!data || !Array.isArray(data.courses)) throw new Error('unexpected answer');
  } catch (err) {
    el.content.replaceChildren();
    showStatus('error', format(STRINGS.error, { detail: err instanceof Error ? err.message : String(err) }), 'error');
    el.retry.hidden = false;
    return;
  }
  render(data.courses);
}

/** @param {any[]} courses */
function render(courses) {
  let count = 0;
  const sections = [];
  for (const course of courses) {
    const sessions = Array.isArray(course?.sessions) ? course.sessions : [];
    const sessionBlocks = [];
    for (const session of sessions) {
      /** @type {LibraryRecording[]} */
      const recordings = (Array.isArray(session?.recordings) ? session.recordings : [])
        .filter((r) => r && typeof r.id === 'string')
        .sort((a, b) => (a.started_at_ms ?? 0) - (b.started_at_ms ?? 0));
      if (!recordings.length) continue;
      count += recordings.length;
      const block = document.createElement('section');
      block.className = 'course-session';
      const h3 = document.createElement('h3');
      h3.textContent = text(session.title) || STRINGS.untitledSession;
      const list = document.createElement('ul');
      list.className = 'recording-list';
      list.append(...recordings.map(recordingItem));
      block.append(h3, list);
      sessionBlocks.push(block);
    }
    if (!sessionBlocks.length) continue;
    const section = document.createElement('section');
    section.className = 'course';
    const h2 = document.createElement('h2');
    h2.textContent = text(course.title) || STRINGS.untitledCourse;
    section.append(h2, ...sessionBlocks);
    sections.push(section);
  }
  if (!count) {
    const empty = document.createElement('div');
    empty.className = 'empty-state';
    const p = document.createElement('p');
    p.textContent = STRINGS.empty;
    empty.append(p);
    el.content.replaceChildren(empty);
    showStatus('empty', '');
    return;
  }
  el.content.replaceChildren(...sections);
  showStatus('ready', format(count === 1 ? STRINGS.summary.one : STRINGS.summary.other, { n: count }));
}

let itemCount = 0;

/** @param {LibraryRecording} rec */
function recordingItem(rec) {
  const li = document.createElement('li');
  const when = typeof rec.started_at_ms === 'number' ? dateFormat.format(new Date(rec.started_at_ms)) : STRINGS.unknownDate;
  const metaId = `rec-meta-${++itemCount}`;

  /** @type {HTMLElement} */
  let title;
  if (rec.playable) {
    const a = document.createElement('a');
    a.href = `/replay/${encodeURIComponent(rec.id)}${keyFragment(location.hash)}`;
    a.setAttribute('aria-describedby', metaId);
    title = a;
  } else {
    title = document.createElement('span');
  }
  title.className = 'recording-when';
  title.textContent = when;

  const meta = document.createElement('span');
  meta.id = metaId;
  meta.className = 'recording-meta';
  const duration = document.createElement('span');
  duration.className = 'recording-duration';
  duration.textContent = typeof rec.duration_ms === 'number' ? formatDuration(rec.duration_ms) : STRINGS.noDuration;
  if (typeof rec.duration_ms !== 'number') duration.setAttribute('aria-hidden', 'true');
  const badge = document.createElement('span');
  badge.className = 'state-badge';
  badge.dataset.state = rec.state;
  badge.textContent = /** @type {Record<string, string>} */ (STRINGS.states)[rec.state] ?? rec.state;
  meta.append(duration, ' ', badge);
  li.append(title, meta);

  if (rec.state === 'failed') {
    const error = document.createElement('p');
    error.className = 'recording-error';
    error.textContent = text(rec.error) || STRINGS.failedNoReason;
    li.append(error);
  }
  return li;
}

/** @param {unknown} value */
function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}

el.retry.addEventListener('click', () => {
  load();
  el.content.focus();
});

applyStrings(document, STRINGS);
document.title = STRINGS.pageTitle;
load();
