// Heartbeat ticks for LecternClient. Timers of a hidden page may be throttled to one wake-up a
// minute, which is longer than the server's 30 s idle limit; a dedicated worker's timers are not.
// Message `{interval: ms}` starts ticking, `{interval: 0}` stops.

/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

self.onmessage = (event) => {
  clearInterval(timer);
  timer = undefined;
  const interval = Number(event.data && event.data.interval);
  if (interval > 0) timer = setInterval(() => self.postMessage('tick'), interval);
};
