// lectern signalling client, protocol version 1 (docs/protocol.md). No DOM access.
//
// One WebSocket carries JSON frames; media flows over two RTCPeerConnections:
//   "publish"   the client offers, sendonly (the facilitator's camera, microphone, screen): publisher.js
//   "subscribe" the server offers, the client answers (everyone who watches): subscriber.js
//
// Events (CustomEvents; the payload is `event.detail`):
//   connection   {state: 'connecting'|'connected'|'reconnecting'|'closed', attempt?, delay?}
//   joined, answer, offer, candidate, track_published, track_unpublished, participant_joined,
//   participant_left, participant_updated, chat, question, session_state, session_ended,
//   recording, pong, error
//                the server frame itself, dispatched after the client's own state was updated
//                (`recording`: whether the session is being recorded; also kept in `client.recording`;
//                `chat` messages are kept in `client.chat`, questions in `client.questions`)
//   stage        {on: boolean, muted: boolean}: we were brought on stage or taken off it, or our
//                stage microphone was muted or unmuted (from `participant_updated` about ourselves)
//   error        also for local failures: {code, message, fatal, local: true}
//   media        {trackId, source, kind, track, stream, removed: false} when a remote track starts;
//                {trackId, source, kind, track: null, stream: null, removed: true} when it goes.
//                `stream` holds only that one track.
//   published    {sources}: what the publish connection sends, whenever that changes

import { ClosedError, LecternError } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import { watchIce } from './ice.js';
import { Publisher } from './publisher.js';
import { Subscriber } from './subscriber.js';

export { LecternError } from './errors.js';

export const PROTOCOL_VERSION = 1;

/**
 * The version of the recording notice (the `consent.*` texts) a participant accepts by joining
 * with `consent` set to it. Must equal the server's `lectern_proto::NOTICE_VERSION`.
 */
export const NOTICE_VERSION = '2026-11';

/** Longest chat message or question, in characters. */
export const MAX_TEXT_CHARS = 500;

/** How many chat messages the client keeps. */
const CHAT_KEEP = 500;

/** @typedef {'camera' | 'microphone' | 'screen'} Source */
/** @typedef {'connecting' | 'connected' | 'reconnecting' | 'closed'} ConnectionState */
/** @typedef {'waiting' | 'live' | 'paused' | 'ended'} SessionState */
/** @typedef {{id: string, title: string, course: string, state: SessionState}} SessionInfo */
/** @typedef {'admin' | 'facilitator' | 'participant' | 'replay_viewer' | 'room_display'} Role */
/**
 * A member of the session, as everyone sees them.
 * @typedef {object} Participant
 * @property {string} peer
 * @property {string} name
 * @property {Role} role
 * @property {string} [affiliation]  their organisation
 * @property {boolean} [hand]        their hand is raised
 * @property {boolean} [stage]       they are on stage (publish camera and microphone)
 * @property {boolean} [muted]       their stage microphone is muted
 */
/** @typedef {{id: number, peer: string, name: string, text: string, at_ms: number}} ChatMessage */
/** @typedef {'open' | 'answered' | 'dismissed'} QuestionState */
/** @typedef {{id: string, peer: string, name: string, text: string, votes: number, state: QuestionState, at_ms: number}} Question */
/** @typedef {{id: string, kind: 'audio' | 'video', source: Source, publisher: string, paused: boolean}} TrackInfo */
/** @typedef {import('./errors.js').ErrorInfo} ErrorInfo */
/** @typedef {'off' | 'starting' | 'on' | 'failed'} RecordingState */

/**
 * Whether the session is being recorded (the `recording` frame without its `type`).
 * @typedef {object} RecordingInfo
 * @property {RecordingState} state
 * @property {string} [recording]  the recording in progress (`on`), or the one that failed
 * @property {number} [since_ms]   when it started (`on`), in ms since the UNIX epoch (server clock)
 * @property {string} [message]    why it failed (`failed`)
 */

