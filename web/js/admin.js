// The admin page (`/admin#k=<admin key>`), driven entirely by the admin API (docs/access.md):
// courses, their sessions and invites, roster imports, the audit log and erasure. Plain forms and
// tables; every API error shows the server's `message` next to the form that caused it.

import { byId } from './ui.js';
import { authHeaders, keyFromHash } from './links.js';
import { formatDate, has, initI18n, mountLanguageSwitch, onLanguageChange, t, tn } from './i18n.js';

await initI18n();
mountLanguageSwitch();

/** An error answer of the API. */
class ApiError extends Error {
  /** @param {string} code @param {string} message @param {number} status */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * Calls the API with the page's key. A string body is sent as CSV, anything else as JSON.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<Response>}  a successful response
 */
async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = authHeaders(location.hash, { Accept: 'application/json' });
  /** @type {BodyInit | undefined} */
  let payload;
  if (typeof body === 'string') {
    headers['Content-Type'] = 'text/csv; charset=utf-8';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  } catch (err) {
    throw new ApiError('network', t('admin.errors.network'), 0);
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(
      typeof data?.error === 'string' ? data.error : 'http',
      typeof data?.message === 'string' && data.message ? data.message : `HTTP ${response.status}`,
      response.status,
    );
  }
  return response;
}

/** @param {string} method @param {string} path @param {unknown} [body] */
async function api(method, path, body) {
  return (await call(method, path, body)).json();
}

