// The router clock: milliseconds on the process-wide monotonic clock since the router started,
// the same in every shard thread. Deadlines (CE_DEADLINE), stall detection (OUT_BLOCKED_SINCE)
// and the close drain are measured with it, so a wall-clock jump (NTP step, manual date change,
// VM resume) can neither expire every request at once nor postpone deadlines by hours.

/** Milliseconds on CLOCK_MONOTONIC (process.hrtime): one clock for every thread of the process. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * A clock reading `monotonicMs() - originMs` as an unsigned 32-bit millisecond count (the
 * router's time base; it wraps after 49 days and every comparison of it is wrap-safe).
 * Reads use performance.now() (cheaper than hrtime); its offset from the monotonic clock is
 * taken once, since both count on the same monotonic source in any thread. With `us`, every
 * reading also stores the time in µs at `us.u32[us.at]`.
 */
export function routerClock(originMs: number, us?: { u32: Uint32Array; at: number }): () => number {
  const offset = monotonicMs() - performance.now();
  if (us === undefined) return () => Math.max(0, Math.floor(performance.now() + offset - originMs)) >>> 0;
  // The same reading in µs, wrapping at 2^32 (71 minutes; the hot path uses differences):
  // the router's latency clock (SH_NOW_US), at no extra clock read.
  const { u32, at } = us;
  return () => {
    const t = Math.max(0, performance.now() + offset - originMs);
    u32[at] = Math.floor(t * 1000) >>> 0;
    return Math.floor(t) >>> 0;
  };
}

/**
 * Test seam: make Date.now() in this thread return the wall clock shifted by the i32 at
 * `skewAt` (milliseconds, 0 = real time), as a wall-clock jump would. Nothing in the router's
 * timing reads Date.now(); the fault tests use this to show it.
 */
export function installWallClockSkew(i32: Int32Array, skewAt: number): void {
  const realNow = Date.now.bind(Date);
  Date.now = (): number => realNow() + Atomics.load(i32, skewAt);
}
