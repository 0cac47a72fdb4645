// The parts of a live page shared by the facilitator and participant pages: the participant list
// (with the facilitator's per-person actions), the chat and the Q&A. Every text comes from
// i18n.js; the markup they fill is in the pages (see watch.html and facilitate.html).

import { MAX_TEXT_CHARS } from './protocol.js';
import { formatDate, has, t, tn } from './i18n.js';
import { byId } from './ui.js';

/** @typedef {import('./protocol.js').LecternClient} LecternClient */
/** @typedef {import('./protocol.js').Participant} Participant */
/** @typedef {import('./protocol.js').Question} Question */

/** Error codes shown next to the chat or question form that caused them. */
const FORM_ERRORS = new Set(['rate_limited', 'invalid', 'forbidden', 'unknown_question']);

/**
 * Questions in the order they are shown: open ones first, then by votes (most first), then by
 * time (oldest first).
 * @param {Iterable<Question>} questions
 * @returns {Question[]}
 */
export function sortQuestions(questions) {
  const rank = (/** @type {Question} */ q) => (q.state === 'open' ? 0 : 1);
  return [...questions].sort((a, b) => rank(a) - rank(b) || b.votes - a.votes || a.at_ms - b.at_ms);
}

/** A short time of day for a message. @param {number} ms */
function clock(ms) {
  return formatDate(ms, { hour: '2-digit', minute: '2-digit' });
}

