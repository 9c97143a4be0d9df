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

/**
 * The waker's half of a lost-wake-up race: publishes 1..count into the i32 at byte `flag`, each
 * after the sleeper acknowledged the previous one (the i32 at byte `ack`) and a pseudo-random
 * gap of 0–60 µs (so publishes meet the sleeper announcing, looking or asleep), then calls
 * `ring(i)` to wake it.
 */
export async function publishRacingSleeper(i32: Int32Array, flag: number, ack: number, count: number, ring: (i: number) => void): Promise<void> {
  let seed = 7;
  for (let i = 1; i <= count; i++) {
    while (Atomics.load(i32, ack >>> 2) !== i - 1) await new Promise((r) => setImmediate(r));
    seed = (seed * 1103515245 + 12345) >>> 0;
    const gapEnd = performance.now() + ((seed >>> 16) % 60) / 1000;
    while (performance.now() < gapEnd);
    Atomics.store(i32, flag >>> 2, i);
    ring(i);
  }
}