/** @param {unknown} err */
function message(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Saves a blob as a file.
 * @param {Blob} blob
 * @param {string} name
 */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** `YYYY-MM-DDTHH:MM` in local time, for datetime-local inputs. @param {number | null | undefined} ms */
function toLocalInput(ms) {
  if (typeof ms !== 'number') return '';
  const d = new Date(ms);
  const local = new Date(ms - d.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

/** Milliseconds from a datetime-local value; null when empty, NaN when unreadable. @param {string} value */
function fromLocalInput(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : NaN;
}

/** A positive whole number from a field; null when empty, NaN when not one. @param {HTMLInputElement} input */
function wholeNumber(input) {
  const v = input.value.trim();
  if (!v) return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : NaN;
}

/** @param {HTMLElement} errorEl @param {string} text @param {HTMLElement} [field] */
function showError(errorEl, text, field) {
  errorEl.textContent = text;
  errorEl.hidden = !text;
  if (field && text) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

/** @param {HTMLFormElement} form */
function clearInvalid(form) {
  for (const f of form.querySelectorAll('[aria-invalid]')) f.removeAttribute('aria-invalid');
}

/** @param {HTMLElement} doneEl @param {string} text */
function showDone(doneEl, text) {
  doneEl.textContent = text;
}

/** Makes an element with a class and text. @param {string} tag @param {string} [cls] @param {string} [text] */
function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A table cell. @param {string | Node} content */
function td(content) {
  const cell = document.createElement('td');
  cell.append(content);
  return cell;
}

/** A button for a table row. @param {string} action @param {string} id @param {string} label @param {string} [cls] */
function rowButton(action, id, label, cls = 'btn btn-small') {
  const b = /** @type {HTMLButtonElement} */ (make('button', cls, label));
  b.type = 'button';
  b.dataset.action = action;
  b.dataset.id = id;
  return b;
}

/** @param {string} role */
function roleName(role) {
  return has(`common.roles.${role}`) ? t(`common.roles.${role}`) : role;
}

/** @param {string} lang */
function languageName(lang) {
  return has(`common.languages.${lang}`) ? t(`common.languages.${lang}`) : lang;
}

/** @param {number | null | undefined} ms */
function when(ms) {
  return typeof ms === 'number' ? formatDate(ms) : '—';
}

// ----- page -------------------------------------------------------------------------------------

const el = {
  status: byId('status'),
  retry: /** @type {HTMLButtonElement} */ (byId('retry')),
  content: byId('admin-content'),
  who: byId('admin-who'),

  courseRows: byId('course-rows'),
  coursesEmpty: byId('courses-empty'),
  courseForm: /** @type {HTMLFormElement} */ (byId('course-form')),
  courseLegend: byId('course-form-legend'),
  courseTitle: /** @type {HTMLInputElement} */ (byId('course-title')),
  courseDescription: /** @type {HTMLTextAreaElement} */ (byId('course-description')),
  courseLanguage: /** @type {HTMLSelectElement} */ (byId('course-language')),
  courseRetention: /** @type {HTMLInputElement} */ (byId('course-retention')),
  courseKeep: /** @type {HTMLInputElement} */ (byId('course-keep')),
  courseRecord: /** @type {HTMLInputElement} */ (byId('course-record')),
  courseSubmit: /** @type {HTMLButtonElement} */ (byId('course-submit')),
  courseCancelEdit: /** @type {HTMLButtonElement} */ (byId('course-cancel-edit')),
  courseError: byId('course-error'),
  courseDone: byId('course-done'),

  coursePanel: byId('course-panel'),
  coursePanelHeading: byId('course-panel-heading'),

  sessionRows: byId('session-rows'),
  sessionsEmpty: byId('sessions-empty'),
  sessionForm: /** @type {HTMLFormElement} */ (byId('session-form')),
  sessionLegend: byId('session-form-legend'),
  sessionTitle: /** @type {HTMLInputElement} */ (byId('session-title')),
  sessionStarts: /** @type {HTMLInputElement} */ (byId('session-starts')),
  sessionEnds: /** @type {HTMLInputElement} */ (byId('session-ends')),
  sessionSubmit: /** @type {HTMLButtonElement} */ (byId('session-submit')),
  sessionCancelEdit: /** @type {HTMLButtonElement} */ (byId('session-cancel-edit')),
  sessionError: byId('session-error'),
  sessionDone: byId('session-done'),

  inviteForm: /** @type {HTMLFormElement} */ (byId('invite-form')),
  inviteRole: /** @type {HTMLSelectElement} */ (byId('invite-role')),
  inviteName: /** @type {HTMLInputElement} */ (byId('invite-name')),
  inviteAffiliation: /** @type {HTMLInputElement} */ (byId('invite-affiliation')),
  inviteEmail: /** @type {HTMLInputElement} */ (byId('invite-email')),
  inviteExpires: /** @type {HTMLInputElement} */ (byId('invite-expires')),
  inviteMaxUses: /** @type {HTMLInputElement} */ (byId('invite-max-uses')),
  inviteError: byId('invite-error'),
  inviteCreated: byId('invite-created'),
  inviteCreatedText: byId('invite-created-text'),
  inviteLink: /** @type {HTMLInputElement} */ (byId('invite-link')),
  inviteCopy: /** @type {HTMLButtonElement} */ (byId('invite-copy')),
  inviteCopyStatus: byId('invite-copy-status'),
  inviteRows: byId('invite-rows'),
  invitesEmpty: byId('invites-empty'),
  inviteListError: byId('invite-list-error'),

  rosterForm: /** @type {HTMLFormElement} */ (byId('roster-form')),
  rosterFile: /** @type {HTMLInputElement} */ (byId('roster-file')),
  rosterText: /** @type {HTMLTextAreaElement} */ (byId('roster-text')),
  rosterDays: /** @type {HTMLInputElement} */ (byId('roster-days')),
  rosterMaxUses: /** @type {HTMLInputElement} */ (byId('roster-max-uses')),
  rosterSubmit: /** @type {HTMLButtonElement} */ (byId('roster-submit')),
  rosterDownload: /** @type {HTMLButtonElement} */ (byId('roster-download')),
  rosterError: byId('roster-error'),
  rosterDone: byId('roster-done'),

  auditForm: /** @type {HTMLFormElement} */ (byId('audit-form')),
  auditAction: /** @type {HTMLInputElement} */ (byId('audit-action')),
  auditActions: byId('audit-actions'),
  auditSince: /** @type {HTMLInputElement} */ (byId('audit-since')),
  auditUntil: /** @type {HTMLInputElement} */ (byId('audit-until')),
  auditCsv: /** @type {HTMLButtonElement} */ (byId('audit-csv')),
  auditError: byId('audit-error'),
  auditDone: byId('audit-done'),
  auditTable: byId('audit-table'),
  auditRows: byId('audit-rows'),

  eraseSection: /** @type {HTMLDetailsElement} */ (byId('erase-section')),
  eraseForm: /** @type {HTMLFormElement} */ (byId('erase-form')),
  eraseRecording: /** @type {HTMLSelectElement} */ (byId('erase-recording')),
  eraseInvite: /** @type {HTMLSelectElement} */ (byId('erase-invite')),
  eraseConfirm: /** @type {HTMLInputElement} */ (byId('erase-confirm')),
  eraseSubmit: /** @type {HTMLButtonElement} */ (byId('erase-submit')),
  eraseReload: /** @type {HTMLButtonElement} */ (byId('erase-reload')),
  eraseError: byId('erase-error'),
  eraseDone: byId('erase-done'),
};

/**
 * What the page holds. Tests and curious people can read it as `window.lecternAdmin`.
 */
const state = {
  /** @type {any} the `/api/me` answer */ me: null,
  /** @type {any[]} */ courses: [],
  /** @type {string | null} the course shown below the list */ course: null,
  /** @type {string | null} the course being edited */ editingCourse: null,
  /** @type {any[]} */ sessions: [],
  /** @type {string | null} the session being rescheduled */ editingSession: null,
  /** @type {string | null} the session whose cancellation awaits confirmation */ confirmCancel: null,
  /** @type {any[]} */ invites: [],
  /** @type {string | null} the invite whose revocation awaits confirmation */ confirmRevoke: null,
  /** @type {Blob | null} the last roster's links */ rosterLinks: null,
  /** @type {any[] | null} */ audit: null,
  /** @type {{id: string, course: string, label: string}[]} */ recordings: [],
  /** How many API calls are under way. */ busy: 0,
  /** @type {{code: string, message: string} | null} */ failure: null,
};
/** @type {any} */ (window).lecternAdmin = state;

/**
 * Runs an action with its form's submit button disabled and the page marked busy.
 * @template T
 * @param {HTMLButtonElement | null} button
 * @param {() => Promise<T>} run
 * @returns {Promise<T | undefined>}
 */
async function busy(button, run) {
  state.busy += 1;
  document.body.dataset.busy = 'true';
  if (button) button.disabled = true;
  try {
    return await run();
  } finally {
    if (button) button.disabled = false;
    state.busy -= 1;
    if (!state.busy) delete document.body.dataset.busy;
  }
}

/** @param {'loading' | 'ready' | 'error'} s @param {string} text @param {'info' | 'error'} [tone] */
function showStatus(s, text, tone = 'info') {
  document.body.dataset.state = s;
  el.status.textContent = text;
  el.status.dataset.tone = tone;
}

async function start() {
  el.retry.hidden = true;
  state.failure = null;
  if (!keyFromHash(location.hash)) {
    fail({ code: 'noKey', message: '' }, false);
    return;
  }
  showStatus('loading', t('admin.loading'));
  try {
    state.me = await api('GET', '/api/me');
    if (state.me?.role !== 'admin') {
      fail({ code: 'notAdmin', message: '' }, false);
      return;
    }
    await loadCourses();
  } catch (err) {
    const e = err instanceof ApiError ? err : new ApiError('generic', message(err), 0);
    fail({ code: e.code, message: e.message }, e.status === 0 || e.status >= 500);
    return;
  }
  el.content.hidden = false;
  renderWho();
  showStatus('ready', t('admin.ready'));
}

/** @param {{code: string, message: string}} error @param {boolean} retry */
function fail(error, retry) {
  state.failure = error;
  el.content.hidden = true;
  document.body.dataset.error = error.code;
  showStatus('error', errorText(error), 'error');
  el.retry.hidden = !retry;
}

/** @param {{code: string, message: string}} error */
function errorText(error) {
  if (has(`admin.errors.${error.code}`)) return t(`admin.errors.${error.code}`);
  return t('admin.errors.generic', { message: error.message || error.code });
}

function renderWho() {
  const name = typeof state.me?.name === 'string' ? state.me.name.trim() : '';
  el.who.textContent = name ? t('admin.signedInAs', { name }) : '';
  el.who.hidden = !name;
}

// ----- courses ----------------------------------------------------------------------------------

async function loadCourses() {
  const data = await api('GET', '/api/admin/courses');
  state.courses = Array.isArray(data?.courses) ? data.courses : [];
  renderCourses();
}

function renderCourses() {
  el.courseRows.replaceChildren(...state.courses.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.course = c.id;
    if (c.id === state.course) tr.setAttribute('aria-current', 'true');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = c.title;
    const actions = make('div', 'row-actions');
    const manage = rowButton('manage', c.id, t('admin.courses.manage'), c.id === state.course ? 'btn btn-small btn-primary' : 'btn btn-small');
    manage.setAttribute('aria-label', t('admin.courses.manageLabel', { title: c.title }));
    const edit = rowButton('edit', c.id, t('admin.edit'));
    edit.setAttribute('aria-label', t('admin.courses.editLabel', { title: c.title }));
    actions.append(manage, edit);
    tr.append(
      th,
      td(languageName(c.language)),
      td(typeof c.retention_days === 'number' ? tn('admin.courses.days', c.retention_days) : t('admin.courses.keepShort')),
      td(c.record_by_default ? t('admin.yes') : t('admin.no')),
      td(String(c.sessions ?? 0)),
      td(actions),
    );
    return tr;
  }));
  el.coursesEmpty.hidden = state.courses.length > 0;
  const current = state.courses.find((c) => c.id === state.course);
  el.coursePanel.hidden = !current;
  if (current) el.coursePanelHeading.textContent = t('admin.courses.panelHeading', { title: current.title });
}

el.courseRows.addEventListener('click', (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('button');
  if (!button) return;
  const id = button.dataset.id ?? '';
  if (button.dataset.action === 'manage') selectCourse(id);
  else if (button.dataset.action === 'edit') editCourse(id);
});

/** @param {string} id */
async function selectCourse(id) {
  state.course = id;
  state.editingSession = null;
  state.confirmCancel = null;
  state.confirmRevoke = null;
  state.rosterLinks = null;
  el.rosterDownload.hidden = true;
  el.inviteCreated.hidden = true;
  showDone(el.rosterDone, '');
  resetSessionForm();
  renderCourses();
  el.coursePanelHeading.focus();
  await busy(null, async () => {
    await Promise.all([loadSessions(), loadInvites()]);
  });
}

/** @param {string} id */
function editCourse(id) {
  const c = state.courses.find((x) => x.id === id);
  if (!c) return;
  state.editingCourse = id;
  el.courseTitle.value = c.title ?? '';
  el.courseDescription.value = c.description ?? '';
  el.courseLanguage.value = c.language ?? 'en';
  el.courseKeep.checked = c.retention_days === null || c.retention_days === undefined;
  el.courseRetention.value = typeof c.retention_days === 'number' ? String(c.retention_days) : '';
  el.courseRecord.checked = Boolean(c.record_by_default);
  el.courseCancelEdit.hidden = false;
  courseLabels();
  syncKeep();
  showError(el.courseError, '');
  showDone(el.courseDone, '');
  el.courseTitle.focus();
}

function resetCourseForm() {
  state.editingCourse = null;
  el.courseForm.reset();
  clearInvalid(el.courseForm);
  el.courseCancelEdit.hidden = true;
  courseLabels();
  syncKeep();
}

function syncKeep() {
  el.courseRetention.disabled = el.courseKeep.checked;
}

el.courseKeep.addEventListener('change', syncKeep);
el.courseCancelEdit.addEventListener('click', () => {
  resetCourseForm();
  showError(el.courseError, '');
  el.courseTitle.focus();
});

el.courseForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearInvalid(el.courseForm);
  showError(el.courseError, '');
  showDone(el.courseDone, '');
  const title = el.courseTitle.value.trim();
  if (!title) {
    showError(el.courseError, t('admin.courses.titleRequired'), el.courseTitle);
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = {
    title,
    description: el.courseDescription.value.trim(),
    language: el.courseLanguage.value,
    record_by_default: el.courseRecord.checked,
  };
  if (el.courseKeep.checked) {
    body.retention_days = null;
  } else {
    const days = wholeNumber(el.courseRetention);
    if (Number.isNaN(days)) {
      showError(el.courseError, t('admin.errors.wholeNumber'), el.courseRetention);
      return;
    }
    if (days !== null) body.retention_days = days;
  }
  const editing = state.editingCourse;
  busy(el.courseSubmit, async () => {
    try {
      const course = editing
        ? await api('PATCH', `/api/admin/courses/${encodeURIComponent(editing)}`, body)
        : await api('POST', '/api/admin/courses', body);
      await loadCourses();
      resetCourseForm();
      showDone(el.courseDone, editing ? t('admin.courses.saved', { title: course.title }) : t('admin.courses.created', { title: course.title }));
      if (!editing) await selectCourse(course.id);
    } catch (err) {
      showError(el.courseError, message(err));
    }
  });
});

// ----- sessions ---------------------------------------------------------------------------------

async function loadSessions() {
  const course = state.course;
  if (!course) return;
  const data = await api('GET', `/api/admin/courses/${encodeURIComponent(course)}/sessions`).catch((err) => {
    showError(el.sessionError, message(err));
    return null;
  });
  if (state.course !== course || !data) return;
  state.sessions = Array.isArray(data.sessions) ? data.sessions : [];
  renderSessions();
}

/** @param {any} s */
function sessionState(s) {
  if (s.cancelled) return 'cancelled';
  if (s.ended) return 'ended';
  return 'open';
}

function renderSessions() {
  const sorted = [...state.sessions].sort((a, b) => (a.starts_at_ms ?? Infinity) - (b.starts_at_ms ?? Infinity));
  el.sessionRows.replaceChildren(...sorted.map((s) => {
    const tr = document.createElement('tr');
    tr.dataset.session = s.id;
    const st = sessionState(s);
    tr.dataset.sessionState = st;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = s.title;
    const badge = make('span', 'state-badge', t(`admin.sessions.states.${st}`));
    badge.dataset.state = st;
    const actions = make('div', 'row-actions');
    if (st === 'open') {
      if (state.confirmCancel === s.id) {
        const yes = rowButton('cancel-confirm', s.id, t('admin.sessions.cancelYes'), 'btn btn-small btn-danger');
        yes.setAttribute('aria-label', t('admin.sessions.cancelYesLabel', { title: s.title }));
        actions.append(yes, rowButton('cancel-keep', s.id, t('admin.sessions.cancelNo')));
      } else {
        const schedule = rowButton('schedule', s.id, t('admin.sessions.schedule'));
        schedule.setAttribute('aria-label', t('admin.sessions.scheduleLabel', { title: s.title }));
        const cancel = rowButton('cancel', s.id, t('admin.sessions.cancel'), 'btn btn-small btn-danger-outline');
        cancel.setAttribute('aria-label', t('admin.sessions.cancelLabel', { title: s.title }));
        actions.append(schedule, cancel);
      }
    }
    tr.append(th, td(when(s.starts_at_ms)), td(when(s.ends_at_ms)), td(badge), td(actions));
    return tr;
  }));
  el.sessionsEmpty.hidden = state.sessions.length > 0;
}

el.sessionRows.addEventListener('click', (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('button');
  if (!button) return;
  const id = button.dataset.id ?? '';
  const focus = (/** @type {string} */ action) => {
    /** @type {HTMLElement | null} */ (el.sessionRows.querySelector(`button[data-action="${action}"][data-id="${CSS.escape(id)}"]`))?.focus();
  };
  switch (button.dataset.action) {
    case 'schedule':
      scheduleSession(id);
      break;
    case 'cancel':
      state.confirmCancel = id;
      renderSessions();
      focus('cancel-confirm');
      break;
    case 'cancel-keep':
      state.confirmCancel = null;
      renderSessions();
      focus('cancel');
      break;
    case 'cancel-confirm':
      state.confirmCancel = null;
      showError(el.sessionError, '');
      busy(null, async () => {
        try {
          const s = await api('POST', `/api/admin/sessions/${encodeURIComponent(id)}/cancel`);
          showDone(el.sessionDone, t('admin.sessions.cancelled', { title: s.title }));
        } catch (err) {
          showError(el.sessionError, message(err));
        }
        await loadSessions();
      });
      break;
    default:
  }
});

/** @param {string} id */
function scheduleSession(id) {
  const s = state.sessions.find((x) => x.id === id);
  if (!s) return;
  state.editingSession = id;
  el.sessionTitle.value = s.title;
  el.sessionTitle.disabled = true;
  el.sessionStarts.value = toLocalInput(s.starts_at_ms);
  el.sessionEnds.value = toLocalInput(s.ends_at_ms);
  el.sessionCancelEdit.hidden = false;
  sessionLabels();
  showError(el.sessionError, '');
  showDone(el.sessionDone, '');
  el.sessionStarts.focus();
}

function resetSessionForm() {
  state.editingSession = null;
  el.sessionForm.reset();
  clearInvalid(el.sessionForm);
  el.sessionTitle.disabled = false;
  el.sessionCancelEdit.hidden = true;
  sessionLabels();
}

el.sessionCancelEdit.addEventListener('click', () => {
  resetSessionForm();
  showError(el.sessionError, '');
  el.sessionTitle.focus();
});

el.sessionForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const course = state.course;
  if (!course) return;
  clearInvalid(el.sessionForm);
  showError(el.sessionError, '');
  showDone(el.sessionDone, '');
  const editing = state.editingSession;
  const title = el.sessionTitle.value.trim();
  if (!editing && !title) {
    showError(el.sessionError, t('admin.sessions.titleRequired'), el.sessionTitle);
    return;
  }
  const starts = fromLocalInput(el.sessionStarts.value);
  const ends = fromLocalInput(el.sessionEnds.value);
  if (Number.isNaN(starts)) {
    showError(el.sessionError, t('admin.errors.badTime'), el.sessionStarts);
    return;
  }
  if (Number.isNaN(ends)) {
    showError(el.sessionError, t('admin.errors.badTime'), el.sessionEnds);
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = {};
  if (!editing) body.title = title;
  if (starts !== null) body.starts_at_ms = starts;
  if (ends !== null) body.ends_at_ms = ends;
  busy(el.sessionSubmit, async () => {
    try {
      const s = editing
        ? await api('PATCH', `/api/admin/sessions/${encodeURIComponent(editing)}`, body)
        : await api('POST', `/api/admin/courses/${encodeURIComponent(course)}/sessions`, body);
      resetSessionForm();
      showDone(el.sessionDone, editing ? t('admin.sessions.saved', { title: s.title }) : t('admin.sessions.created', { title: s.title }));
      await Promise.all([loadSessions(), loadCourses()]);
    } catch (err) {
      showError(el.sessionError, message(err));
    }
  });
});

