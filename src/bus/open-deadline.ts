// How long opening an external link may wait for its peer (the window file, its layout, the
// doorbell socket, the queue bring-up, the first answers), and how a caller cancels the wait
// (Ctrl-C in `vmsg route`). One deadline covers the whole open.

export interface OpenDeadline {
  /** Date.now() value after which opening fails; Infinity = wait as long as it takes. */
  readonly at: number;
  /** Total budget in ms (for messages); 0 = none. */
  readonly ms: number;
  readonly signal: AbortSignal | undefined;
  /** Told once a wait has lasted NOTICE_AFTER_MS: a line saying what for and until when. */
  readonly notice?: (line: string) => void;
}

/**
 * A wait this long is worth a line: a peer that is simply starting answers sooner, and a user
 * staring at a silent terminal for the whole deadline (10 s by default) learns nothing.
 */
export const NOTICE_AFTER_MS = 1000;

/** A deadline `ms` from now (0 = none), cancelled early by `signal`. */
export function deadlineIn(ms: number, signal?: AbortSignal, notice?: (line: string) => void): OpenDeadline {
  return { at: ms > 0 ? Date.now() + ms : Infinity, ms, signal, notice };
}

/** Throw if the deadline passed or the wait was cancelled, naming what was awaited. */
export function checkDeadline(d: OpenDeadline, what: string): void {
  if (d.signal?.aborted === true) throw new Error(`cancelled while waiting for ${what}`);
  if (Date.now() > d.at) throw new Error(`timed out after ${d.ms} ms waiting for ${what}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `test` every `everyMs` until it holds; throws at the deadline or on cancel. */
export async function waitUntil(d: OpenDeadline, what: string, test: () => boolean, everyMs = 2): Promise<void> {
  const noticeAt = d.notice === undefined ? Infinity : Date.now() + NOTICE_AFTER_MS;
  while (!test()) {
    checkDeadline(d, what);
    if (Date.now() >= noticeAt && d.notice !== undefined) {
      const until = d.at === Infinity ? 'no time limit' : `giving up in ${((d.at - Date.now()) / 1000).toFixed(1)} s`;
      d.notice(`waiting for ${what}; ${until} (wait=MS in the URI sets the limit)`);
      return waitUntil({ ...d, notice: undefined }, what, test, everyMs);
    }
    await sleep(everyMs);
  }
}
