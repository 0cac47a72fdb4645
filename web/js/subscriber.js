// The "subscribe" peer connection: the server offers, the client answers. No DOM access.
//
// Each server `offer` carries `tracks: [{mid, track}]`, which says which transceiver carries which
// track id. The Subscriber turns that into media announcements: one when a track starts playing,
// one when it goes away.

import { ClosedError } from './errors.js';
import { Trickle } from './ice.js';

/** @typedef {import('./protocol.js').MediaInfo} MediaInfo */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */

export class Subscriber {
  /**
   * @param {RTCPeerConnection} pc
   * @param {(frame: Record<string, unknown>) => boolean} send
   * @param {(trackId: string) => TrackInfo | undefined} lookup  what the session knows of a track
   * @param {(media: MediaInfo) => void} announce  called when media starts, changes or goes away
   */
  constructor(pc, send, lookup, announce) {
    this.pc = pc;
    this.#send = send;
    this.#lookup = lookup;
    this.#announce = announce;
    this.#trickle = new Trickle(pc, (candidate) => send({ type: 'candidate', pc: 'subscribe', candidate }));
    pc.addEventListener('track', (event) => {
      const mid = event.transceiver?.mid;
      const trackId = mid != null ? this.#mids.get(mid) : undefined;
      if (trackId && !this.#closed) this.#start(trackId, event.track);
    });
  }

  /** @type {(frame: Record<string, unknown>) => boolean} */ #send;
  /** @type {(trackId: string) => TrackInfo | undefined} */ #lookup;
  /** @type {(media: MediaInfo) => void} */ #announce;
  /** @type {Trickle} */ #trickle;
  /** mid → track id, from the latest offer. @type {Map<string, string>} */
  #mids = new Map();
  /** @type {Map<string, MediaInfo>} */
  #media = new Map();
  /** Offers are applied one after the other. @type {Promise<void>} */
  #chain = Promise.resolve();
  #closed = false;

  /** Remote media currently playing. */
  get media() {
    return [...this.#media.values()];
  }

  /**
   * Applies a server `offer` and sends the `answer`. Offers are queued, never applied concurrently.
   * @param {{sdp: string, tracks?: {mid: string, track: string}[]}} frame
   * @returns {Promise<void>}
   */
  onOffer(frame) {
    const run = this.#chain.then(() => this.#apply(frame));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** A candidate from the server. @param {import('./ice.js').CandidateInit | null} candidate */
  onCandidate(candidate) {
    this.#trickle.add(candidate);
  }

  /** The server said this track went away. @param {string} trackId */
  retire(trackId) {
    this.#stop(trackId);
  }

  /** The session learnt more about a track (e.g. its source): announce it again. @param {string} trackId */
  refresh(trackId) {
    const media = this.#media.get(trackId);
    if (media?.track) this.#start(trackId, media.track, true);
  }

  /** Closes the connection; every playing track is announced as removed. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#trickle.close();
    try {
      this.pc.close();
    } catch { /* already closed */ }
    for (const trackId of [...this.#media.keys()]) this.#stop(trackId);
  }

  /** @param {{sdp: string, tracks?: {mid: string, track: string}[]}} frame */
  async #apply(frame) {
    this.#check();
    /** @type {Map<string, string>} */
    const mids = new Map();
    for (const entry of frame.tracks ?? []) {
      if (entry && entry.mid != null && entry.track) mids.set(String(entry.mid), String(entry.track));
    }
    this.#mids = mids; // before the offer is applied: `track` events read it
    await this.pc.setRemoteDescription({ type: 'offer', sdp: frame.sdp });
    this.#check();
    this.#trickle.flush();
    const answer = await this.pc.createAnswer();
    this.#check();
    await this.pc.setLocalDescription(answer);
    this.#check();
    this.#send({ type: 'answer', pc: 'subscribe', sdp: this.pc.localDescription?.sdp ?? answer.sdp });
    this.#trickle.start();
    this.#reconcile();
  }

  /**
   * After each negotiation: announce receiving transceivers whose track changed (a mid can be
   * given to another track without a new `track` event) and retire what is no longer offered.
   */
  #reconcile() {
    /** @type {Set<string>} */
    const receiving = new Set();
    for (const transceiver of this.pc.getTransceivers()) {
      const trackId = transceiver.mid != null ? this.#mids.get(transceiver.mid) : undefined;
      const direction = transceiver.currentDirection;
      if (!trackId || (direction !== 'recvonly' && direction !== 'sendrecv')) continue;
      receiving.add(trackId);
      this.#start(trackId, transceiver.receiver.track);
    }
    for (const trackId of [...this.#media.keys()]) {
      if (!receiving.has(trackId)) this.#stop(trackId);
    }
  }

  /** @param {string} trackId @param {MediaStreamTrack} track @param {boolean} [again] */
  #start(trackId, track, again = false) {
    const known = this.#media.get(trackId);
    if (known && known.track === track && !again) return;
    const info = this.#lookup(trackId);
    /** @type {MediaInfo} */
    const media = {
      trackId,
      source: info?.source ?? null,
      kind: info?.kind ?? /** @type {'audio' | 'video'} */ (track.kind),
      track,
      // A stream of its own per track: the server may group audio and video in one stream, and
      // a <video> given both would play the sound twice.
      stream: known && known.track === track && known.stream ? known.stream : new MediaStream([track]),
      removed: false,
    };
    this.#media.set(trackId, media);
    this.#announce(media);
  }

  /** @param {string} trackId */
  #stop(trackId) {
    const known = this.#media.get(trackId);
    if (!known) return;
    this.#media.delete(trackId);
    this.#announce({ trackId, source: known.source, kind: known.kind, track: null, stream: null, removed: true });
  }

  #check() {
    if (this.#closed) throw new ClosedError();
  }
}