// ----- invites ----------------------------------------------------------------------------------

async function loadInvites() {
  const course = state.course;
  if (!course) return;
  showError(el.inviteListError, '');
  const data = await api('GET', `/api/admin/invites?course=${encodeURIComponent(course)}`).catch((err) => {
    showError(el.inviteListError, message(err));
    return null;
  });
  if (state.course !== course || !data) return;
  state.invites = Array.isArray(data.invites) ? data.invites : [];
  renderInvites();
}

/** @param {any} i */
function inviteName(i) {
  return (typeof i.name === 'string' && i.name.trim()) || t('admin.invites.shared');
}

function renderInvites() {
  el.inviteRows.replaceChildren(...state.invites.map((i) => {
    const tr = document.createElement('tr');
    tr.dataset.invite = i.id;
    tr.dataset.inviteState = i.state;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = inviteName(i);
    const badge = make('span', 'state-badge', has(`admin.invites.states.${i.state}`) ? t(`admin.invites.states.${i.state}`) : i.state);
    badge.dataset.state = i.state;
    const uses = typeof i.max_uses === 'number'
      ? t('admin.invites.usesOf', { uses: i.uses ?? 0, max: i.max_uses })
      : String(i.uses ?? 0);
    const actions = make('div', 'row-actions');
    if (i.state !== 'revoked') {
      if (state.confirmRevoke === i.id) {
        const yes = rowButton('revoke-confirm', i.id, t('admin.invites.revokeYes'), 'btn btn-small btn-danger');
        yes.setAttribute('aria-label', t('admin.invites.revokeYesLabel', { name: inviteName(i) }));
        actions.append(yes, rowButton('revoke-keep', i.id, t('admin.invites.revokeNo')));
      } else {
        const revoke = rowButton('revoke', i.id, t('admin.invites.revoke'), 'btn btn-small btn-danger-outline');
        revoke.setAttribute('aria-label', t('admin.invites.revokeLabel', { name: inviteName(i) }));
        actions.append(revoke);
      }
    }
    tr.append(th, td(i.affiliation ?? ''), td(roleName(i.role)), td(badge), td(uses), td(when(i.expires_at_ms)), td(actions));
    return tr;
  }));
  el.invitesEmpty.hidden = state.invites.length > 0;
}

