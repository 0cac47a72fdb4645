// lectern signalling client, protocol version 1 (docs/protocol.md).
//
// One WebSocket carries JSON frames; media flows over two RTCPeerConnections:
//   "publish"   the client offers, sendonly (the facilitator's camera, microphone, screen);
//   "subscribe" the server offers, the client answers (everyone who watches).
//
// No DOM access in this module: pages listen to its events and render.
//
// Events (all CustomEvents; the payload is `event.detail`):
//   connection          {state: 'connecting'|'connected'|'reconnecting'|'closed', attempt?, delay?}
//   joined, track_published, track_unpublished, participant_joined, participant_left,
//   session_state, session_ended, pong, error
//                       the server frame itself, after the client's own state was updated
//   error               also for local failures: {code, message, fatal, local: true}
//   media               {trackId, source, kind, track, stream, removed: false} when a remote track
//                       starts; {trackId, source, kind, track: null, stream: null, removed: true}
//                       when it goes away. `stream` holds only that one track.
//   published           {sources: Source[]}: what the publish connection sends, after each answer

export const PROTOCOL_VERSION = 1;

/** @typedef {'camera' | 'microphone' | 'screen'} Source */
/** @typedef {'connecting' | 'connected' | 'reconnecting' | 'closed'} ConnectionState */
/** @typedef {'waiting' | 'live' | 'paused' | 'ended'} SessionState */
/** @typedef {{id: string, title: string, course: string, state: SessionState}} SessionInfo */
/** @typedef {{peer: string, name: string, role: 'facilitator' | 'participant'}} Participant */
/** @typedef {{id: string, kind: 'audio' | 'video', source: Source, publisher: string, paused: boolean}} TrackInfo */
/** @typedef {{code: string, message: string, fatal: boolean, local?: boolean}} ErrorInfo */
/** @typedef {{candidate: string, sdpMid?: string | null, sdpMLineIndex?: number | null, usernameFragment?: string | null}} CandidateInit */

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
 * @property {string} [url]                   WebSocket URL; defaults to `/ws` on the page's host
 * @property {RTCConfiguration} [rtcConfiguration]
 * @property {typeof WebSocket} [WebSocket]   for tests
 * @property {typeof RTCPeerConnection} [RTCPeerConnection]  for tests
 */

/** @type {readonly Source[]} */
export const SOURCES = Object.freeze(['camera', 'microphone', 'screen']);

/** @type {Readonly<Record<Source, 'audio' | 'video'>>} */
export const SOURCE_KIND = Object.freeze({ camera: 'video', microphone: 'audio', screen: 'video' });

const HEARTBEAT_MS = 10_000;
/** Without any frame for this long (pongs arrive every 10 s), the socket is taken as dead. */
const SILENCE_LIMIT_MS = 25_000;
const ANSWER_TIMEOUT_MS = 15_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 10_000;
const BUSY_RETRY_MS = 3_000;
/** How long to wait for the server to close the socket after a final frame. */
const CLOSE_GRACE_MS = 2_000;

/** Close codes after which reconnecting cannot help, with the error code they stand for. */
const FATAL_CLOSE_CODES = new Map([
  [1009, 'too_large'],
  [4400, 'unsupported_version'],
  [4401, 'bad_key'],
  [4404, 'unknown_session'],
  [4409, 'replaced'],
  [4410, 'session_over'],
]);

/** Non-fatal errors that, while a publish offer is outstanding, mean it was refused. */
const OFFER_ERRORS = new Set(['bad_sdp', 'unsupported_codec', 'bad_track', 'forbidden', 'busy', 'internal']);

/** Server frames that are dispatched as events of the same name. */
const SERVER_EVENTS = new Set([
  'joined', 'answer', 'offer', 'candidate', 'track_published', 'track_unpublished',
  'participant_joined', 'participant_left', 'session_state', 'session_ended', 'pong', 'error',
]);

