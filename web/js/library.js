// The library page: every recording, by course and session, with links to play them.

import { byId } from './ui.js';
import { authHeaders, keyFragment } from './links.js';
import { formatDuration } from './timeline.js';
import { formatDate, has, initI18n, mountLanguageSwitch, onLanguageChange, t, tn } from './i18n.js';

await initI18n();
mountLanguageSwitch();


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


/** @param {'loading' | 'ready' | 'empty' | 'error'} state @param {string} text @param {'info' | 'error'} [tone] */
function showStatus(state, text, tone = 'info') {
  document.body.dataset.state = state;
  el.status.textContent = text;
  el.status.dataset.tone = tone;
}

async function load() {
  el.retry.hidden = true;
  showStatus('loading', t('library.loading'));
  let data;
  try {
    const response = await fetch('/api/library', { headers: authHeaders(location.hash, { Accept: 'application/json' }), cache: 'no-store' });
    data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(data?.message || `HTTP ${response.status}`);
    if (!data || !Array.isArray(data.courses)) throw new Error('unexpected answer');
  } catch (err) {
    el.content.replaceChildren();
    showStatus('error', t('library.error', { detail: err instanceof Error ? err.message : String(err) }), 'error');
    el.retry.hidden = false;
    return;
  }
  render(data.courses);
}

/** @type {any[] | null} what was last shown, to redraw in another language */
let lastCourses = null;

/** @param {any[]} courses */
function render(courses) {
  lastCourses = courses;
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
      h3.textContent = text(session.title) || t('library.untitledSession');
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
    h2.textContent = text(course.title) || t('library.untitledCourse');
    section.append(h2, ...sessionBlocks);
    sections.push(section);
  }
  if (!count) {
    const empty = document.createElement('div');
    empty.className = 'empty-state';
    const p = document.createElement('p');
    p.textContent = t('library.empty');
    empty.append(p);
    el.content.replaceChildren(empty);
    showStatus('empty', '');
    return;
  }
  el.content.replaceChildren(...sections);
  showStatus('ready', tn('library.summary', count));
}

let itemCount = 0;

/** @param {LibraryRecording} rec */
function recordingItem(rec) {
  const li = document.createElement('li');
  const when = typeof rec.started_at_ms === 'number' ? formatDate(rec.started_at_ms) : t('library.unknownDate');
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
  duration.textContent = typeof rec.duration_ms === 'number' ? formatDuration(rec.duration_ms) : t('library.noDuration');
  if (typeof rec.duration_ms !== 'number') duration.setAttribute('aria-hidden', 'true');
  const badge = document.createElement('span');
  badge.className = 'state-badge';
  badge.dataset.state = rec.state;
  badge.textContent = has(`library.states.${rec.state}`) ? t(`library.states.${rec.state}`) : rec.state;
  meta.append(duration, ' ', badge);
  li.append(title, meta);

  if (rec.state === 'failed') {
    const error = document.createElement('p');
    error.className = 'recording-error';
    error.textContent = text(rec.error) || t('library.failedNoReason');
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

document.title = t('library.pageTitle');
onLanguageChange(() => {
  document.title = t('library.pageTitle');
  if (lastCourses) render(lastCourses);
});
load();