el.inviteRows.addEventListener('click', (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('button');
  if (!button) return;
  const id = button.dataset.id ?? '';
  const focus = (/** @type {string} */ action) => {
    /** @type {HTMLElement | null} */ (el.inviteRows.querySelector(`button[data-action="${action}"][data-id="${CSS.escape(id)}"]`))?.focus();
  };
  switch (button.dataset.action) {
    case 'revoke':
      state.confirmRevoke = id;
      renderInvites();
      focus('revoke-confirm');
      break;
    case 'revoke-keep':
      state.confirmRevoke = null;
      renderInvites();
      focus('revoke');
      break;
    case 'revoke-confirm':
      state.confirmRevoke = null;
      showError(el.inviteListError, '');
      busy(null, async () => {
        try {
          await api('POST', `/api/admin/invites/${encodeURIComponent(id)}/revoke`);
        } catch (err) {
          showError(el.inviteListError, message(err));
        }
        await loadInvites();
      });
      break;
    default:
  }
});

el.inviteForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const course = state.course;
  if (!course) return;
  clearInvalid(el.inviteForm);
  showError(el.inviteError, '');
  // An administrator's invite is not limited to a course.
  const role = el.inviteRole.value;
  /** @type {Record<string, unknown>} */
  const body = {
    ...(role === 'admin' ? {} : { course }),
    role,
    name: el.inviteName.value.trim(),
    affiliation: el.inviteAffiliation.value.trim(),
    email: el.inviteEmail.value.trim(),
  };
  if (el.inviteExpires.value) {
    // The end of the chosen day, in local time.
    const ms = new Date(`${el.inviteExpires.value}T23:59:59`).getTime();
    if (!Number.isFinite(ms)) {
      showError(el.inviteError, t('admin.errors.badTime'), el.inviteExpires);
      return;
    }
    body.expires_at_ms = ms;
  }
  const maxUses = wholeNumber(el.inviteMaxUses);
  if (Number.isNaN(maxUses)) {
    showError(el.inviteError, t('admin.errors.wholeNumber'), el.inviteMaxUses);
    return;
  }
  if (maxUses !== null) body.max_uses = maxUses;
  busy(/** @type {HTMLButtonElement} */ (byId('invite-submit')), async () => {
    try {
      const made = await api('POST', '/api/admin/invites', body);
      el.inviteForm.reset();
      // The key exists nowhere else: the link is shown this once.
      el.inviteCreatedText.textContent = t('admin.invites.created', { name: inviteName(made.invite) });
      el.inviteLink.value = made.link;
      el.inviteCopyStatus.textContent = '';
      el.inviteCreated.hidden = false;
      el.inviteCreatedText.focus();
      await loadInvites();
    } catch (err) {
      showError(el.inviteError, message(err));
    }
  });
});

