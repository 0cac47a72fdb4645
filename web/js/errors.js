// Errors of the signalling client. No DOM access.

/** @typedef {{code: string, message: string, fatal: boolean, local?: boolean}} ErrorInfo */

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

/** Work that belonged to a connection that has been closed since; never reported. */
export class ClosedError extends Error {
  constructor() {
    super('connection closed');
    this.name = 'ClosedError';
  }
}