/** The WebSocket URL of the page's own server: `ws(s)://host/ws`. */
export function defaultSocketUrl(loc = globalThis.location) {
  if (!loc) throw new Error('no location: pass options.url');
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

/** An error frame from the server, or a local failure, as an Error. */
export class LecternError extends Error {
  /** @param {ErrorInfo} info */
  constructor(info) {
    super(info.message || info.code);
    this.name = 'LecternError';
    this.code = info.code;
    this.fatal = Boolean(info.fatal);
    this.local = Boolean(info.local);
  }
}

/** Work that belonged to a connection that is gone; swallowed, never reported. */
class StaleError extends Error {
  constructor() {
    super('connection replaced');
    this.name = 'StaleError';
  }
}

/**
 * Sends `tick`s every `interval` ms from a worker (not throttled in hidden tabs), falling back to
 * a page timer where workers are unavailable.
 */
class Heartbeat {
  /** @param {number} interval @param {() => void} onTick */
  constructor(interval, onTick) {
    this.interval = interval;
    this.onTick = onTick;
    this.running = false;
    /** @type {Worker | null} */
    this.worker = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    this.useWorker = typeof Worker === 'function';
  }

  start() {
    this.stop();
    this.running = true;
    if (this.useWorker) {
      try {
        if (!this.worker) {
          const worker = new Worker(new URL('./heartbeat-worker.js', import.meta.url));
          worker.onmessage = () => this.onTick();
          worker.onerror = () => this.#fallBack();
          this.worker = worker;
        }
        this.worker.postMessage({ interval: this.interval });
        return;
      } catch {
        this.useWorker = false;
        this.worker = null;
      }
    }
    this.timer = setInterval(this.onTick, this.interval);
  }

  stop() {
    this.running = false;
    this.worker?.postMessage({ interval: 0 });
    clearInterval(this.timer);
    this.timer = undefined;
  }

  dispose() {
    this.stop();
    this.worker?.terminate();
    this.worker = null;
  }

  /** The worker could not load: tick from the page instead. */
  #fallBack() {
    this.worker?.terminate();
    this.worker = null;
    this.useWorker = false;
    if (this.running && this.timer === undefined) this.timer = setInterval(this.onTick, this.interval);
  }
}

/**
 * The browser side of a lectern session.
 *
 * Construct, add listeners, then `connect()`. A facilitator calls `publish()` to go live and
 * `setSource()` to change what it sends; everyone receives `media` events for what to show.
 */
export class LecternClient extends EventTarget {
  /** @param {LecternClientOptions} options */
  constructor(options) {
    super();
    /** @readonly */ this.session = options.session;
    /** @readonly */ this.key = options.key;
    /** Display name sent with `join`; may be changed before `connect()`. */
    this.name = options.name ?? '';
    /** @readonly */ this.url = options.url ?? defaultSocketUrl();
    /** @readonly */ this.rtcConfiguration = options.rtcConfiguration ?? {};
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#RTCPeerConnection = options.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    this.#heartbeat = new Heartbeat(HEARTBEAT_MS, () => this.#onHeartbeat());
  }

  // ----- public state -------------------------------------------------------------------------

  /** @type {'facilitator' | 'participant' | null} */ role = null;
  /** @type {string | null} our peer id */ peer = null;
  /** @type {SessionInfo | null} */ sessionInfo = null;
  /** @type {SessionState | null} */ sessionState = null;
  /** @type {number | null} seconds the server waits for the facilitator while paused */
  graceSeconds = null;
  /** @type {string | null} why the session ended */ endReason = null;
  /** @type {ErrorInfo | null} the error that closed the connection for good */ fatalError = null;