el.inviteCopy.addEventListener('click', async () => {
  el.inviteLink.select();
  try {
    await navigator.clipboard.writeText(el.inviteLink.value);
    el.inviteCopyStatus.textContent = t('admin.invites.copied');
  } catch {
    el.inviteCopyStatus.textContent = t('admin.invites.copyManually');
  }
});

// ----- roster -----------------------------------------------------------------------------------

el.rosterForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const course = state.course;
  if (!course) return;
  clearInvalid(el.rosterForm);
  showError(el.rosterError, '');
  showDone(el.rosterDone, '');
  const days = wholeNumber(el.rosterDays);
  if (Number.isNaN(days)) {
    showError(el.rosterError, t('admin.errors.wholeNumber'), el.rosterDays);
    return;
  }
  const maxUses = wholeNumber(el.rosterMaxUses);
  if (Number.isNaN(maxUses)) {
    showError(el.rosterError, t('admin.errors.wholeNumber'), el.rosterMaxUses);
    return;
  }
  busy(el.rosterSubmit, async () => {
    const file = el.rosterFile.files?.[0];
    const text = file ? await file.text() : el.rosterText.value;
    if (!text.trim()) {
      showError(el.rosterError, t('admin.roster.emptyRoster'), el.rosterText);
      return;
    }
    const query = new URLSearchParams();
    if (days !== null) query.set('valid_days', String(days));
    if (maxUses !== null) query.set('max_uses', String(maxUses));
    const q = query.toString();
    try {
      const response = await call('POST', `/api/admin/courses/${encodeURIComponent(course)}/roster${q ? `?${q}` : ''}`, text);
      const csv = await response.text();
      const blob = new Blob([csv], { type: 'text/csv' });
      state.rosterLinks = blob;
      const count = Math.max(0, csv.split(/\r?\n/).filter((line) => line.trim()).length - 1);
      download(blob, 'links.csv');
      el.rosterForm.reset();
      el.rosterDownload.hidden = false;
      showDone(el.rosterDone, tn('admin.roster.done', count));
      await loadInvites();
    } catch (err) {
      showError(el.rosterError, message(err));
    }
  });
});

