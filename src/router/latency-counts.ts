// Exact 64-bit totals of the router's per-device latency bucket counts, which the shards keep
// as u32 (layout DS_LAT_BUCKETS: half the bytes of u64 in every device state). A bucket never
// holds more than its device's answers, DS_C_RESPONSES (u64), so below 2^31 answers the u32
// values are the totals and no state is kept. From 2^31 answers on, a device is followed: its
// last u32 values and the totals they add up to, advanced by the (mod 2^32) difference at every
// read. Reads happen at every stats() and at least every FOLD_MS (a timer), and no bucket
// gains 2^32 counts in FOLD_MS (that is 143 M answers/s for one device; a shard routes a few
// tens of millions of frames per second in all), so no wrap is missed, and a device crosses
// from under 2^31 to 2^32 answers between two reads only at that same impossible rate.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterLayout } from './layout.js';

/** Longest time between two reads of every device's buckets (ms). */
export const FOLD_MS = 30_000;
/** Answers of a device from which its buckets are followed across wraps. */
const FOLLOW_FROM = 2 ** 31;

interface Followed {
  /** The u32 values at the last read. */
  last: Uint32Array;
  /** Their exact totals. */
  totals: number[];
}

export class LatencyCounts {
  /** Only devices past FOLLOW_FROM answers, by device-state address. */
  private readonly followed = new Map<number, Followed>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly mem: SharedMemory, private readonly L: RouterLayout) {}

  /** The exact counts of the device state at `ds` (DS_LAT_N of them), now. */
  read(ds: number): number[] {
    const { L, mem } = this;
    const at = (ds + L.DS_LAT_BUCKETS) >>> 2;
    const raw = mem.u32.subarray(at, at + L.DS_LAT_N);
    const f = this.followed.get(ds);
    if (f !== undefined) {
      for (let b = 0; b < raw.length; b++) {
        const now = raw[b]!;
        f.totals[b] = f.totals[b]! + ((now - f.last[b]!) >>> 0);
        f.last[b] = now;
      }
      return f.totals.slice();
    }
    const counts = Array.from(raw);
    // One 8-byte read, as stats.ts reads counters: two u32 halves could tear at a carry out of the low one.
    const answers = Number(Atomics.load(new BigUint64Array(mem.buffer), (ds + L.DS_C_RESPONSES) / 8));
    // Under 2^32 answers no bucket has wrapped yet: the values are exact, and the start of the following.
    if (answers >= FOLLOW_FROM) this.followed.set(ds, { last: Uint32Array.from(counts), totals: counts.slice() });
    return counts;
  }

  /** The device state at `ds` is gone (removed and read one last time). */
  forget(ds: number): void {
    this.followed.delete(ds);
  }

  /** Read every device of `states()` every FOLD_MS until stop(). */
  start(states: () => Iterable<number>): void {
    this.timer = setInterval(() => {
      for (const ds of states()) this.read(ds);
    }, FOLD_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
