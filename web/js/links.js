// Session links: `/facilitate/<session-id>#k=<key>`, `/watch/<session-id>#k=<key>` and
// `/display/<session-id>#k=<key>` (the classroom's projector).
// The key lives in the fragment so that it never reaches the server's logs or a Referer header.
// No DOM access here.

/** @typedef {'facilitator' | 'participant' | 'room_display'} Role */

/**
 * @typedef {object} SessionLink
 * @property {Role | null} role     who the link is for, from its path (null if unknown)
 * @property {string} session       the session id ('' if missing)
 * @property {string} key           the key from `#k=` ('' if missing)
 */

const PATH_BY_ROLE = /** @type {const} */ ({ facilitator: 'facilitate', participant: 'watch', room_display: 'display' });

/**
 * The value of `k` in a fragment such as `#k=abc` or `#foo=1&k=abc`.
 * Decoded with decodeURIComponent (not URLSearchParams, which would turn `+` into a space).
 * @param {string} hash
 * @returns {string}
 */
export function keyFromHash(hash) {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq) === 'k') {
      try {
        return decodeURIComponent(part.slice(eq + 1)).trim();
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return '';
}

/**
 * Request headers that authenticate an API call with the key of the page's link (`#k=`):
 * `Authorization: Bearer <key>`, added to `extra`.
 * @param {string} hash  usually `location.hash`
 * @param {Record<string, string>} [extra]
 * @returns {Record<string, string>}
 */
export function authHeaders(hash, extra = {}) {
  const key = keyFromHash(hash);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

/**
 * `#k=<key>` for links between pages, or '' when the page has no key.
 * @param {string} hash  usually `location.hash`
 * @returns {string}
 */
export function keyFragment(hash) {
  const key = keyFromHash(hash);
  return key ? `#k=${encodeURIComponent(key)}` : '';
}

/**
 * The last non-empty segment of a path.
 * @param {string} pathname
 * @returns {string}
 */
export function lastSegment(pathname) {
  const segments = pathname.split('/').filter(Boolean);
  const last = segments.length ? segments[segments.length - 1] : '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * Reads the link of the current page.
 * @param {{pathname: string, hash: string}} loc  usually `location`
 * @returns {SessionLink}
 */
export function readPageLink(loc) {
  return {
    role: roleFromPath(loc.pathname),
    session: lastSegment(loc.pathname),
    key: keyFromHash(loc.hash),
  };
}

/**
 * @param {string} pathname
 * @returns {Role | null}
 */
function roleFromPath(pathname) {
  const first = pathname.split('/').filter(Boolean)[0];
  if (first === PATH_BY_ROLE.facilitator) return 'facilitator';
  if (first === PATH_BY_ROLE.participant) return 'participant';
  if (first === PATH_BY_ROLE.room_display) return 'room_display';
  return null;
}

/**
 * Parses a pasted link (absolute, or a bare path like `/watch/ID#k=KEY`).
 * Returns null unless it names a role, a session and a key.
 * @param {string} text
 * @param {string} base  base URL for relative input, usually `location.href`
 * @returns {SessionLink | null}
 */
export function parseLink(text, base) {
  const trimmed = text.trim();
  if (!trimmed) return null;
  let url;
  try {
    url = new URL(trimmed, base);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const link = readPageLink(url);
  if (!link.role || !link.session || !link.key) return null;
  return link;
}

/**
 * The site-relative path of a session link.
 * @param {Role} role
 * @param {string} session
 * @param {string} key
 * @returns {string}
 */
export function linkPath(role, session, key) {
  return `/${PATH_BY_ROLE[role]}/${encodeURIComponent(session)}#k=${encodeURIComponent(key)}`;
}