el.rosterDownload.addEventListener('click', () => {
  if (state.rosterLinks) download(state.rosterLinks, 'links.csv');
});

// ----- audit log --------------------------------------------------------------------------------

/** The filter's query, or null after showing what is wrong with it. */
function auditQuery() {
  clearInvalid(el.auditForm);
  showError(el.auditError, '');
  const query = new URLSearchParams();
  const action = el.auditAction.value.trim();
  if (action) query.set('action', action);
  const since = fromLocalInput(el.auditSince.value);
  const until = fromLocalInput(el.auditUntil.value);
  if (Number.isNaN(since)) {
    showError(el.auditError, t('admin.errors.badTime'), el.auditSince);
    return null;
  }
  if (Number.isNaN(until)) {
    showError(el.auditError, t('admin.errors.badTime'), el.auditUntil);
    return null;
  }
  if (since !== null) query.set('since_ms', String(since));
  if (until !== null) query.set('until_ms', String(until));
  return query;
}

el.auditForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const query = auditQuery();
  if (!query) return;
  showDone(el.auditDone, '');
  busy(/** @type {HTMLButtonElement} */ (byId('audit-show')), async () => {
    try {
      const data = await api('GET', `/api/admin/audit?${query}`);
      state.audit = Array.isArray(data?.entries) ? data.entries : [];
      renderAudit();
    } catch (err) {
      showError(el.auditError, message(err));
    }
  });
});