/** @param {string} tag @param {string} [className] @param {string} [text] */
function make(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// ----- participant list --------------------------------------------------------------------------

/**
 * The participant list: presence, role, affiliation, raised hand, stage and mute. With
 * `moderate`, each person has the facilitator's actions.
 */
export class PeopleList {
  /**
   * @param {LecternClient} client
   * @param {{list: HTMLElement, count: HTMLElement, empty: HTMLElement, moderate?: boolean}} els
   */
  constructor(client, els) {
    this.client = client;
    this.els = els;
    this.moderate = Boolean(els.moderate);
    /** @type {string | null} the person whose removal is being confirmed */
    this.confirming = null;
  }

  /** The people shown: everyone but ourselves, hands first, then by name. */
  people() {
    return [...this.client.participants.values()]
      .filter((p) => p.peer !== this.client.peer)
      .sort((a, b) => Number(Boolean(b.hand)) - Number(Boolean(a.hand)) || a.name.localeCompare(b.name));
  }

  render() {
    const people = this.people();
    // Keep keyboard focus on the same control across redraws.
    const active = /** @type {HTMLElement | null} */ (document.activeElement);
    const focusKey = active && this.els.list.contains(active) ? active.dataset.focusKey : undefined;
    this.els.count.textContent = tn('people.count', people.length);
    this.els.empty.hidden = people.length > 0;
    if (this.confirming && !people.some((p) => p.peer === this.confirming)) this.confirming = null;
    this.els.list.replaceChildren(...people.map((p) => this.item(p)));
    if (focusKey) {
      const again = /** @type {HTMLElement | null} */ (this.els.list.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`));
      again?.focus();
    }
  }

  /** @param {Participant} p */
  item(p) {
    const li = make('li', 'person');
    li.dataset.peer = p.peer;
    li.dataset.role = p.role;
    li.dataset.hand = String(Boolean(p.hand));
    li.dataset.stage = String(Boolean(p.stage));
    const who = make('div', 'person-who');
    who.append(make('span', 'person-name', p.name || t('people.unnamed')));
    if (p.affiliation) who.append(make('span', 'person-affiliation', p.affiliation));
    const tags = make('span', 'person-tags');
    if (p.role !== 'participant') tags.append(make('span', 'tag tag-role', roleName(p.role)));
    if (p.hand) tags.append(make('span', 'tag tag-hand', t('people.hand')));
    if (p.stage) tags.append(make('span', 'tag tag-stage', t('people.onStage')));
    if (p.stage && p.muted) tags.append(make('span', 'tag tag-muted', t('people.muted')));
    who.append(tags);
    li.append(who);
    if (this.moderate && p.role === 'participant') li.append(this.actions(p));
    return li;
  }

  /** @param {Participant} p */
  actions(p) {
    const box = make('div', 'person-actions');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', t('people.actions.label', { name: p.name }));
    /** @param {string} action @param {string} label @param {() => void} run @param {string} [cls] */
    const button = (action, label, run, cls = 'btn btn-small') => {
      const b = /** @type {HTMLButtonElement} */ (make('button', cls, label));
      b.type = 'button';
      b.dataset.action = action;
      b.dataset.focusKey = `${p.peer}:${action}`;
      b.addEventListener('click', run);
      return b;
    };
    const c = this.client;
    if (this.confirming === p.peer) {
      const confirm = make('div', 'confirm confirm-small');
      const text = make('p', 'confirm-text', t('people.remove.text', { name: p.name }));
      const label = make('label', 'check');
      const revoke = /** @type {HTMLInputElement} */ (make('input'));
      revoke.type = 'checkbox';
      revoke.dataset.focusKey = `${p.peer}:revoke`;
      revoke.className = 'remove-revoke';
      label.append(revoke, ' ', t('people.remove.revoke'));
      const row = make('div', 'confirm-actions');
      row.append(
        button('remove-confirm', t('people.remove.yes'), () => {
          c.remove(p.peer, revoke.checked);
          this.confirming = null;
          this.render();
        }, 'btn btn-small btn-danger'),
        button('remove-cancel', t('people.remove.no'), () => {
          this.confirming = null;
          this.render();
          /** @type {HTMLElement | null} */ (this.els.list.querySelector(`[data-focus-key="${CSS.escape(`${p.peer}:remove`)}"]`))?.focus();
        }),
      );
      confirm.append(text, label, row);
      confirm.addEventListener('keydown', (event) => {
        if (event.key === 'Escape') {
          this.confirming = null;
          this.render();
        }
      });
      box.append(confirm);
      queueMicrotask(() => revoke.focus());
      return box;
    }
    if (p.stage) {
      box.append(
        button(p.muted ? 'unmute' : 'mute', p.muted ? t('people.actions.unmute') : t('people.actions.mute'), () => c.mute(p.peer, !p.muted)),
        button('stage-off', t('people.actions.stageOff'), () => c.setStage(p.peer, false)),
      );
    } else {
      box.append(button('stage-on', t('people.actions.stageOn'), () => c.setStage(p.peer, true)));
    }
    if (p.hand) box.append(button('lower-hand', t('people.actions.lowerHand'), () => c.lowerHand(p.peer)));
    box.append(button('remove', t('people.actions.remove'), () => {
      this.confirming = p.peer;
      this.render();
    }, 'btn btn-small btn-danger-outline'));
    return box;
  }
}

/** @param {string} role */
export function roleName(role) {
  return has(`common.roles.${role}`) ? t(`common.roles.${role}`) : role;
}

// ----- forms -------------------------------------------------------------------------------------

/**
 * A one-field form for chat messages or questions: a character counter, the 500-character
 * limit, and errors shown inline.
 */
class TextForm {
  /**
   * @param {{form: HTMLFormElement, input: HTMLInputElement | HTMLTextAreaElement, counter: HTMLElement, error: HTMLElement}} els
   * @param {(text: string) => boolean} send  returns whether it was sent
   */
  constructor(els, send) {
    this.els = els;
    els.input.maxLength = MAX_TEXT_CHARS;
    els.input.addEventListener('input', () => this.renderCounter());
    els.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = els.input.value.trim();
      if (!text) {
        this.showError(t('social.errors.empty'));
        els.input.focus();
        return;
      }
      if ([...text].length > MAX_TEXT_CHARS) {
        this.showError(t('social.errors.tooLong', { max: MAX_TEXT_CHARS }));
        return;
      }
      if (!send(text)) {
        this.showError(t('social.errors.offline'));
        return;
      }
      this.showError('');
      els.input.value = '';
      this.renderCounter();
      els.input.focus();
    });
    els.input.addEventListener('keydown', (event) => {
      // Enter sends; Shift+Enter makes a new line in a text area.
      const e = /** @type {KeyboardEvent} */ (event);
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && els.input instanceof HTMLTextAreaElement) {
        e.preventDefault();
        els.form.requestSubmit();
      }
    });
    this.renderCounter();
  }

  renderCounter() {
    const left = MAX_TEXT_CHARS - [...this.els.input.value].length;
    this.els.counter.textContent = tn('social.charsLeft', left);
    this.els.counter.dataset.low = String(left < 50);
  }

  /** @param {string} text */
  showError(text) {
    this.els.error.textContent = text;
    this.els.error.hidden = !text;
    if (text) this.els.input.setAttribute('aria-invalid', 'true');
    else this.els.input.removeAttribute('aria-invalid');
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.els.input.disabled = !enabled;
    const submit = this.els.form.querySelector('button[type="submit"]');
    if (submit) /** @type {HTMLButtonElement} */ (submit).disabled = !enabled;
  }
}

/**
 * Which form caused a server error: frames are answered in order, so it is the last one sent.
 * @type {'chat' | 'ask' | null}
 */
let lastSent = null;

// ----- chat --------------------------------------------------------------------------------------

/** The chat: a list announced as it grows (aria-live) and a form. Ids start with `chat-`. */
export class ChatPanel {
  /** @param {LecternClient} client */
  constructor(client) {
    this.client = client;
    this.list = byId('chat-list');
    this.empty = byId('chat-empty');
    /** @type {number | null} the last message id shown */
    this.lastId = null;
    this.form = new TextForm({
      form: /** @type {HTMLFormElement} */ (byId('chat-form')),
      input: /** @type {HTMLTextAreaElement} */ (byId('chat-input')),
      counter: byId('chat-counter'),
      error: byId('chat-error'),
    }, (text) => {
      lastSent = 'chat';
      return client.sendChat(text);
    });
  }

  /** Shows everything again (after joining, or a language change). */
  reset() {
    this.list.replaceChildren();
    this.lastId = null;
    this.render();
  }

  /** Appends what is new, so screen readers hear only new messages. */
  render() {
    const fresh = this.client.chat.filter((m) => this.lastId === null || m.id > this.lastId);
    if (fresh.length) {
      const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
      this.list.append(...fresh.map((m) => this.item(m)));
      while (this.list.childElementCount > 500) this.list.firstElementChild?.remove();
      this.lastId = fresh[fresh.length - 1].id;
      if (stick) this.list.scrollTop = this.list.scrollHeight;
    }
    this.empty.hidden = this.list.childElementCount > 0;
  }

  /** @param {import('./protocol.js').ChatMessage} m */
  item(m) {
    const li = make('li', 'chat-message');
    li.dataset.id = String(m.id);
    if (m.peer === this.client.peer) li.dataset.mine = 'true';
    const head = make('span', 'chat-head');
    const name = make('span', 'chat-name', m.peer === this.client.peer ? t('social.you', { name: m.name }) : m.name || t('people.unnamed'));
    const time = make('time', 'chat-time', clock(m.at_ms));
    time.setAttribute('datetime', new Date(m.at_ms).toISOString());
    head.append(name, ' ', time);
    li.append(head, make('span', 'chat-text', m.text));
    return li;
  }

  /** @param {import('./errors.js').ErrorInfo} error @returns {boolean} whether it was shown here */
  onError(error) {
    if (lastSent !== 'chat' || !FORM_ERRORS.has(error.code)) return false;
    this.form.showError(has(`social.errors.${error.code}`) ? t(`social.errors.${error.code}`) : error.message);
    return true;
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.form.setEnabled(enabled);
  }
}

// ----- questions ---------------------------------------------------------------------------------

/**
 * The Q&A: ask, upvote (a toggle), and with `moderate` mark answered, dismissed or open again.
 * Ids start with `qa-`.
 */
export class QuestionsPanel {
  /** @param {LecternClient} client @param {{moderate?: boolean}} [options] */
  constructor(client, options = {}) {
    this.client = client;
    this.moderate = Boolean(options.moderate);
    this.list = byId('qa-list');
    this.empty = byId('qa-empty');
    this.live = byId('qa-live');
    /** @type {Set<string>} questions already seen (only new ones are announced) */
    this.seen = new Set();
    this.form = new TextForm({
      form: /** @type {HTMLFormElement} */ (byId('qa-form')),
      input: /** @type {HTMLTextAreaElement} */ (byId('qa-input')),
      counter: byId('qa-counter'),
      error: byId('qa-error'),
    }, (text) => {
      lastSent = 'ask';
      return client.ask(text);
    });
  }

  /** Forgets which questions were announced (after joining: none of those is news). */
  reset() {
    this.seen = new Set(this.client.questions.keys());
    this.render();
  }

  render() {
    const active = /** @type {HTMLElement | null} */ (document.activeElement);
    const focusKey = active && this.list.contains(active) ? active.dataset.focusKey : undefined;
    const questions = sortQuestions(this.client.questions.values());
    this.list.replaceChildren(...questions.map((q) => this.item(q)));
    this.empty.hidden = questions.length > 0;
    for (const q of questions) {
      if (this.seen.has(q.id)) continue;
      this.seen.add(q.id);
      if (q.peer !== this.client.peer) this.live.textContent = t('qa.announce', { name: q.name, text: q.text });
    }
    if (focusKey) {
      /** @type {HTMLElement | null} */ (this.list.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`))?.focus();
    }
  }

  /** @param {Question} q */
  item(q) {
    const li = make('li', 'question');
    li.dataset.id = q.id;
    li.dataset.state = q.state;
    const votes = make('span', 'question-votes', tn('qa.votes', q.votes));
    votes.dataset.votes = String(q.votes);
    const body = make('div', 'question-body');
    body.append(make('p', 'question-text', q.text));
    const meta = make('p', 'question-meta');
    meta.append(make('span', 'question-by', t('qa.askedBy', { name: q.name || t('people.unnamed') })));
    if (q.state !== 'open') meta.append(' ', make('span', `tag tag-${q.state}`, t(`qa.states.${q.state}`)));
    body.append(meta);
    const actions = make('div', 'question-actions');
    if (q.state === 'open' && q.peer !== this.client.peer) {
      const voted = this.client.voted.has(q.id);
      const up = /** @type {HTMLButtonElement} */ (make('button', 'btn btn-small btn-toggle btn-vote', voted ? t('qa.voted') : t('qa.upvote')));
      up.type = 'button';
      up.setAttribute('aria-pressed', String(voted));
      up.setAttribute('aria-label', t(voted ? 'qa.votedLabel' : 'qa.upvoteLabel', { text: shorten(q.text) }));
      up.dataset.action = 'vote';
      up.dataset.focusKey = `${q.id}:vote`;
      up.addEventListener('click', () => {
        this.client.vote(q.id, !voted);
        this.render();
      });
      actions.append(up);
    }
    if (this.moderate) {
      /** @param {import('./protocol.js').QuestionState} state @param {string} label */
      const mark = (state, label) => {
        const b = /** @type {HTMLButtonElement} */ (make('button', 'btn btn-small', t(label)));
        b.type = 'button';
        b.dataset.action = `mark-${state}`;
        b.dataset.focusKey = `${q.id}:mark-${state}`;
        b.setAttribute('aria-label', `${t(label)}: ${shorten(q.text)}`);
        b.addEventListener('click', () => this.client.markQuestion(q.id, state));
        return b;
      };
      if (q.state === 'open') actions.append(mark('answered', 'qa.markAnswered'), mark('dismissed', 'qa.dismiss'));
      else actions.append(mark('open', 'qa.reopen'));
    }
    li.append(votes, body, actions);
    return li;
  }

  /** @param {import('./errors.js').ErrorInfo} error @returns {boolean} whether it was shown here */
  onError(error) {
    if (lastSent !== 'ask' || !FORM_ERRORS.has(error.code)) return false;
    this.form.showError(has(`social.errors.${error.code}`) ? t(`social.errors.${error.code}`) : error.message);
    return true;
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.form.setEnabled(enabled);
  }
}

/** The start of a long text, for labels. @param {string} text */
function shorten(text) {
  const chars = [...text];
  return chars.length > 60 ? `${chars.slice(0, 57).join('')}…` : text;
}
