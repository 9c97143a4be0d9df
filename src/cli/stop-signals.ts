// SIGINT (Ctrl-C) and SIGTERM end a command's run the same way: it stops, removes what it
// created (temporary files, workers) and reports. Without a listener SIGTERM would end the
// process at once and leave its temporary directory behind.

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Call `stop` on the first SIGINT or SIGTERM, then stop listening: a second signal ends the
 * process as usual (a run that does not stop can still be ended). The returned function stops
 * listening without a signal.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    release();
    stop(signal);
  };
  const release = (): void => {
    for (const s of STOP_SIGNALS) process.removeListener(s, handler);
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return release;
}
