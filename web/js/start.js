// The start page: paste a session link (or a session id and key) and go there.

import { applyStrings, byId } from './ui.js';
import { linkPath, parseLink } from './links.js';

const STRINGS = {
  title: 'lectern',
  tagline: 'Live video sessions for blended instruction.',
  description: 'A facilitator in the classroom broadcasts camera, microphone and screen; remote participants watch in their browser. Nothing to install.',
  open: {
    heading: 'Open a session',
    linkLabel: 'Session link',
    linkPlaceholder: 'https://…/watch/…#k=…',
    linkHint: 'Paste the facilitator or participant link. Facilitator links are printed by the server when it starts; participants get theirs from the organiser.',
    submit: 'Open',
    empty: 'Paste a link first.',
    invalid: 'This is not a lectern session link. It should contain /facilitate/ or /watch/, the session id, and #k= followed by the key.',
  },
  manual: {
    summary: 'I have a session id and a key instead',
    sessionLabel: 'Session id',
    keyLabel: 'Key',
    roleLegend: 'I am',
    participant: 'a participant (watch)',
    facilitator: 'the facilitator (present)',
    submit: 'Open session',
    missing: 'Enter both the session id and the key.',
  },
  footer: 'The key is the part of a link after “#”. Browsers do not send it with page requests, so it stays out of server logs. Keep facilitator links to yourself.',
  library: 'Recorded sessions',
};

const linkForm = /** @type {HTMLFormElement} */ (byId('open-link'));
const linkInput = /** @type {HTMLInputElement} */ (byId('link'));
const linkError = byId('link-error');
const manualForm = /** @type {HTMLFormElement} */ (byId('open-manual'));
const sessionInput = /** @type {HTMLInputElement} */ (byId('session-id'));
const keyInput = /** @type {HTMLInputElement} */ (byId('session-key'));
const manualError = byId('manual-error');

/**
 * Shows or clears a field error and marks the inputs it is about.
 * @param {HTMLElement} errorEl
 * @param {HTMLInputElement[]} inputs
 * @param {string} text
 */
function setError(errorEl, inputs, text) {
  errorEl.textContent = text;
  errorEl.hidden = !text;
  for (const input of inputs) {
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

/**
 * Goes to a session page on this server. A pasted link's own host is not used: the link may name
 * the address the server listens on rather than the one this browser reached it by.
 * @param {string} path
 */
function go(path) {
  location.assign(new URL(path, location.origin).href);
}

linkForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = linkInput.value.trim();
  if (!text) {
    setError(linkError, [linkInput], STRINGS.open.empty);
    linkInput.focus();
    return;
  }
  const link = parseLink(text, location.href);
  if (!link || !link.role) {
    setError(linkError, [linkInput], STRINGS.open.invalid);
    linkInput.focus();
    return;
  }
  setError(linkError, [linkInput], '');
  go(linkPath(link.role, link.session, link.key));
});

manualForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const session = sessionInput.value.trim();
  const key = keyInput.value.trim();
  if (!session || !key) {
    setError(manualError, [sessionInput, keyInput], STRINGS.manual.missing);
    (session ? keyInput : sessionInput).focus();
    return;
  }
  setError(manualError, [sessionInput, keyInput], '');
  const checked = /** @type {HTMLInputElement | null} */ (manualForm.querySelector('input[name="role"]:checked'));
  const role = checked?.value === 'facilitator' ? 'facilitator' : 'participant';
  go(linkPath(role, session, key));
});

applyStrings(document, STRINGS);
document.title = STRINGS.title;
