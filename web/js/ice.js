// Trickle ICE for one peer connection. No DOM access.
//
// Local candidates wait until the offer or answer they belong to has been sent (the server must
// see the description first), then go out one `candidate` frame each; `null` ends them.
// Candidates from the server wait until the remote description is set.

/** @typedef {{candidate: string, sdpMid?: string | null, sdpMLineIndex?: number | null, usernameFragment?: string | null}} CandidateInit */

export class Trickle {
  /**
   * @param {RTCPeerConnection} pc
   * @param {(candidate: CandidateInit | null) => void} send
   */
  constructor(pc, send) {
    this.pc = pc;
    this.send = send;
    this.open = false;
    this.closed = false;
    /** @type {(CandidateInit | null)[]} */
    this.outgoing = [];
    /** @type {(CandidateInit | null)[]} */
    this.incoming = [];
    pc.addEventListener('icecandidate', (event) => this.#onLocal(event.candidate));
  }

  /** The local description has been sent: release the waiting candidates, and all later ones. */
  start() {
    if (this.open || this.closed) return;
    this.open = true;
    for (const candidate of this.outgoing.splice(0)) this.send(candidate);
  }

  /** A candidate (or `null`, end of candidates) from the server. @param {CandidateInit | null} candidate */
  add(candidate) {
    if (this.closed) return;
    if (!this.pc.remoteDescription) this.incoming.push(candidate);
    else addCandidate(this.pc, candidate);
  }

  /** The remote description is set: apply the candidates that arrived before it. */
  flush() {
    if (this.closed) return;
    for (const candidate of this.incoming.splice(0)) addCandidate(this.pc, candidate);
  }

  close() {
    this.closed = true;
    this.outgoing = [];
    this.incoming = [];
  }

  /** @param {RTCIceCandidate | null} c */
  #onLocal(c) {
    if (this.closed) return;
    // Firefox marks the end of each m-line's candidates with an empty one; the final null follows.
    if (c && !c.candidate) return;
    /** @type {CandidateInit | null} */
    let init = null;
    if (c) {
      init = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
      if (c.usernameFragment) init.usernameFragment = c.usernameFragment;
    }
    if (this.open) this.send(init);
    else this.outgoing.push(init);
  }
}

/**
 * Calls `onFailed` once if ICE fails for good on this connection.
 * @param {RTCPeerConnection} pc
 * @param {() => void} onFailed
 */
export function watchIce(pc, onFailed) {
  let reported = false;
  pc.addEventListener('iceconnectionstatechange', () => {
    if (pc.iceConnectionState === 'failed' && !reported) {
      reported = true;
      onFailed();
    }
  });
}

/** @param {RTCPeerConnection} pc @param {CandidateInit | null} candidate */
function addCandidate(pc, candidate) {
  const added = candidate ? pc.addIceCandidate(candidate) : pc.addIceCandidate();
  added.catch(() => { /* a candidate we cannot use is no reason to fail */ });
}