/**
 * @typedef {object} MediaInfo
 * @property {string} trackId
 * @property {Source | null} source
 * @property {'audio' | 'video'} kind
 * @property {MediaStreamTrack | null} track
 * @property {MediaStream | null} stream
 * @property {boolean} removed
 */

/**
 * @typedef {object} LecternClientOptions
 * @property {string} session                 session id
 * @property {string} key                     facilitator or participant key
 * @property {string} [name]                  display name (≤ 80 characters)
 * @property {'facilitator' | 'participant' | 'room_display'} [role]  the role the key must grant (refused otherwise)
 * @property {string | null} [consent]        the recording notice version accepted (NOTICE_VERSION), or none
 * @property {string} [url]                   WebSocket URL; defaults to `/ws` on the page's host
 * @property {RTCConfiguration} [rtcConfiguration]
 * @property {typeof WebSocket} [WebSocket]   for tests
 * @property {typeof RTCPeerConnection} [RTCPeerConnection]  for tests
 */

/** @type {readonly Source[]} */
export const SOURCES = Object.freeze(['camera', 'microphone', 'screen']);

/** @type {Readonly<Record<Source, 'audio' | 'video'>>} */
export const SOURCE_KIND = Object.freeze({ camera: 'video', microphone: 'audio', screen: 'video' });

const MAX_NAME_CHARS = 80;
const HEARTBEAT_MS = 10_000;
/** Without any frame for this long (pongs come every 10 s), the socket is taken as dead. */
const SILENCE_LIMIT_MS = 25_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 10_000;
const BUSY_RETRY_MS = 3_000;
/** How long to wait for the server to close the socket after a final frame. */
const CLOSE_GRACE_MS = 2_000;

/** Close codes after which reconnecting cannot help, with the error code each stands for. */
const FATAL_CLOSE_CODES = new Map([
  [1009, 'too_large'],
  [4400, 'unsupported_version'],
  [4401, 'bad_key'],
  [4403, 'removed'],
  [4451, 'consent_required'],
  [4404, 'unknown_session'],
  [4409, 'replaced'],
  [4410, 'session_over'],
]);

/** Server frames dispatched as events of the same name. */
const SERVER_EVENTS = new Set([
  'joined', 'answer', 'offer', 'candidate', 'track_published', 'track_unpublished',
  'participant_joined', 'participant_left', 'participant_updated', 'chat', 'question', 'session_state',
  'session_ended', 'recording', 'pong', 'error',
]);

/** @type {readonly RecordingState[]} */
const RECORDING_STATES = Object.freeze(['off', 'starting', 'on', 'failed']);

