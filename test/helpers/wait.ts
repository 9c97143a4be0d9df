// Waiting in tests: every test waits on a condition (until, receive), never on a fixed time.
// sleep() is for the few tests where time itself is under test ("nothing arrives for 100 ms");
// such a call says so in a comment.

/** Resolves after `ms`. Only for time under test, never to let something happen. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond()` holds (looked at every 2 ms), or fails naming `what` after `ms`. */
export async function until(cond: () => boolean, what = 'condition', ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
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
