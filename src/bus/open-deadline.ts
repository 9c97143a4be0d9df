// How long opening an external link may wait for its peer (the window file, its layout, the
// doorbell socket, the queue bring-up, the first answers), and how a caller cancels the wait
// (Ctrl-C in `vmsg route`). One deadline covers the whole open.

export interface OpenDeadline {
  /** Date.now() value after which opening fails; Infinity = wait as long as it takes. */
  readonly at: number;
  /** Total budget in ms (for messages); 0 = none. */
  readonly ms: number;
  readonly signal: AbortSignal | undefined;
}

/** A deadline `ms` from now (0 = none), cancelled early by `signal`. */
export function deadlineIn(ms: number, signal?: AbortSignal): OpenDeadline {
  return { at: ms > 0 ? Date.now() + ms : Infinity, ms, signal };
}

/** Throw if the deadline passed or the wait was cancelled, naming what was awaited. */
export function checkDeadline(d: OpenDeadline, what: string): void {
  if (d.signal?.aborted === true) throw new Error(`cancelled while waiting for ${what}`);
  if (Date.now() > d.at) throw new Error(`timed out after ${d.ms} ms waiting for ${what}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `test` every `everyMs` until it holds; throws at the deadline or on cancel. */
export async function waitUntil(d: OpenDeadline, what: string, test: () => boolean, everyMs = 2): Promise<void> {
  while (!test()) {
    checkDeadline(d, what);
    await sleep(everyMs);
  }
}
