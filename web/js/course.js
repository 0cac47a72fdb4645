// The course page, where every personal invite link lands (`/course#k=<key>`): who the link is
// for, the course, its sessions with the page the role opens, and the recordings. An admin's link
// goes on to the admin page.

import { byId } from './ui.js';
import { authHeaders, keyFragment, keyFromHash, linkPath } from './links.js';
import { formatDate, has, initI18n, mountLanguageSwitch, onLanguageChange, t } from './i18n.js';

await initI18n();
mountLanguageSwitch();

/**
 * @typedef {object} MeSession
 * @property {string} id
 * @property {string} title
 * @property {number | null} starts_at_ms
 * @property {number | null} ends_at_ms
 * @property {boolean} ended
 * @property {boolean} [cancelled]
 */

/**
 * @typedef {object} Me
 * @property {string} invite
 * @property {string} role
 * @property {string} name
 * @property {string} affiliation
 * @property {number} expires_at_ms
 * @property {{id: string, title: string, description: string} | null} course
 * @property {MeSession[]} sessions
 * @property {boolean} replays
 */

const el = {
  title: byId('course-title'),
  status: byId('status'),
  retry: /** @type {HTMLButtonElement} */ (byId('retry')),
  content: byId('course-content'),
  description: byId('course-description'),
  whoName: byId('who-name'),
  whoAffiliationRow: byId('who-affiliation-row'),
  whoAffiliation: byId('who-affiliation'),
  whoRole: byId('who-role'),
  whoExpires: byId('who-expires'),
  sessionsSection: byId('sessions-section'),
  sessions: byId('sessions'),
  sessionsEmpty: byId('sessions-empty'),
  replays: byId('replays'),
  recordingsLink: /** @type {HTMLAnchorElement} */ (byId('recordings-link')),
};

/** Roles that open a live page, and the text of its button. */
const ACTIONS = /** @type {Record<string, string>} */ ({
  facilitator: 'course.sessions.facilitate',
  participant: 'course.sessions.join',
  room_display: 'course.sessions.display',
});

/** @type {Me | null} what was last shown, to redraw in another language */
let me = null;
/** @type {{code: string, message: string} | null} */
let failure = null;

/** @param {'loading' | 'ready' | 'error'} state @param {string} text @param {'info' | 'error'} [tone] */
function showStatus(state, text, tone = 'info') {
  document.body.dataset.state = state;
  el.status.textContent = text;
  el.status.dataset.tone = tone;
}

async function load() {
  el.retry.hidden = true;
  failure = null;
  if (!keyFromHash(location.hash)) {
    fail({ code: 'noKey', message: '' }, false);
    return;
  }
  showStatus('loading', t('course.loading'));
  let response;
  let data;
  try {
    response = await fetch('/api/me', { headers: authHeaders(location.hash, { Accept: 'application/json' }), cache: 'no-store' });
    data = await response.json().catch(() => null);
  } catch (err) {
    fail({ code: 'network', message: err instanceof Error ? err.message : String(err) }, true);
    return;
  }
  if (!response.ok) {
    fail({ code: typeof data?.error === 'string' ? data.error : 'generic', message: data?.message || `HTTP ${response.status}` }, response.status >= 500);
    return;
  }
  if (!data || typeof data.role !== 'string') {
    fail({ code: 'generic', message: 'unexpected answer' }, true);
    return;
  }
  if (data.role === 'admin') {
    // An administrator's link belongs to the admin page.
    location.replace(`/admin${keyFragment(location.hash)}`);
    return;
  }
  me = /** @type {Me} */ (data);
  render();
}

/** @param {{code: string, message: string}} error @param {boolean} retry */
function fail(error, retry) {
  failure = error;
  me = null;
  el.content.hidden = true;
  document.body.dataset.error = error.code;
  showStatus('error', errorText(error), 'error');
  el.retry.hidden = !retry;
  document.title = t('course.pageTitleDefault');
}

/** @param {{code: string, message: string}} error */
function errorText(error) {
  if (has(`course.errors.${error.code}`)) return t(`course.errors.${error.code}`);
  return t('course.errors.generic', { message: error.message || error.code });
}

