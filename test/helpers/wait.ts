// Waiting in tests: every test waits on a condition (until, receive), never on a fixed time.
// sleep() is for the few tests where time itself is under test ("nothing arrives for 100 ms");
// such a call says so in a comment.

/** Resolves after `ms`. Only for time under test, never to let something happen. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once `cond()` holds (looked at every 2 ms), or fails naming `what` after `ms`;
 * `detail` adds what helps read a failure (e.g. the logs of the processes under test).
 */
export async function until(cond: () => boolean, what = 'condition', ms = 10_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail === undefined ? '' : `\n${detail()}`}`);
    await sleep(2);
  }
}

/** The first value `f()` gives other than undefined (looked at every 2 ms), or fails naming `what` after `ms`. */
export async function untilDefined<T>(f: () => T | undefined, what = 'value', ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** Something frames can be taken from without blocking (an EndpointPort, a channel). */
export interface FrameSource {
  recv(): Uint8Array | null;
}

/** Frames (as hex) taken from `source` until `expect` arrived or `ms` passed (then fewer). */
export async function receive(source: FrameSource, expect: number, ms = 5000): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + ms;
  while (out.length < expect && Date.now() < deadline) {
    const f = source.recv();
    if (f) out.push(Buffer.from(f).toString('hex'));
    else await sleep(1);
  }
  return out;
}
