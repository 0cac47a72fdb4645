// The interface's languages. Every user-visible string lives in `web/i18n/<lang>.json` (nested
// objects, addressed by dotted keys such as "watch.join.button"); pages call `initI18n()` once
// (top-level await), then `t()` for the text they build and `applyStrings()` for their markup:
//   data-text="key"         sets textContent
//   data-label="key"        sets aria-label
//   data-placeholder="key"  sets placeholder
//   data-title="key"        sets title
// A key missing from the chosen language falls back to English and is recorded in
// `window.lecternI18n.missing`; one missing in English too shows the key itself.

/** The languages offered, in the order of the switch. */
export const LANGUAGES = Object.freeze(['en', 'fr', 'nl', 'es']);

const STORAGE_KEY = 'lectern.lang';
const FALLBACK = 'en';

/** @type {Map<string, unknown>} */ let english = new Map();
/** @type {Map<string, unknown>} */ let strings = new Map();
let current = FALLBACK;
/** @type {Set<() => void>} */
const listeners = new Set();

/**
 * What tests and curious people can look at: the language in use and the keys that were asked
 * for but missing in it.
 */
const state = {
  /** @type {string[]} */ missing: [],
  lang: FALLBACK,
  ready: false,
};
/** @type {any} */ (globalThis).lecternI18n = state;

/** The language in use. */
export function language() {
  return current;
}

/**
 * The language to use: a saved choice, else the first of the browser's preferred languages that
 * we have (by primary subtag: "fr-CA" → "fr"), else English.
 * @param {readonly string[]} [preferred]
 * @param {string | null} [saved]
 */
export function pickLanguage(preferred = navigator.languages ?? [navigator.language], saved = readSaved()) {
  if (saved && LANGUAGES.includes(saved)) return saved;
  for (const tag of preferred ?? []) {
    const primary = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return FALLBACK;
}

function readSaved() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked
  }
}

/** @param {string} lang */
async function loadTable(lang) {
  const response = await fetch(`/i18n/${lang}.json`, { cache: 'no-cache' });
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${lang}.json`);
  return flatten(await response.json());
}

/**
 * Dotted keys for every value; objects stay addressable too (plural forms are objects).
 * @param {any} tree
 * @param {string} [prefix]
 * @param {Map<string, unknown>} [into]
 */
function flatten(tree, prefix = '', into = new Map()) {
  for (const [name, value] of Object.entries(tree ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    into.set(key, value);
    if (value && typeof value === 'object') flatten(value, key, into);
  }
  return into;
}

/**
 * Loads English and the chosen language, sets `<html lang>` and translates the document.
 * Never rejects: without the files, keys show as themselves (and are reported missing).
 * @param {string} [lang]  overrides the choice (tests)
 */
export async function initI18n(lang = pickLanguage()) {
  try {
    english = await loadTable(FALLBACK);
  } catch {
    english = new Map();
  }
  await use(lang);
  state.ready = true;
}

/** @param {string} lang */
async function use(lang) {
  let table = english;
  let chosen = LANGUAGES.includes(lang) ? lang : FALLBACK;
  if (chosen !== FALLBACK) {
    try {
      table = await loadTable(chosen);
    } catch {
      chosen = FALLBACK;
    }
  }
  strings = table;
  current = chosen;
  state.lang = chosen;
  state.missing = [];
  document.documentElement.lang = chosen;
  applyStrings(document);
}

/**
 * Switches the language: saves the choice, translates the document and tells the page
 * (`onLanguageChange`) so it can redraw the text it builds itself.
 * @param {string} lang
 */
export async function setLanguage(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch { /* storage blocked: the choice lasts for this page */ }
  await use(lang);
  for (const fn of listeners) fn();
}

/** @param {() => void} fn  called after the language changed */
export function onLanguageChange(fn) {
  listeners.add(fn);
}

/** @param {string} key */
function raw(key) {
  if (strings.has(key)) return strings.get(key);
  if (!state.missing.includes(key)) state.missing.push(key);
  return english.get(key);
}

/** Whether a key exists (in English; every language has the same keys). @param {string} key */
export function has(key) {
  return english.has(key) || strings.has(key);
}

/**
 * The text for a key, with `{name}` placeholders replaced.
 * @param {string} key
 * @param {Record<string, string | number>} [params]
 * @returns {string}
 */
export function t(key, params) {
  const value = raw(key);
  const text = typeof value === 'string' ? value : key;
  return params ? format(text, params) : text;
}

/**
 * A counted text: `key` names `{one, other}` forms; `{n}` is the count.
 * @param {string} key
 * @param {number} n
 * @param {Record<string, string | number>} [params]
 */
export function tn(key, n, params = {}) {
  const rule = pluralRule(n);
  return t(`${key}.${has(`${key}.${rule}`) ? rule : 'other'}`, { n, ...params });
}

/** @param {number} n */
function pluralRule(n) {
  try {
    return new Intl.PluralRules(current).select(n) === 'one' ? 'one' : 'other';
  } catch {
    return n === 1 ? 'one' : 'other';
  }
}

/**
 * Replaces `{name}` placeholders.
 * @param {string} template
 * @param {Record<string, string | number>} values
 */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

const ATTRIBUTES = /** @type {const} */ ([
  ['data-label', 'aria-label'],
  ['data-placeholder', 'placeholder'],
  ['data-title', 'title'],
]);

/**
 * Translates the static text of a part of the page.
 * @param {ParentNode} root
 */
export function applyStrings(root) {
  for (const el of root.querySelectorAll('[data-text]')) {
    const key = el.getAttribute('data-text');
    if (key) {
      const text = t(key);
      if (el.textContent !== text) el.textContent = text;
    }
  }
  for (const [data, attribute] of ATTRIBUTES) {
    for (const el of root.querySelectorAll(`[${data}]`)) {
      const key = el.getAttribute(data);
      if (key) el.setAttribute(attribute, t(key));
    }
  }
}

/**
 * The language switch: a labelled `<select>` in `host` (an element with `data-lang-switch`, or
 * the one given). Options show each language's own name.
 * @param {HTMLElement | null} [host]
 */
export function mountLanguageSwitch(host = document.querySelector('[data-lang-switch]')) {
  if (!host) return null;
  const id = 'lang-select';
  const label = document.createElement('label');
  label.htmlFor = id;
  label.className = 'visually-hidden';
  label.dataset.text = 'common.language';
  const select = document.createElement('select');
  select.id = id;
  select.className = 'lang-select';
  for (const lang of LANGUAGES) {
    const option = document.createElement('option');
    option.value = lang;
    option.lang = lang;
    option.dataset.text = `common.languages.${lang}`;
    select.append(option);
  }
  select.value = current;
  select.addEventListener('change', () => {
    setLanguage(select.value);
  });
  host.replaceChildren(label, select);
  applyStrings(host);
  onLanguageChange(() => {
    select.value = current;
  });
  return select;
}

/** A date and time in the current language. @param {number} ms @param {Intl.DateTimeFormatOptions} [options] */
export function formatDate(ms, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  try {
    return new Intl.DateTimeFormat(current, options).format(new Date(ms));
  } catch {
    return new Date(ms).toLocaleString();
  }
}
