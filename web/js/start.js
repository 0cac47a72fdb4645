// The start page: paste a session link (or a session id and key) and go there.

import { byId } from './ui.js';
import { linkPath, parseLink } from './links.js';
import { initI18n, mountLanguageSwitch, onLanguageChange, t } from './i18n.js';

await initI18n();
mountLanguageSwitch();


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
    setError(linkError, [linkInput], t('start.open.empty'));
    linkInput.focus();
    return;
  }
  const link = parseLink(text, location.href);
  if (!link || !link.role) {
    setError(linkError, [linkInput], t('start.open.invalid'));
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
    setError(manualError, [sessionInput, keyInput], t('start.manual.missing'));
    (session ? keyInput : sessionInput).focus();
    return;
  }
  setError(manualError, [sessionInput, keyInput], '');
  const checked = /** @type {HTMLInputElement | null} */ (manualForm.querySelector('input[name="role"]:checked'));
  const role = checked?.value === 'facilitator' ? 'facilitator' : 'participant';
  go(linkPath(role, session, key));
});

document.title = t('start.title');
onLanguageChange(() => {
  document.title = t('start.title');
});