  /** @returns {ConnectionState | 'idle'} */
  get connectionState() { return this.#connectionState; }
  /** Everyone in the session, ourselves included, by peer id. Read-only. */
  get participants() { return this.#participants; }
  /** Tracks that exist in the session (paused or not), by track id. Read-only. */
  get tracks() { return this.#tracks; }
  /** @returns {RTCPeerConnection | null} */
  get publishPc() { return this.#publishPc; }
  /** @returns {RTCPeerConnection | null} */
  get subscribePc() { return this.#subscribePc; }
  /** @returns {Source[]} the sources the server has accepted in the last publish answer */
  get publishedSources() { return [...this.#publishedSources]; }
  /** @returns {MediaInfo[]} remote media currently playing */
  get media() { return [...this.#remoteMedia.values()]; }

  // ----- private state ------------------------------------------------------------------------

  /** @type {typeof WebSocket} */ #WebSocket;
  /** @type {typeof RTCPeerConnection} */ #RTCPeerConnection;
  /** @type {Heartbeat} */ #heartbeat;

  /** @type {ConnectionState | 'idle'} */ #connectionState = 'idle';
  /** @type {WebSocket | null} */ #ws = null;
  /** Bumped whenever a connection is torn down: async work of older connections is stale. */
  #epoch = 0;
  /** Set once nothing should reconnect any more (left, ended, fatal error). */
  #closing = false;
  #hasJoined = false;
  #joined = false;
  #attempt = 0;
  #pingId = 0;
  #lastFrameAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #reconnectTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #closeTimer;

  /** @type {Map<string, Participant>} */ #participants = new Map();
  /** @type {Map<string, TrackInfo>} */ #tracks = new Map();

  // publishing
  /** What we want to send, kept across reconnects. @type {Map<Source, MediaStreamTrack>} */
  #localTracks = new Map();
  #wantPublish = false;
  /** @type {RTCPeerConnection | null} */ #publishPc = null;
  /** @type {Map<Source, RTCRtpTransceiver>} */ #transceivers = new Map();
  /** @type {Source[]} */ #publishedSources = [];
  #negotiationNeeded = false;
  #negotiating = false;
  /** @type {Promise<void>} */ #negotiation = Promise.resolve();
  /** @type {{resolve: (frame: any) => void, reject: (err: Error) => void} | null} */
  #pendingAnswer = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #busyTimer;
  /** One MediaStream id for camera and microphone (lip sync), another for the screen. */
  #streams = { main: /** @type {MediaStream | null} */ (null), screen: /** @type {MediaStream | null} */ (null) };

  // subscribing
  /** @type {RTCPeerConnection | null} */ #subscribePc = null;
  /** mid → track id, from the latest subscribe offer. @type {Map<string, string>} */
  #subscribeMids = new Map();
  /** @type {Promise<void>} */ #subscribeChain = Promise.resolve();
  /** @type {Map<string, MediaInfo>} */ #remoteMedia = new Map();

  // ICE: local candidates wait until their offer/answer went out; remote ones until the
  // remote description is set.
  /** @type {Record<'publish' | 'subscribe', {open: boolean, queue: (CandidateInit | null)[]}>} */
  #localCandidates = { publish: { open: false, queue: [] }, subscribe: { open: false, queue: [] } };
  /** @type {Record<'publish' | 'subscribe', (CandidateInit | null)[]>} */
  #remoteCandidates = { publish: [], subscribe: [] };

  // ----- public API ---------------------------------------------------------------------------

  /** Opens the connection and joins. Safe to call once; later calls do nothing. */
  connect() {
    if (this.#connectionState !== 'idle') return;
    this.#setConnection('connecting');
    this.#openSocket();
  }

  /**
   * Publishes (or changes) sources and resolves once the server has answered. Given sources are
   * set, `null` removes one, sources not named stay as they are. Before the connection is joined
   * the tracks are remembered and published on join; after a reconnect they are republished.
   * @param {Partial<Record<Source, MediaStream | MediaStreamTrack | null>>} streamsBySource
   * @returns {Promise<void>}
   */
  publish(streamsBySource) {
    if (this.role === 'participant') {
      return Promise.reject(new LecternError({ code: 'forbidden', message: 'participants cannot publish', fatal: false, local: true }));
    }
    for (const [source, value] of Object.entries(streamsBySource)) {
      const src = checkSource(source);
      const track = value ? pickTrack(src, value) : null;
      if (track) this.#localTracks.set(src, track);
      else this.#localTracks.delete(src);
    }
    this.#wantPublish = true;
    return this.#renegotiate();
  }

  /**
   * Replaces, adds or removes (null) the track of one source. While live and already sending
   * that source, this is an in-place `replaceTrack` with no renegotiation.
   * Before `publish()` it only remembers the track.
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
    const transceiver = this.#transceivers.get(src);
    if (track && transceiver && !this.#negotiating && this.#canNegotiate()
        && transceiver.direction === 'sendonly' && transceiver.currentDirection === 'sendonly') {
      await transceiver.sender.replaceTrack(track);
      return;
    }
    await this.#renegotiate();
  }

  /** The track we currently want to send for a source. @param {Source} source */
  localTrack(source) {
    return this.#localTracks.get(source) ?? null;
  }

  /** Facilitator only: ends the session for everyone. Returns whether the frame was sent. */
  endSession() {
    return this.#send({ type: 'end_session' });
  }

  /** Leaves politely; the connection closes and does not come back. */
  leave() {
    if (this.#connectionState === 'closed' || this.#connectionState === 'idle') {
      this.#closing = true;
      this.#finish();
      return;
    }
    this.#closing = true;
    clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    if (ws && ws.readyState === ws.OPEN && this.#joined) {
      this.#send({ type: 'leave' });
      this.#teardownConnection();
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#dropSocket('left'), CLOSE_GRACE_MS);
    } else if (ws) {
      this.#dropSocket('left');
    } else {
      this.#finish();
    }
  }

  /** Closes at once without telling the server (as a page unload would). */
  close() {
    this.#closing = true;
    clearTimeout(this.#reconnectTimer);
    if (this.#ws) this.#dropSocket('closed');
    else this.#finish();
  }

  // ----- socket -------------------------------------------------------------------------------

  #openSocket() {
    this.#epoch++;
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
      const name = String(this.name ?? '').trim().slice(0, 80);
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
      if (ws !== this.#ws) return;
      this.#onSocketClosed(event.code, event.reason);
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
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(1000);
    } catch { /* already closing */ }
    this.#onSocketClosed(1006, reason);
  }

  /** @param {number} code @param {string} reason */
  #onSocketClosed(code, reason) {
    this.#ws = null;
    this.#joined = false;
    clearTimeout(this.#closeTimer);
    this.#teardownConnection();
    const fatalCode = FATAL_CLOSE_CODES.get(code);
    if (!this.#closing && fatalCode) {
      // The error frame did not arrive (or was lost); the close code says enough.
      this.#fail({ code: fatalCode, message: reason || '', fatal: true });
    }
    if (this.#closing) {
      this.#finish();
      return;
    }
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** this.#attempt, BACKOFF_MAX_MS);
    this.#attempt++;
    this.#setConnection(this.#hasJoined ? 'reconnecting' : 'connecting', { attempt: this.#attempt, delay });
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closing) this.#openSocket();
    }, delay);
  }

  #finish() {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#busyTimer);
    this.#heartbeat.dispose();
    if (this.#ws) {
      const ws = this.#ws;
      this.#ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch { /* ignore */ }
    }
    this.#teardownConnection();
    this.#setConnection('closed');
  }

  /** Closes both peer connections and forgets everything tied to this connection. */
  #teardownConnection() {
    this.#epoch++;
    this.#heartbeat.stop();
    clearTimeout(this.#busyTimer);
    const pending = this.#pendingAnswer;
    this.#pendingAnswer = null;
    pending?.reject(new StaleError());
    this.#negotiating = false;
    this.#negotiationNeeded = this.#wantPublish;
    for (const pc of [this.#publishPc, this.#subscribePc]) {
      try { pc?.close(); } catch { /* ignore */ }
    }
    this.#publishPc = null;
    this.#subscribePc = null;
    this.#transceivers.clear();
    this.#subscribeMids = new Map();
    this.#subscribeChain = Promise.resolve();
    this.#localCandidates = { publish: { open: false, queue: [] }, subscribe: { open: false, queue: [] } };
    this.#remoteCandidates = { publish: [], subscribe: [] };
    if (this.#publishedSources.length) {
      this.#publishedSources = [];
      this.#emit('published', { sources: [] });
    }
    for (const trackId of [...this.#remoteMedia.keys()]) this.#removeMedia(trackId);
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
    if (!this.fatalError) this.fatalError = info;
    this.#emit('error', info);
  }

  /** Reports a local, non-fatal failure. @param {string} code @param {unknown} err */
  #report(code, err) {
    if (err instanceof StaleError) return;
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
      case 'joined': this.#onJoined(frame); return; // emits itself, in order
      case 'answer': this.#onAnswer(frame); break;
      case 'offer': this.#onOffer(frame); break;
      case 'candidate': this.#onRemoteCandidate(frame); break;
      case 'track_published': this.#onTrackPublished(frame); break;
      case 'track_unpublished': this.#onTrackUnpublished(frame); break;
      case 'participant_joined':
        if (frame.participant?.peer) this.#participants.set(frame.participant.peer, frame.participant);
        break;
      case 'participant_left': this.#participants.delete(frame.peer); break;
      case 'session_state': this.#onSessionState(frame); break;
      case 'session_ended': this.#onSessionEnded(frame); break;
      case 'error': this.#onErrorFrame(frame); return; // emits itself
      default: break;
    }
    if (SERVER_EVENTS.has(frame.type)) this.#emit(frame.type, frame);
  }

  /** @param {any} frame */
  #onJoined(frame) {
    this.#joined = true;
    this.#hasJoined = true;
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
    this.#emit('joined', frame);
    this.#setConnection('connected');
    if (this.role === 'facilitator' && this.#wantPublish && this.#localTracks.size) {
      this.#renegotiate().catch(() => { /* reported */ });
    }
  }

  /** @param {any} frame */
  #onTrackPublished(frame) {
    const track = frame.track;
    if (!track?.id) return;
    this.#tracks.set(track.id, track);
    const media = this.#remoteMedia.get(track.id);
    if (media && media.track && media.source !== track.source) {
      this.#announceMedia(track.id, media.track, true);
    }
  }

  /** @param {any} frame */
  #onTrackUnpublished(frame) {
    this.#tracks.delete(frame.track);
    this.#removeMedia(frame.track);
  }

  /** @param {any} frame */
  #onSessionState(frame) {
    this.sessionState = frame.state;
    if (this.sessionInfo) this.sessionInfo.state = frame.state;
    this.graceSeconds = frame.state === 'paused' ? (frame.grace_seconds ?? null) : null;
    if (frame.state === 'ended') this.#closing = true;
  }

  /** @param {any} frame */
  #onSessionEnded(frame) {
    this.#closing = true;
    this.endReason = frame.reason ?? null;
    this.sessionState = 'ended';
    if (this.sessionInfo) this.sessionInfo.state = 'ended';
    this.#wantPublish = false;
    this.#teardownConnection();
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#dropSocket('session ended'), CLOSE_GRACE_MS);
  }

  /** @param {any} frame */
  #onErrorFrame(frame) {
    /** @type {ErrorInfo} */
    const info = { code: String(frame.code), message: String(frame.message ?? ''), fatal: Boolean(frame.fatal) };
    if (info.fatal) {
      this.#fail(info);
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#dropSocket('fatal error'), CLOSE_GRACE_MS);
      return;
    }
    if (this.#pendingAnswer && OFFER_ERRORS.has(info.code)) {
      this.#pendingAnswer.reject(new LecternError(info));
    }
    this.#emit('error', info);
  }

  // ----- publishing ---------------------------------------------------------------------------

  #canNegotiate() {
    return this.#joined && this.role === 'facilitator' && !this.#closing;
  }

  /**
   * Brings the publish connection in line with `#localTracks`. Only one offer is outstanding at
   * a time: changes made meanwhile are folded into one more round.
   * @returns {Promise<void>}
   */
  #renegotiate() {
    this.#negotiationNeeded = true;
    if (!this.#canNegotiate()) return Promise.resolve();
    if (!this.#negotiating) {
      this.#negotiating = true;
      this.#negotiation = this.#negotiationLoop(this.#epoch);
    }
    return this.#negotiation;
  }

  /** @param {number} epoch */
  async #negotiationLoop(epoch) {
    try {
      while (this.#negotiationNeeded && epoch === this.#epoch) {
        this.#negotiationNeeded = false;
        await this.#negotiateOnce(epoch);
      }
    } catch (err) {
      if (err instanceof StaleError) return;
      if (err instanceof LecternError && err.code === 'busy' && epoch === this.#epoch) {
        clearTimeout(this.#busyTimer);
        this.#busyTimer = setTimeout(() => this.#renegotiate().catch(() => {}), BUSY_RETRY_MS);
      }
      if (!(err instanceof LecternError && !err.local)) this.#report('publish_failed', err);
      throw err;
    } finally {
      if (epoch === this.#epoch) this.#negotiating = false;
    }
  }

  /** @param {number} epoch */
  async #negotiateOnce(epoch) {
    const pc = this.#ensurePublishPc();
    for (const source of SOURCES) {
      const track = this.#localTracks.get(source) ?? null;
      let transceiver = this.#transceivers.get(source);
      if (track) {
        if (!transceiver) {
          transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [this.#streamFor(source)] });
          this.#transceivers.set(source, transceiver);
        } else {
          if (transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
          if (transceiver.direction !== 'sendonly') transceiver.direction = 'sendonly';
        }
      } else if (transceiver && transceiver.direction !== 'inactive') {
        transceiver.direction = 'inactive';
        await transceiver.sender.replaceTrack(null);
      }
      this.#assertCurrent(epoch);
    }
    if (this.#transceivers.size === 0) return; // nothing to offer yet

    const offer = await pc.createOffer();
    this.#assertCurrent(epoch);
    await pc.setLocalDescription(offer);
    this.#assertCurrent(epoch);

    /** @type {{mid: string, source: Source}[]} */
    const tracks = [];
    for (const [source, transceiver] of this.#transceivers) {
      if (transceiver.direction === 'sendonly' && transceiver.mid !== null) tracks.push({ mid: transceiver.mid, source });
    }
    const answered = this.#expectAnswer();
    const sdp = pc.localDescription?.sdp ?? offer.sdp;
    if (!this.#send({ type: 'offer', pc: 'publish', sdp, tracks })) {
      this.#pendingAnswer?.reject(new StaleError());
      await answered.catch(() => {});
      throw new StaleError();
    }
    this.#openLocalCandidates('publish');

    let answer;
    try {
      answer = await answered;
    } catch (err) {
      if (err instanceof LecternError && err.code === 'answer_timeout') {
        this.#dropSocket('no answer to the publish offer');
        throw new StaleError();
      }
      if (!(err instanceof StaleError) && pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      }
      throw err;
    }
    this.#assertCurrent(epoch);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    this.#assertCurrent(epoch);
    this.#flushRemoteCandidates('publish', pc);
    this.#publishedSources = tracks.map((t) => t.source);
    this.#emit('published', { sources: this.publishedSources });
  }

  /** @param {number} epoch */
  #assertCurrent(epoch) {
    if (epoch !== this.#epoch) throw new StaleError();
  }

  /** @returns {Promise<any>} the server's `answer` frame */
  #expectAnswer() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pendingAnswer === entry) this.#pendingAnswer = null;
        reject(new LecternError({ code: 'answer_timeout', message: 'the server did not answer', fatal: false, local: true }));
      }, ANSWER_TIMEOUT_MS);
      const entry = {
        /** @param {any} frame */
        resolve: (frame) => { clearTimeout(timer); if (this.#pendingAnswer === entry) this.#pendingAnswer = null; resolve(frame); },
        /** @param {Error} err */
        reject: (err) => { clearTimeout(timer); if (this.#pendingAnswer === entry) this.#pendingAnswer = null; reject(err); },
      };
      this.#pendingAnswer = entry;
    });
  }

  /** @param {any} frame */
  #onAnswer(frame) {
    if (frame.pc !== 'publish' || typeof frame.sdp !== 'string') return;
    this.#pendingAnswer?.resolve(frame);
  }

  #ensurePublishPc() {
    if (this.#publishPc) return this.#publishPc;
    const pc = new this.#RTCPeerConnection(this.rtcConfiguration);
    this.#wirePeerConnection(pc, 'publish');
    this.#publishPc = pc;
    this.#streams = { main: null, screen: null };
    return pc;
  }

  /** @param {Source} source */
  #streamFor(source) {
    const key = source === 'screen' ? 'screen' : 'main';
    this.#streams[key] ??= new MediaStream();
    return this.#streams[key];
  }

  // ----- subscribing --------------------------------------------------------------------------

  /** @param {any} frame */
  #onOffer(frame) {
    if (frame.pc !== 'subscribe' || typeof frame.sdp !== 'string') return;
    const epoch = this.#epoch;
    this.#subscribeChain = this.#subscribeChain
      .then(() => this.#applySubscribeOffer(frame, epoch))
      .catch((err) => this.#report('subscribe_failed', err));
  }

  /** @param {any} frame @param {number} epoch */
  async #applySubscribeOffer(frame, epoch) {
    this.#assertCurrent(epoch);
    const pc = this.#ensureSubscribePc();
    /** @type {Map<string, string>} */
    const mids = new Map();
    for (const entry of frame.tracks ?? []) {
      if (entry && entry.mid != null && entry.track) mids.set(String(entry.mid), String(entry.track));
    }
    this.#subscribeMids = mids; // before the offer is applied: `track` events read it
    await pc.setRemoteDescription({ type: 'offer', sdp: frame.sdp });
    this.#assertCurrent(epoch);
    this.#flushRemoteCandidates('subscribe', pc);
    const answer = await pc.createAnswer();
    this.#assertCurrent(epoch);
    await pc.setLocalDescription(answer);
    this.#assertCurrent(epoch);
    this.#send({ type: 'answer', pc: 'subscribe', sdp: pc.localDescription?.sdp ?? answer.sdp });
    this.#openLocalCandidates('subscribe');
    this.#reconcileMedia(pc);
  }

  #ensureSubscribePc() {
    if (this.#subscribePc) return this.#subscribePc;
    const pc = new this.#RTCPeerConnection(this.rtcConfiguration);
    this.#wirePeerConnection(pc, 'subscribe');
    pc.ontrack = (event) => {
      if (pc !== this.#subscribePc) return;
      const mid = event.transceiver?.mid;
      const trackId = mid != null ? this.#subscribeMids.get(mid) : undefined;
      if (trackId) this.#announceMedia(trackId, event.track);
    };
    this.#subscribePc = pc;
    return pc;
  }

  /**
   * After each subscribe negotiation: announce receiving transceivers whose track changed
   * (a mid may be reused without a new `track` event) and retire what is no longer offered.
   * @param {RTCPeerConnection} pc
   */
  #reconcileMedia(pc) {
    /** @type {Set<string>} */
    const live = new Set();
    for (const transceiver of pc.getTransceivers()) {
      const trackId = transceiver.mid != null ? this.#subscribeMids.get(transceiver.mid) : undefined;
      const receiving = transceiver.currentDirection === 'recvonly' || transceiver.currentDirection === 'sendrecv';
      if (!trackId || !receiving) continue;
      live.add(trackId);
      this.#announceMedia(trackId, transceiver.receiver.track);
    }
    for (const trackId of [...this.#remoteMedia.keys()]) {
      if (!live.has(trackId)) this.#removeMedia(trackId);
    }
  }

  /** @param {string} trackId @param {MediaStreamTrack} track @param {boolean} [force] */
  #announceMedia(trackId, track, force = false) {
    const known = this.#remoteMedia.get(trackId);
    if (known && known.track === track && !force) return;
    const info = this.#tracks.get(trackId);
    /** @type {MediaInfo} */
    const media = {
      trackId,
      source: info?.source ?? null,
      kind: info?.kind ?? /** @type {'audio' | 'video'} */ (track.kind),
      track,
      stream: known && known.track === track && known.stream ? known.stream : new MediaStream([track]),
      removed: false,
    };
    this.#remoteMedia.set(trackId, media);
    this.#emit('media', media);
  }

  /** @param {string} trackId */
  #removeMedia(trackId) {
    const known = this.#remoteMedia.get(trackId);
    if (!known) return;
    this.#remoteMedia.delete(trackId);
    this.#emit('media', { trackId, source: known.source, kind: known.kind, track: null, stream: null, removed: true });
  }