/** The WebSocket URL of the page's own server: `ws(s)://host/ws`. */
export function defaultSocketUrl(loc = globalThis.location) {
  if (!loc) throw new Error('no location: pass options.url');
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

/**
 * The browser side of a lectern session.
 *
 * Construct, add listeners, then `connect()`. A facilitator calls `publish()` to go live and
 * `setSource()` to change what it sends; everyone gets `media` events for what to play.
 */
export class LecternClient extends EventTarget {
  /** @param {LecternClientOptions} options */
  constructor(options) {
    super();
    /** @readonly */ this.session = options.session;
    /** @readonly */ this.key = options.key;
    /** @readonly the role the key must grant; the server refuses a key of another role */
    this.expectedRole = options.role ?? null;
    /** Display name sent with `join`; may be changed before `connect()`. */
    this.name = options.name ?? '';
    /** The recording notice version accepted, sent with `join`; may be changed before `connect()`. */
    this.consent = options.consent ?? null;
    /** @readonly */ this.url = options.url ?? defaultSocketUrl();
    /** @readonly */ this.rtcConfiguration = options.rtcConfiguration ?? {};
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#RTCPeerConnection = options.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    this.#heartbeat = new Heartbeat(HEARTBEAT_MS, () => this.#onHeartbeat());
  }

  // ----- public state -------------------------------------------------------------------------

  /** @type {Role | null} */ role = null;
  /** @type {string | null} our peer id */ peer = null;
  /** @type {SessionInfo | null} */ sessionInfo = null;
  /** @type {SessionState | null} */ sessionState = null;
  /** @type {number | null} how long the server waits for the facilitator while paused, in s */
  graceSeconds = null;
  /** @type {string | null} why the session ended */ endReason = null;
  /** @type {RecordingInfo} whether the session is being recorded, as the server last said */
  recording = { state: 'off' };
  /** @type {ErrorInfo | null} the error that closed the connection for good */ fatalError = null;
  /** @type {ChatMessage[]} the chat, oldest first (the latest CHAT_KEEP messages) */
  chat = [];
  /** @type {Set<string>} the questions we voted for */
  voted = new Set();

  /** @returns {ConnectionState | 'idle'} 'idle' until `connect()` */
  get connectionState() { return this.#connectionState; }
  /** Everyone in the session, ourselves included, by peer id. Read-only. */
  get participants() { return this.#participants; }
  /** Every question of the session, by id. Read-only. */
  get questions() { return this.#questions; }
  /** Our own entry in the participant list. @returns {Participant | null} */
  get self() { return (this.peer && this.#participants.get(this.peer)) || null; }
  /** Whether we are on stage. */
  get onStage() { return Boolean(this.self?.stage); }
  /** Tracks that exist in the session (paused or not), by track id. Read-only. */
  get tracks() { return this.#tracks; }
  /** @returns {RTCPeerConnection | null} */
  get publishPc() { return this.#publisher?.pc ?? null; }
  /** @returns {RTCPeerConnection | null} */
  get subscribePc() { return this.#subscriber?.pc ?? null; }
  /** @returns {Source[]} the sources the server accepted in the last publish answer */
  get publishedSources() { return [...this.#published]; }
  /** @returns {MediaInfo[]} remote media currently playing */
  get media() { return this.#subscriber?.media ?? []; }

  /** The track we want to send for a source (sent once published). @param {Source} source */
  localTrack(source) {
    return this.#localTracks.get(source) ?? null;
  }

  // ----- private state ------------------------------------------------------------------------

  /** @type {typeof WebSocket} */ #WebSocket;
  /** @type {typeof RTCPeerConnection} */ #RTCPeerConnection;
  /** @type {Heartbeat} */ #heartbeat;

  /** @type {ConnectionState | 'idle'} */ #connectionState = 'idle';
  /** @type {WebSocket | null} */ #ws = null;
  /** Set once nothing should reconnect any more (left, ended, fatal error). */
  #closing = false;
  /** The current socket has been answered with `joined`. */
  #joined = false;
  /** Some socket was joined once: later drops are "reconnecting", not "connecting". */
  #everJoined = false;
  #attempt = 0;
  #pingId = 0;
  #lastFrameAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #reconnectTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #closeTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #busyTimer;

  /** @type {Map<string, Participant>} */ #participants = new Map();
  /** @type {Map<string, Question>} */ #questions = new Map();
  /** @type {Map<string, TrackInfo>} */ #tracks = new Map();

  /** What we want to send; kept across reconnects. @type {Map<Source, MediaStreamTrack>} */
  #localTracks = new Map();
  /** `publish()` was called: send `#localTracks` on every (re)join. */
  #wantPublish = false;
  /** @type {Publisher | null} */ #publisher = null;
  /** @type {Source[]} */ #published = [];
  /** @type {Subscriber | null} */ #subscriber = null;

  // ----- public API ---------------------------------------------------------------------------

  /** Opens the connection and joins. Later calls do nothing. */
  connect() {
    if (this.#connectionState !== 'idle') return;
    this.#setConnection('connecting');
    this.#openSocket();
  }

  /**
   * Publishes (or changes) sources; resolves once the server has answered. Given sources are
   * set, `null` removes one, sources not named stay as they are. Before the connection is joined
   * the tracks are kept and published on join; after a reconnect they are published again.
   * Rejects with a LecternError if the server refuses the offer.
   * @param {Partial<Record<Source, MediaStream | MediaStreamTrack | null>>} streamsBySource
   * @returns {Promise<void>}
   */
  publish(streamsBySource) {
    if (this.role && this.role !== 'facilitator' && !this.onStage) {
      return Promise.reject(new LecternError({ code: 'forbidden', message: 'only the facilitator and people on stage publish', fatal: false, local: true }));
    }
    for (const [source, value] of Object.entries(streamsBySource)) {
      const src = checkSource(source);
      const track = value ? pickTrack(src, value) : null;
      if (track) this.#localTracks.set(src, track);
      else this.#localTracks.delete(src);
    }
    this.#wantPublish = true;
    return this.#syncPublisher();
  }

  /**
   * Sets (or, with null, stops) the track of one source. While that source is already being
   * sent this is an in-place `replaceTrack`, with no renegotiation. Before `publish()` it only
   * remembers the track.
   * @param {Source} source
   * @param {MediaStreamTrack | null} track
   * @returns {Promise<void>}
   */
  async setSource(source, track) {
    const src = checkSource(source);
    if (track) {
      if (track.kind !== SOURCE_KIND[src]) throw new TypeError(`${src} needs a ${SOURCE_KIND[src]} track`);
      this.#localTracks.set(src, track);
    } else {
      this.#localTracks.delete(src);
    }
    if (!this.#wantPublish) return;
    const publisher = this.#publisher;
    if (track && publisher && this.#canPublish() && await publisher.tryReplace(src, track)) return;
    await this.#syncPublisher();
  }

  /** Facilitator only: ends the session for everyone. Returns whether the frame was sent. */
  endSession() {
    return this.#send({ type: 'end_session' });
  }

  /** Facilitator only: starts recording the session. Returns whether the frame was sent. */
  startRecording() {
    return this.#send({ type: 'start_recording' });
  }

  /** Facilitator only: stops the recording. Returns whether the frame was sent. */
  stopRecording() {
    return this.#send({ type: 'stop_recording' });
  }

  /**
   * Facilitator only, while recording: a chapter called `title` (1–200 characters) starts now
   * on the recording's timeline. Returns whether the frame was sent.
   * @param {string} title
   */
  addChapter(title) {
    return this.#send({ type: 'add_chapter', title });
  }

  /**
   * Stops publishing: forgets every local track (without stopping them) and closes the publish
   * connection. For a stage member leaving the stage.
   */
  stopPublishing() {
    this.#wantPublish = false;
    this.#localTracks.clear();
    this.#publisher?.close();
    this.#publisher = null;
    this.#setPublished([]);
  }

  /**
   * Sends a chat message (1–500 characters). Returns whether the frame was sent.
   * @param {string} text
   */
  sendChat(text) {
    return this.#send({ type: 'chat', text });
  }

  /**
   * Asks a question (1–500 characters). Returns whether the frame was sent.
   * @param {string} text
   */
  ask(text) {
    return this.#send({ type: 'ask', text });
  }

  /**
   * Upvotes a question (`up`), or withdraws the vote. One vote per person: `voted` follows.
   * @param {string} question
   * @param {boolean} up
   */
  vote(question, up) {
    const sent = this.#send({ type: 'vote', question, up });
    if (sent) {
      if (up) this.voted.add(question);
      else this.voted.delete(question);
    }
    return sent;
  }

  /**
   * Facilitator: marks a question answered, dismissed or open again.
   * @param {string} question
   * @param {QuestionState} state
   */
  markQuestion(question, state) {
    return this.#send({ type: 'mark_question', question, state });
  }

  /** Raises our hand. */
  raiseHand() {
    return this.#send({ type: 'raise_hand' });
  }

  /** Lowers our hand, or (facilitator) someone else's. @param {string} [peer] */
  lowerHand(peer) {
    return this.#send(peer ? { type: 'lower_hand', peer } : { type: 'lower_hand' });
  }

  /**
   * Brings someone on stage (facilitator) or takes them off (the facilitator, or ourselves).
   * @param {string} peer
   * @param {boolean} on
   */
  setStage(peer, on) {
    return this.#send({ type: 'set_stage', peer, on });
  }

  /**
   * Mutes or unmutes a stage member's microphone (the facilitator: anyone's; a stage member: their own).
   * @param {string} peer
   * @param {boolean} muted
   */
  mute(peer, muted) {
    return this.#send({ type: 'mute', peer, muted });
  }

  /**
   * Facilitator: removes someone from the session; `revoke` also revokes their invite.
   * @param {string} peer
   * @param {boolean} revoke
   */
  remove(peer, revoke) {
    return this.#send({ type: 'remove', peer, revoke });
  }

  /**
   * Joins again after the connection was closed for good (for example after `consent_required`,
   * once the person accepted the notice). Does nothing while connected.
   */
  rejoin() {
    if (this.#connectionState !== 'closed' || this.sessionState === 'ended') return;
    this.#closing = false;
    this.fatalError = null;
    this.#attempt = 0;
    this.#heartbeat = new Heartbeat(HEARTBEAT_MS, () => this.#onHeartbeat());
    this.#setConnection('connecting');
    this.#openSocket();
  }

  /** Leaves politely; the connection closes and does not come back. */
  leave() {
    if (this.#connectionState === 'closed') return;
    this.#closing = true;
    clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    if (ws && ws.readyState === ws.OPEN && this.#joined) {
      this.#send({ type: 'leave' });
      this.#teardown();
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#dropSocket('left'), CLOSE_GRACE_MS);
    } else {
      this.#finish();
    }
  }

  /** Closes at once without telling the server (as closing the page would). */
  close() {
    this.#closing = true;
    this.#finish();
  }

  // ----- socket -------------------------------------------------------------------------------

  #openSocket() {
    this.#joined = false;
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new this.#WebSocket(this.url);
    } catch (err) {
      this.#fail({ code: 'connect_failed', message: String(err), fatal: true, local: true });
      this.#finish();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      /** @type {Record<string, unknown>} */
      const join = { type: 'join', version: PROTOCOL_VERSION, session: this.session, key: this.key };
      if (this.expectedRole) join.role = this.expectedRole;
      if (this.consent) join.consent = this.consent;
      const name = [...String(this.name ?? '').trim()].slice(0, MAX_NAME_CHARS).join('');
      if (name) join.name = name;
      this.#send(join);
      this.#lastFrameAt = Date.now();
      this.#heartbeat.start();
    };
    ws.onmessage = (event) => {
      if (ws !== this.#ws) return;
      this.#lastFrameAt = Date.now();
      if (typeof event.data === 'string') this.#onFrame(event.data);
    };
    ws.onclose = (event) => {
      if (ws === this.#ws) this.#onSocketClosed(event.code, event.reason);
    };
    ws.onerror = () => { /* a close event follows */ };
  }

  /** @param {Record<string, unknown>} frame @returns {boolean} whether it was sent */
  #send(frame) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  #onHeartbeat() {
    if (!this.#ws) return;
    if (Date.now() - this.#lastFrameAt > SILENCE_LIMIT_MS) {
      this.#dropSocket('no frame from the server');
      return;
    }
    this.#send({ type: 'ping', id: ++this.#pingId });
  }

  /** Forgets the current socket at once and handles it as closed. @param {string} reason */
  #dropSocket(reason) {
    const ws = this.#ws;
    if (!ws) return;
    detach(ws);
    this.#onSocketClosed(1006, reason);
  }

  /** @param {number} code @param {string} reason */
  #onSocketClosed(code, reason) {
    this.#ws = null;
    this.#joined = false;
    clearTimeout(this.#closeTimer);
    this.#teardown();
    const fatalCode = FATAL_CLOSE_CODES.get(code);
    if (fatalCode && !this.#closing) {
      // The error frame did not arrive; the close code says enough.
      this.#fail({ code: fatalCode, message: reason || '', fatal: true });
    }
    if (this.#closing) {
      this.#finish();
      return;
    }
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** this.#attempt, BACKOFF_MAX_MS);
    this.#attempt++;
    this.#setConnection(this.#everJoined ? 'reconnecting' : 'connecting', { attempt: this.#attempt, delay });
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (!this.#closing) this.#openSocket();
    }, delay);
  }

  /** Final: no socket, no peer connections, no timers. */
  #finish() {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#closeTimer);
    this.#heartbeat.dispose();
    if (this.#ws) {
      detach(this.#ws);
      this.#ws = null;
    }
    this.#joined = false;
    this.#teardown();
    this.#setConnection('closed');
  }

  /** Closes both peer connections: everything tied to one joined connection. */
  #teardown() {
    this.#heartbeat.stop();
    clearTimeout(this.#busyTimer);
    this.#publisher?.close();
    this.#publisher = null;
    this.#setPublished([]);
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    subscriber?.close(); // announces the removal of its media
  }

  /** @param {ConnectionState} state @param {Record<string, unknown>} [extra] */
  #setConnection(state, extra) {
    if (state === this.#connectionState && !extra) return;
    this.#connectionState = state;
    this.#emit('connection', { state, ...extra });
  }

  /** @param {string} type @param {unknown} detail */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Records a fatal error and reports it. @param {ErrorInfo} info */
  #fail(info) {
    this.#closing = true;
    this.fatalError ??= info;
    this.#emit('error', info);
  }

  /** Reports a local, non-fatal failure. @param {string} code @param {unknown} err */
  #report(code, err) {
    const message = err instanceof Error ? err.message : String(err);
    this.#emit('error', { code, message, fatal: false, local: true });
  }

  // ----- server frames ------------------------------------------------------------------------

  /** @param {string} text */
  #onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    if (this.#closing && frame.type !== 'error' && frame.type !== 'session_ended') return;

    switch (frame.type) {
      case 'joined': this.#onJoined(frame); return; // emits in its own order
      case 'error': this.#onError(frame); return; // emits itself
      case 'answer':
        if (frame.pc === 'publish' && typeof frame.sdp === 'string') this.#publisher?.onAnswer(frame.sdp);
        break;
      case 'offer': this.#onOffer(frame); break;
      case 'candidate':
        if (frame.pc === 'publish') this.#publisher?.onCandidate(frame.candidate ?? null);
        else if (frame.pc === 'subscribe') this.#subscriber?.onCandidate(frame.candidate ?? null);
        break;
      case 'track_published':
        if (frame.track?.id) {
          this.#tracks.set(frame.track.id, frame.track);
          this.#subscriber?.refresh(frame.track.id);
        }
        break;
      case 'track_unpublished':
        this.#tracks.delete(frame.track);
        this.#subscriber?.retire(frame.track);
        break;
      case 'participant_joined':
        if (frame.participant?.peer) this.#participants.set(frame.participant.peer, frame.participant);
        break;
      case 'participant_left':
        this.#participants.delete(frame.peer);
        break;
      case 'participant_updated': this.#onParticipantUpdated(frame); return; // emits in its own order
      case 'chat':
        if (typeof frame.text === 'string') {
          this.chat.push(frame);
          if (this.chat.length > CHAT_KEEP) this.chat.splice(0, this.chat.length - CHAT_KEEP);
        }
        break;
      case 'question':
        if (frame.question?.id) this.#questions.set(frame.question.id, frame.question);
        break;
      case 'session_state':
        this.sessionState = frame.state;
        if (this.sessionInfo) this.sessionInfo.state = frame.state;
        this.graceSeconds = frame.state === 'paused' ? (frame.grace_seconds ?? null) : null;
        if (frame.state === 'ended') this.#closing = true;
        break;
      case 'session_ended': this.#onSessionEnded(frame); break;
      case 'recording': this.recording = readRecording(frame); break;
      default: break;
    }
    if (SERVER_EVENTS.has(frame.type)) this.#emit(frame.type, frame);
  }

  /** @param {any} frame */
  #onJoined(frame) {
    this.#joined = true;
    this.#everJoined = true;
    this.#attempt = 0;
    this.role = frame.role;
    this.peer = frame.peer;
    this.sessionInfo = frame.session ?? null;
    this.sessionState = frame.session?.state ?? 'waiting';
    this.graceSeconds = null;
    this.#participants = new Map();
    for (const p of frame.participants ?? []) this.#participants.set(p.peer, p);
    if (this.peer && !this.#participants.has(this.peer)) {
      this.#participants.set(this.peer, { peer: this.peer, name: this.name, role: frame.role });
    }
    this.#tracks = new Map();
    for (const t of frame.tracks ?? []) this.#tracks.set(t.id, t);
    this.recording = readRecording(frame.recording);
    this.chat = Array.isArray(frame.chat) ? frame.chat.slice(-CHAT_KEEP) : [];
    this.#questions = new Map();
    for (const q of frame.questions ?? []) if (q?.id) this.#questions.set(q.id, q);
    this.voted = new Set(Array.isArray(frame.voted) ? frame.voted : []);
    // A new connection starts off stage: only the facilitator publishes on its own.
    if (frame.role !== 'facilitator' && !this.onStage) this.#wantPublish = false;
    this.#emit('joined', frame);
    this.#setConnection('connected');
    if (this.#wantPublish && this.#localTracks.size) this.#syncPublisher().catch(() => { /* reported */ });
  }

  /** @param {any} frame */
  #onParticipantUpdated(frame) {
    const p = frame.participant;
    if (!p?.peer) return;
    const before = this.#participants.get(p.peer);
    this.#participants.set(p.peer, p);
    this.#emit('participant_updated', frame);
    if (p.peer !== this.peer) return;
    if (Boolean(before?.stage) !== Boolean(p.stage) || Boolean(before?.muted) !== Boolean(p.muted)) {
      if (!p.stage && this.role !== 'facilitator') this.stopPublishing();
      this.#emit('stage', { on: Boolean(p.stage), muted: Boolean(p.muted) });
    }
  }

  /** @param {any} frame */
  #onError(frame) {
    /** @type {ErrorInfo} */
    const info = { code: String(frame.code), message: String(frame.message ?? ''), fatal: Boolean(frame.fatal) };
    if (info.fatal) {
      this.#fail(info);
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#dropSocket('fatal error'), CLOSE_GRACE_MS);
      return;
    }
    this.#publisher?.onError(info);
    this.#emit('error', info);
  }

  /** @param {any} frame */
  #onSessionEnded(frame) {
    this.#closing = true;
    this.#wantPublish = false;
    this.endReason = frame.reason ?? null;
    this.sessionState = 'ended';
    if (this.sessionInfo) this.sessionInfo.state = 'ended';
    this.#teardown();
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#dropSocket('session ended'), CLOSE_GRACE_MS);
  }

  // ----- publishing ---------------------------------------------------------------------------

  #canPublish() {
    return this.#joined && (this.role === 'facilitator' || this.onStage) && !this.#closing;
  }

  /**
   * Runs a publish negotiation for the current `#localTracks` (or joins the one running).
   * Resolves without doing anything while not joined: the next `joined` publishes.
   * @returns {Promise<void>}
   */
  async #syncPublisher() {
    if (!this.#canPublish()) return;
    if (!this.#publisher) {
      const pc = new this.#RTCPeerConnection(this.rtcConfiguration);
      watchIce(pc, () => this.#onIceFailed(pc));
      this.#publisher = new Publisher(pc, (frame) => this.#send(frame));
    }
    const publisher = this.#publisher;
    try {
      const sources = await publisher.sync(() => this.#localTracks);
      if (publisher === this.#publisher) this.#setPublished(sources);
    } catch (err) {
      if (err instanceof ClosedError || publisher !== this.#publisher) return; // redone after reconnect
      if (err instanceof LecternError && err.code === 'answer_timeout') {
        this.#report(err.code, err);
        this.#dropSocket('no answer to the publish offer');
        return;
      }
      if (err instanceof LecternError && err.code === 'busy') {
        clearTimeout(this.#busyTimer);
        this.#busyTimer = setTimeout(() => this.#syncPublisher().catch(() => {}), BUSY_RETRY_MS);
      }
      // Server refusals were already dispatched as `error` frames; report only local failures.
      if (!(err instanceof LecternError) || err.local) this.#report('publish_failed', err);
      throw err;
    }
  }

  /** @param {Source[]} sources */
  #setPublished(sources) {
    if (sources.length === this.#published.length && sources.every((s, i) => s === this.#published[i])) return;
    this.#published = [...sources];
    this.#emit('published', { sources: this.publishedSources });
  }

  // ----- subscribing --------------------------------------------------------------------------

  /** @param {any} frame */
  #onOffer(frame) {
    if (frame.pc !== 'subscribe' || typeof frame.sdp !== 'string') return;
    if (!this.#subscriber) {
      const pc = new this.#RTCPeerConnection(this.rtcConfiguration);
      watchIce(pc, () => this.#onIceFailed(pc));
      this.#subscriber = new Subscriber(
        pc,
        (f) => this.#send(f),
        (trackId) => this.#tracks.get(trackId),
        (media) => this.#emit('media', media),
      );
    }
    const subscriber = this.#subscriber;
    subscriber.onOffer(frame).catch((err) => {
      if (!(err instanceof ClosedError) && subscriber === this.#subscriber) this.#report('subscribe_failed', err);
    });
  }

  /** ICE failed for good: start over with a new connection. @param {RTCPeerConnection} pc */
  #onIceFailed(pc) {
    if (pc !== this.publishPc && pc !== this.subscribePc) return;
    this.#report('ice_failed', new Error('the media connection failed'));
    this.#dropSocket('ICE failed');
  }
}

/** Stops listening to a socket and closes it. @param {WebSocket} ws */
function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  try {
    ws.close(1000);
  } catch { /* already closing */ }
}

/**
 * The recording state of a `recording` frame (or of `joined.recording`); `off` when absent.
 * @param {any} value
 * @returns {RecordingInfo}
 */
function readRecording(value) {
  if (!value || typeof value !== 'object' || !RECORDING_STATES.includes(value.state)) return { state: 'off' };
  /** @type {RecordingInfo} */
  const info = { state: value.state };
  if (typeof value.recording === 'string') info.recording = value.recording;
  if (typeof value.since_ms === 'number' && Number.isFinite(value.since_ms)) info.since_ms = value.since_ms;
  if (typeof value.message === 'string') info.message = value.message;
  return info;
}

/** @param {string} source @returns {Source} */
function checkSource(source) {
  if (!SOURCES.includes(/** @type {Source} */ (source))) throw new TypeError(`unknown source: ${source}`);
  return /** @type {Source} */ (source);
}

/**
 * The track to send for a source: the first live track of the right kind of a MediaStream, or
 * the track itself.
 * @param {Source} source
 * @param {MediaStream | MediaStreamTrack} value
 * @returns {MediaStreamTrack | null}
 */
function pickTrack(source, value) {
  const kind = SOURCE_KIND[source];
  if ('getTracks' in value) {
    return value.getTracks().find((t) => t.kind === kind && t.readyState === 'live') ?? null;
  }
  if (value.kind !== kind) throw new TypeError(`${source} needs a ${kind} track`);
  return value;
}
