// Small DOM helpers shared by the pages. No user-visible strings live here: every page keeps its
// own in one STRINGS object and passes them in.

/** @typedef {'connecting' | 'waiting' | 'live' | 'paused' | 'reconnecting' | 'ended' | 'error'} PageState */

/**
 * The element with this id; throws if the page lacks it (a page/markup mismatch is a bug).
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return /** @type {T} */ (el);
}

/**
 * Fills the page's static text from a strings object: `data-text="a.b"` sets textContent,
 * `data-label="a.b"` sets aria-label, `data-placeholder="a.b"` sets placeholder.
 * @param {ParentNode} root
 * @param {Record<string, any>} strings
 */
export function applyStrings(root, strings) {
  for (const el of root.querySelectorAll('[data-text]')) {
    const value = lookup(strings, el.getAttribute('data-text'));
    if (value !== undefined) el.textContent = value;
  }
  for (const el of root.querySelectorAll('[data-label]')) {
    const value = lookup(strings, el.getAttribute('data-label'));
    if (value !== undefined) el.setAttribute('aria-label', value);
  }
  for (const el of root.querySelectorAll('[data-placeholder]')) {
    const value = lookup(strings, el.getAttribute('data-placeholder'));
    if (value !== undefined) el.setAttribute('placeholder', value);
  }
}

/**
 * @param {Record<string, any>} strings
 * @param {string | null} path  dotted, e.g. "controls.goLive"
 * @returns {string | undefined}
 */
function lookup(strings, path) {
  if (!path) return undefined;
  /** @type {any} */
  let value = strings;
  for (const part of path.split('.')) value = value?.[part];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Replaces `{name}` placeholders.
 * @param {string} template
 * @param {Record<string, string | number>} values
 */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/**
 * Picks the singular or plural form: `{one: '1 person', other: '{n} people'}`.
 * @param {{one: string, other: string}} forms
 * @param {number} n
 */
export function plural(forms, n) {
  return format(n === 1 ? forms.one : forms.other, { n });
}

/**
 * The page state: the session state merged with the connection state.
 * `error` and `ended` are final; `reconnecting` wins while our socket is down.
 * @param {import('./protocol.js').LecternClient} client
 * @returns {PageState}
 */
export function pageState(client) {
  if (client.fatalError) return 'error';
  if (client.sessionState === 'ended') return 'ended';
  const connection = client.connectionState;
  if (connection === 'reconnecting') return 'reconnecting';
  if (connection === 'connecting' || connection === 'idle') return 'connecting';
  if (connection === 'closed') return 'ended';
  const session = client.sessionState;
  if (session === 'live' || session === 'paused' || session === 'waiting') return session;
  return 'waiting';
}

/**
 * Shows a state on `<body data-state>` and in the live status element.
 * The status text is only rewritten when it changes, so screen readers hear each change once.
 * @param {PageState} state
 * @param {string} text
 * @param {HTMLElement} statusEl
 */
export function showState(state, text, statusEl) {
  document.body.dataset.state = state;
  if (statusEl.textContent !== text) statusEl.textContent = text;
}

/**
 * Sets a toggle button's pressed state and label.
 * @param {HTMLButtonElement} button
 * @param {boolean} pressed
 * @param {string} label
 */
export function setToggle(button, pressed, label) {
  button.setAttribute('aria-pressed', String(pressed));
  if (button.textContent !== label) button.textContent = label;
}

/**
 * Shows a transient message in an element (empty text hides it).
 * @param {HTMLElement} el
 * @param {string} text
 * @param {'info' | 'warning' | 'error'} [tone]
 */
export function showMessage(el, text, tone = 'info') {
  el.textContent = text;
  el.dataset.tone = tone;
  el.hidden = !text;
}

/**
 * Attaches a stream to a media element and starts it; resolves false when autoplay was refused.
 * @param {HTMLMediaElement} el
 * @param {MediaStream | null} stream
 * @returns {Promise<boolean>}
 */
export async function playStream(el, stream) {
  if (el.srcObject !== stream) el.srcObject = stream;
  if (!stream) return true;
  try {
    await el.play();
    return true;
  } catch (err) {
    // AbortError: a newer srcObject replaced this one; not a refusal.
    return !(err instanceof DOMException && err.name === 'NotAllowedError');
  }
}