function renderAudit() {
  const entries = state.audit ?? [];
  el.auditRows.replaceChildren(...entries.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.action = e.action;
    const who = e.actor_name ? `${e.actor_name} (${e.actor})` : String(e.actor ?? '');
    tr.append(
      td(formatDate(e.at_ms, { dateStyle: 'short', timeStyle: 'medium' })),
      td(who),
      td(e.role ? roleName(e.role) : ''),
      td(e.action ?? ''),
      td(e.target ?? ''),
      td(e.detail ?? ''),
    );
    return tr;
  }));
  el.auditTable.hidden = entries.length === 0;
  showDone(el.auditDone, entries.length ? tn('admin.audit.count', entries.length) : t('admin.audit.none'));
  // Offer the actions seen so far in the filter.
  const known = new Set([...el.auditActions.querySelectorAll('option')].map((o) => o.value));
  for (const e of entries) {
    if (typeof e.action === 'string' && !known.has(e.action)) {
      known.add(e.action);
      const o = document.createElement('option');
      o.value = e.action;
      el.auditActions.append(o);
    }
  }
}

el.auditCsv.addEventListener('click', () => {
  const query = auditQuery();
  if (!query) return;
  query.set('format', 'csv');
  showDone(el.auditDone, '');
  busy(el.auditCsv, async () => {
    try {
      const response = await call('GET', `/api/admin/audit?${query}`);
      const blob = new Blob([await response.text()], { type: 'text/csv' });
      download(blob, 'audit.csv');
      showDone(el.auditDone, t('admin.audit.downloaded'));
    } catch (err) {
      showError(el.auditError, message(err));
    }
  });
});

// ----- erasure ----------------------------------------------------------------------------------

