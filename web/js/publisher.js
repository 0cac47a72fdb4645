// The "publish" peer connection: the client offers, sends only. No DOM access.
//
// One Publisher lives as long as one joined connection; after a reconnect the client makes a new
// one and publishes the same tracks again.

import { ClosedError, LecternError } from './errors.js';
import { Trickle } from './ice.js';

/** @typedef {import('./protocol.js').Source} Source */

/** The order in which transceivers are first added (and so m-lines appear). */
const ORDER = /** @type {const} */ (['camera', 'microphone', 'screen']);

export const ANSWER_TIMEOUT_MS = 15_000;

/** Non-fatal server errors that, while an offer is outstanding, mean it was refused. */
const OFFER_ERRORS = new Set(['bad_sdp', 'unsupported_codec', 'bad_track', 'forbidden', 'busy', 'internal']);

export class Publisher {
  /**
   * @param {RTCPeerConnection} pc
   * @param {(frame: Record<string, unknown>) => boolean} send  sends a frame; false if it could not
   */
  constructor(pc, send) {
    this.pc = pc;
    this.#send = send;
    this.#trickle = new Trickle(pc, (candidate) => send({ type: 'candidate', pc: 'publish', candidate }));
  }

  /** @type {(frame: Record<string, unknown>) => boolean} */ #send;
  /** @type {Trickle} */ #trickle;
  /** @type {Map<Source, RTCRtpTransceiver>} */ #transceivers = new Map();
  /** Camera and microphone share one stream id (lip sync); the screen has its own. */
  #streams = { main: /** @type {MediaStream | null} */ (null), screen: /** @type {MediaStream | null} */ (null) };
  #closed = false;
  #needed = false;
  #running = false;
  /** @type {Promise<Source[]>} */ #round = Promise.resolve([]);
  /** @type {{resolve: (sdp: string) => void, reject: (err: Error) => void} | null} */
  #pending = null;

  /** Sources the server accepted in its last answer. @type {Source[]} */
  published = [];

  /** Whether an offer is being prepared or awaits its answer. */
  get busy() {
    return this.#running;
  }

  /**
   * Brings the connection in line with the wanted tracks: adds, replaces or deactivates
   * transceivers and sends one `offer` with the complete `tracks` list. Only one offer is
   * outstanding at a time; calls made meanwhile are folded into one more round.
   * Resolves with the sources the server accepted.
   * @param {() => Map<Source, MediaStreamTrack>} wanted  read afresh for every round
   * @returns {Promise<Source[]>}
   */
  sync(wanted) {
    this.#needed = true;
    if (!this.#running) {
      this.#running = true;
      this.#round = this.#loop(wanted);
    }
    return this.#round;
  }

  /**
   * Swaps the track of a source that is already being sent, without renegotiating.
   * Returns false when that is not possible (not sending that source yet, or an offer in flight).
   * @param {Source} source
   * @param {MediaStreamTrack} track
   */
  async tryReplace(source, track) {
    const transceiver = this.#transceivers.get(source);
    if (this.#closed || this.#running || !transceiver) return false;
    if (transceiver.direction !== 'sendonly' || transceiver.currentDirection !== 'sendonly') return false;
    await transceiver.sender.replaceTrack(track);
    return true;
  }

  /** The server's `answer`. @param {string} sdp */
  onAnswer(sdp) {
    this.#pending?.resolve(sdp);
  }

  /**
   * A non-fatal server error: if an offer is outstanding, it was refused.
   * @param {import('./errors.js').ErrorInfo} info
   */
  onError(info) {
    if (this.#pending && OFFER_ERRORS.has(info.code)) this.#pending.reject(new LecternError(info));
  }

  /** A candidate from the server. @param {import('./ice.js').CandidateInit | null} candidate */
  onCandidate(candidate) {
    this.#trickle.add(candidate);
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.reject(new ClosedError());
    this.#trickle.close();
    try {
      this.pc.close();
    } catch { /* already closed */ }
  }

  /** @param {() => Map<Source, MediaStreamTrack>} wanted */
  async #loop(wanted) {
    try {
      while (this.#needed) {
        this.#needed = false;
        await this.#negotiate(wanted());
      }
      return this.published;
    } finally {
      this.#running = false;
    }
  }

  /** @param {Map<Source, MediaStreamTrack>} wanted */
  async #negotiate(wanted) {
    const pc = this.pc;
    for (const source of ORDER) {
      const track = wanted.get(source) ?? null;
      const transceiver = this.#transceivers.get(source);
      if (track && !transceiver) {
        this.#transceivers.set(source, pc.addTransceiver(track, { direction: 'sendonly', streams: [this.#streamFor(source)] }));
      } else if (track && transceiver) {
        if (transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
        if (transceiver.direction !== 'sendonly') transceiver.direction = 'sendonly';
      } else if (transceiver && transceiver.direction !== 'inactive') {
        // Stopped sources keep their m-line, inactive, to be reused if they come back.
        transceiver.direction = 'inactive';
        await transceiver.sender.replaceTrack(null);
      }
      this.#check();
    }
    if (!this.#transceivers.size) return;

    const offer = await pc.createOffer();
    this.#check();
    await pc.setLocalDescription(offer);
    this.#check();

    /** @type {{mid: string, source: Source}[]} */
    const tracks = [];
    for (const [source, transceiver] of this.#transceivers) {
      if (transceiver.direction === 'sendonly' && transceiver.mid !== null) tracks.push({ mid: transceiver.mid, source });
    }
    const answered = this.#expectAnswer();
    if (!this.#send({ type: 'offer', pc: 'publish', sdp: pc.localDescription?.sdp ?? offer.sdp, tracks })) {
      this.#pending?.reject(new ClosedError());
    }
    this.#trickle.start();

    let sdp;
    try {
      sdp = await answered;
    } catch (err) {
      if (!this.#closed && pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      }
      throw err;
    }
    this.#check();
    await pc.setRemoteDescription({ type: 'answer', sdp });
    this.#check();
    this.#trickle.flush();
    this.published = tracks.map((t) => t.source);
  }

  /** @returns {Promise<string>} the answer's SDP */
  #expectAnswer() {
    return new Promise((resolve, reject) => {
      const entry = {
        /** @param {string} sdp */
        resolve: (sdp) => settle(() => resolve(sdp)),
        /** @param {Error} err */
        reject: (err) => settle(() => reject(err)),
      };
      const timer = setTimeout(() => entry.reject(new LecternError({
        code: 'answer_timeout', message: 'the server did not answer the publish offer', fatal: false, local: true,
      })), ANSWER_TIMEOUT_MS);
      /** @param {() => void} done */
      const settle = (done) => {
        clearTimeout(timer);
        if (this.#pending === entry) this.#pending = null;
        done();
      };
      this.#pending = entry;
    });
  }

  #check() {
    if (this.#closed) throw new ClosedError();
  }

  /** @param {Source} source */
  #streamFor(source) {
    const key = source === 'screen' ? 'screen' : 'main';
    this.#streams[key] ??= new MediaStream();
    return this.#streams[key];
  }
}