function render() {
  if (!me) return;
  const course = me.course;
  const title = text(course?.title) || t('course.heading');
  el.title.textContent = title;
  document.title = t('course.pageTitle', { title });
  const description = text(course?.description);
  el.description.textContent = description;
  el.description.hidden = !description;

  el.whoName.textContent = text(me.name) || t('course.who.shared');
  el.whoAffiliation.textContent = text(me.affiliation);
  el.whoAffiliationRow.hidden = !text(me.affiliation);
  el.whoRole.textContent = roleName(me.role);
  el.whoExpires.textContent = typeof me.expires_at_ms === 'number' ? formatDate(me.expires_at_ms) : '';

  const action = ACTIONS[me.role];
  el.sessionsSection.hidden = !action;
  if (action) {
    const sessions = (Array.isArray(me.sessions) ? me.sessions : [])
      .filter((s) => s && typeof s.id === 'string')
      .sort(bySchedule);
    el.sessions.replaceChildren(...sessions.map((s) => sessionItem(s, action)));
    el.sessionsEmpty.hidden = sessions.length > 0;
  }
  el.replays.hidden = !me.replays;
  el.recordingsLink.href = `/recordings${keyFragment(location.hash)}`;

  el.content.hidden = false;
  delete document.body.dataset.error;
  showStatus('ready', t('course.ready', { role: roleName(me.role) }));
}

/** Open sessions first, by start (unscheduled last); then the ended ones, latest first. */
function bySchedule(/** @type {MeSession} */ a, /** @type {MeSession} */ b) {
  if (a.ended !== b.ended) return a.ended ? 1 : -1;
  const sa = a.starts_at_ms ?? Number.MAX_SAFE_INTEGER;
  const sb = b.starts_at_ms ?? Number.MAX_SAFE_INTEGER;
  return a.ended ? sb - sa : sa - sb;
}

/** @param {MeSession} s @param {string} actionKey */
function sessionItem(s, actionKey) {
  const li = document.createElement('li');
  li.className = 'session-item';
  li.dataset.session = s.id;
  const state = s.cancelled ? 'cancelled' : s.ended ? 'ended' : 'open';
  li.dataset.sessionState = state;

  const head = document.createElement('div');
  head.className = 'session-head';
  const h3 = document.createElement('h3');
  const titleId = `session-title-${s.id}`;
  h3.id = titleId;
  h3.textContent = text(s.title) || t('library.untitledSession');
  head.append(h3);
  if (state !== 'open') {
    const badge = document.createElement('span');
    badge.className = 'state-badge';
    badge.dataset.state = state;
    badge.textContent = t(`course.sessions.states.${state}`);
    head.append(badge);
  }
  li.append(head);

  const when = document.createElement('p');
  when.className = 'session-when';
  const whenId = `session-when-${s.id}`;
  when.id = whenId;
  when.textContent = scheduleText(s);
  li.append(when);

  if (state === 'open') {
    const a = document.createElement('a');
    a.className = 'btn btn-primary session-open';
    a.href = linkPath(/** @type {any} */ (me?.role), s.id, keyFromHash(location.hash));
    a.textContent = t(actionKey);
    a.setAttribute('aria-describedby', `${titleId} ${whenId}`);
    li.append(a);
  }
  return li;
}

/** The scheduled start and end, in the viewer's time zone. @param {MeSession} s */
function scheduleText(s) {
  const start = typeof s.starts_at_ms === 'number' ? s.starts_at_ms : null;
  const end = typeof s.ends_at_ms === 'number' ? s.ends_at_ms : null;
  const long = /** @type {Intl.DateTimeFormatOptions} */ ({ dateStyle: 'full', timeStyle: 'short' });
  if (start === null && end === null) return t('course.sessions.unscheduled');
  if (start === null) return t('course.sessions.until', { end: formatDate(/** @type {number} */ (end), long) });
  if (end === null) return t('course.sessions.from', { start: formatDate(start, long) });
  const sameDay = new Date(start).toDateString() === new Date(end).toDateString();
  return t('course.sessions.when', {
    start: formatDate(start, long),
    end: formatDate(end, sameDay ? { timeStyle: 'short' } : long),
  });
}

/** @param {string} role */
function roleName(role) {
  return has(`common.roles.${role}`) ? t(`common.roles.${role}`) : role;
}

/** @param {unknown} value */
function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}

el.retry.addEventListener('click', () => {
  load();
});

// A different link pasted into the same tab.
window.addEventListener('hashchange', () => {
  load();
});

document.title = t('course.pageTitleDefault');
onLanguageChange(() => {
  if (me) render();
  else if (failure) showStatus('error', errorText(failure), 'error');
  else document.title = t('course.pageTitleDefault');
});
load();
