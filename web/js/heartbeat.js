// Heartbeat ticks for the signalling client. No DOM access.
//
// A hidden page's timers may be throttled to one wake-up a minute, longer than the server's 30 s
// idle limit; a dedicated worker's timers are not. Where no worker can run, a page timer is used.

export class Heartbeat {
  /** @param {number} interval ms @param {() => void} onTick */
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
