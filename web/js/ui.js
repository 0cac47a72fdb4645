// Small DOM helpers shared by the pages. No user-visible strings live here: they are in
// web/i18n/<lang>.json, read through i18n.js.

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

/**
 * Elapsed time as `mm:ss`, or `h:mm:ss` from one hour on.
 * @param {number} ms
 */
export function formatElapsed(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/**
 * The "Recording mm:ss" indicator of the top bar. Its element keeps `data-recording` set to the
 * server's state at all times and is `hidden` unless the session is being recorded. The elapsed
 * time counts from the server's `since_ms`; a client clock ahead of or behind the server's can
 * only shift it, never make it negative.
 */
export class RecordingIndicator {
  /** @param {HTMLElement} el  holds a `.rec-time` element for the elapsed time */
  constructor(el) {
    this.el = el;
    this.timeEl = /** @type {HTMLElement | null} */ (el.querySelector('.rec-time'));
    /** @type {number | null} */ this.since = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */ this.timer = undefined;
  }

  /**
   * @param {import('./protocol.js').RecordingInfo} info
   * @param {boolean} [visible]  false hides it whatever the state (the page is over)
   */
  update(info, visible = true) {
    this.el.dataset.recording = info.state;
    const on = visible && info.state === 'on';
    this.el.hidden = !on;
    if (!on) {
      this.since = null;
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const since = info.since_ms ?? this.since ?? Date.now();
    this.since = since;
    this.tick();
    this.timer ??= setInterval(() => this.tick(), 1000);
  }

  tick() {
    if (this.since === null || !this.timeEl) return;
    const text = formatElapsed(Date.now() - this.since);
    if (this.timeEl.textContent !== text) this.timeEl.textContent = text;
  }
}