async function loadRecordings() {
  showError(el.eraseError, '');
  try {
    const data = await api('GET', '/api/library');
    /** @type {{id: string, course: string, label: string}[]} */
    const list = [];
    for (const course of Array.isArray(data?.courses) ? data.courses : []) {
      for (const session of Array.isArray(course?.sessions) ? course.sessions : []) {
        for (const rec of Array.isArray(session?.recordings) ? session.recordings : []) {
          if (!rec || typeof rec.id !== 'string') continue;
          const date = typeof rec.started_at_ms === 'number' ? formatDate(rec.started_at_ms) : t('library.unknownDate');
          list.push({ id: rec.id, course: course.id, label: `${course.title} · ${session.title} · ${date}` });
        }
      }
    }
    state.recordings = list;
  } catch (err) {
    state.recordings = [];
    showError(el.eraseError, message(err));
  }
  renderRecordings();
  await loadEraseInvites();
}

function renderRecordings() {
  const chosen = el.eraseRecording.value;
  const options = state.recordings.map((r) => {
    const o = document.createElement('option');
    o.value = r.id;
    o.textContent = r.label;
    return o;
  });
  if (!options.length) {
    const o = document.createElement('option');
    o.value = '';
    o.textContent = t('admin.erase.noRecordings');
    options.push(o);
  }
  el.eraseRecording.replaceChildren(...options);
  if (state.recordings.some((r) => r.id === chosen)) el.eraseRecording.value = chosen;
}

async function loadEraseInvites() {
  const rec = state.recordings.find((r) => r.id === el.eraseRecording.value);
  if (!rec) {
    el.eraseInvite.replaceChildren();
    return;
  }
  try {
    const data = await api('GET', `/api/admin/invites?course=${encodeURIComponent(rec.course)}`);
    const invites = Array.isArray(data?.invites) ? data.invites : [];
    el.eraseInvite.replaceChildren(...invites.map((i) => {
      const o = document.createElement('option');
      o.value = i.id;
      const extra = [roleName(i.role), i.affiliation, i.email].filter(Boolean).join(', ');
      o.textContent = `${inviteName(i)} (${extra})`;
      return o;
    }));
  } catch (err) {
    showError(el.eraseError, message(err));
  }
}

el.eraseSection.addEventListener('toggle', () => {
  if (el.eraseSection.open) busy(null, loadRecordings);
});
el.eraseReload.addEventListener('click', () => {
  busy(el.eraseReload, loadRecordings);
});
el.eraseRecording.addEventListener('change', () => {
  busy(null, loadEraseInvites);
});

el.eraseForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearInvalid(el.eraseForm);
  showError(el.eraseError, '');
  showDone(el.eraseDone, '');
  const recording = el.eraseRecording.value;
  const invite = el.eraseInvite.value;
  if (!recording) {
    showError(el.eraseError, t('admin.erase.pickRecording'), el.eraseRecording);
    return;
  }
  if (!invite) {
    showError(el.eraseError, t('admin.erase.pickPerson'), el.eraseInvite);
    return;
  }
  if (!el.eraseConfirm.checked) {
    showError(el.eraseError, t('admin.erase.confirmFirst'), el.eraseConfirm);
    return;
  }
  busy(el.eraseSubmit, async () => {
    try {
      const r = await api('POST', `/api/admin/recordings/${encodeURIComponent(recording)}/erase`, { invite });
      el.eraseConfirm.checked = false;
      showDone(el.eraseDone, t('admin.erase.done', { files: r.files, events: r.events }));
    } catch (err) {
      showError(el.eraseError, message(err));
    }
  });
});

// ----- start ------------------------------------------------------------------------------------

el.retry.addEventListener('click', () => {
  start();
});
window.addEventListener('hashchange', () => {
  start();
});

document.title = t('admin.pageTitle');
onLanguageChange(() => {
  document.title = t('admin.pageTitle');
  if (state.failure) {
    showStatus('error', errorText(state.failure), 'error');
    return;
  }
  if (document.body.dataset.state === 'ready') showStatus('ready', t('admin.ready'));
  renderWho();
  renderCourses();
  renderSessions();
  renderInvites();
  if (state.audit) renderAudit();
  courseLabels();
  sessionLabels();
});

/** The course form's legend and button: new, or editing one. */
function courseLabels() {
  const c = state.courses.find((x) => x.id === state.editingCourse);
  el.courseLegend.textContent = c ? t('admin.courses.editing', { title: c.title }) : t('admin.courses.new');
  el.courseSubmit.textContent = c ? t('admin.courses.save') : t('admin.courses.create');
}

/** The session form's legend and button: new, or rescheduling one. */
function sessionLabels() {
  const s = state.sessions.find((x) => x.id === state.editingSession);
  el.sessionLegend.textContent = s ? t('admin.sessions.scheduling', { title: s.title }) : t('admin.sessions.new');
  el.sessionSubmit.textContent = s ? t('admin.sessions.save') : t('admin.sessions.create');
}

courseLabels();
sessionLabels();
start();