  // ----- ICE ----------------------------------------------------------------------------------

  /** @param {RTCPeerConnection} pc @param {'publish' | 'subscribe'} which */
  #wirePeerConnection(pc, which) {
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (c && !c.candidate) return; // per-m-line end marker (Firefox); the null event follows
      /** @type {CandidateInit | null} */
      const init = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
      if (c && c.usernameFragment && init) init.usernameFragment = c.usernameFragment;
      if (pc !== (which === 'publish' ? this.#publishPc : this.#subscribePc)) return;
      const gate = this.#localCandidates[which];
      if (gate.open) this.#send({ type: 'candidate', pc: which, candidate: init });
      else gate.queue.push(init);
    };
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState !== 'failed') return;
      if (pc !== this.#publishPc && pc !== this.#subscribePc) return;
      this.#report('ice_failed', new Error(`${which} connection failed`));
      this.#dropSocket(`${which} ICE failed`);
    };
  }

  /** @param {'publish' | 'subscribe'} which */
  #openLocalCandidates(which) {
    const gate = this.#localCandidates[which];
    if (gate.open) return;
    gate.open = true;
    for (const candidate of gate.queue.splice(0)) this.#send({ type: 'candidate', pc: which, candidate });
  }

  /** @param {any} frame */
  #onRemoteCandidate(frame) {
    const which = frame.pc === 'publish' ? 'publish' : frame.pc === 'subscribe' ? 'subscribe' : null;
    if (!which) return;
    const pc = which === 'publish' ? this.#publishPc : this.#subscribePc;
    const candidate = frame.candidate ?? null;
    if (!pc || !pc.remoteDescription) {
      this.#remoteCandidates[which].push(candidate);
      return;
    }
    addCandidate(pc, candidate);
  }

  /** @param {'publish' | 'subscribe'} which @param {RTCPeerConnection} pc */
  #flushRemoteCandidates(which, pc) {
    for (const candidate of this.#remoteCandidates[which].splice(0)) addCandidate(pc, candidate);
  }
}

/** @param {RTCPeerConnection} pc @param {CandidateInit | null} candidate */
function addCandidate(pc, candidate) {
  const added = candidate ? pc.addIceCandidate(candidate) : pc.addIceCandidate();
  added.catch(() => { /* a candidate we cannot use is no reason to fail */ });
}

/** @param {string} source @returns {Source} */
function checkSource(source) {
  if (!SOURCES.includes(/** @type {Source} */ (source))) throw new TypeError(`unknown source: ${source}`);
  return /** @type {Source} */ (source);
}

/**
 * The track to send for a source from a MediaStream (first track of the right kind) or a track.
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
