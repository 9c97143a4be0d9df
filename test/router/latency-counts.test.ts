// The shards count request latency in u32 buckets (layout DS_LAT_BUCKETS); the control plane
// must still report exact, never-decreasing 64-bit totals. Billions of real answers cannot be
// routed in a test, so a device state in a real shared memory is given counter values near
// the wrap and advanced the way a shard does (u32 adds, DS_C_RESPONSES their u64 sum).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { routerLayout } from '../../src/router/layout.js';
import { LatencyCounts, FOLD_MS } from '../../src/router/latency-counts.js';

const L = routerLayout();

/** A device state whose buckets a test advances like the owner shard does. */
function device(mem: SharedMemory): { ds: number; answer(bucket: number, n: number): void; set(bucket: number, n: number): void } {
  const ds = mem.alloc(L.DS_SIZE);
  const big = new BigUint64Array(mem.buffer);
  const at = (b: number): number => (ds + L.DS_LAT_BUCKETS) / 4 + b;
  return {
    ds,
    answer(bucket, n) {
      mem.u32[at(bucket)] = (mem.u32[at(bucket)]! + n) >>> 0;
      big[(ds + L.DS_C_RESPONSES) / 8] = big[(ds + L.DS_C_RESPONSES) / 8]! + BigInt(n);
    },
    set(bucket, n) {
      mem.u32[at(bucket)] = n >>> 0;
      big[(ds + L.DS_C_RESPONSES) / 8] = big[(ds + L.DS_C_RESPONSES) / 8]! + BigInt(n);
    },
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('latency bucket totals from u32 counters', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('below 2^31 answers reads the counters as they are', () => {
    const mem = new SharedMemory({ bytes: 2 * 65536 });
    const c = new LatencyCounts(mem, L);
    const d = device(mem);
    d.answer(3, 5);
    d.answer(25, 2);
    const got = c.read(d.ds);
    expect(got).toHaveLength(L.DS_LAT_N);
    expect(got[3]).toBe(5);
    expect(got[25]).toBe(2);
    expect(sum(got)).toBe(7);
  });

  it('keeps exact totals across wraps once a device passes 2^31 answers, and forgets a removed one', () => {
    const mem = new SharedMemory({ bytes: 2 * 65536 });
    const c = new LatencyCounts(mem, L);
    const d = device(mem);
    d.set(7, 2 ** 31 + 10); // one bucket holds them all
    d.set(8, 4);
    expect(c.read(d.ds)[7]).toBe(2 ** 31 + 10);
    // Past 2^32 in bucket 7: the u32 wraps to a small value.
    d.answer(7, 2 ** 31);
    d.answer(8, 1);
    const mem32 = mem.u32[(d.ds + L.DS_LAT_BUCKETS) / 4 + 7]!;
    expect(mem32).toBe(10); // wrapped in memory
    let got = c.read(d.ds);
    expect(got[7]).toBe(2 ** 32 + 10);
    expect(got[8]).toBe(5);
    // Twice more around, read after each 2^31 + 1 (each read sees less than 2^32 new counts).
    for (let i = 0; i < 4; i++) {
      d.answer(7, 2 ** 31 + 1);
      got = c.read(d.ds);
    }
    expect(got[7]).toBe(2 ** 32 + 10 + 4 * (2 ** 31 + 1));
    const responses = Number(new BigUint64Array(mem.buffer)[(d.ds + L.DS_C_RESPONSES) / 8]!);
    expect(sum(got)).toBe(responses); // _count stays the responses
    // A caller that changes the returned array changes nothing kept.
    got[7] = 0;
    expect(c.read(d.ds)[7]).toBe(2 ** 32 + 10 + 4 * (2 ** 31 + 1));
    // Its state freed and reused by a new device: counted afresh.
    c.forget(d.ds);
    mem.u8.fill(0, d.ds, d.ds + L.DS_SIZE);
    d.answer(1, 3);
    expect(sum(c.read(d.ds))).toBe(3);
  });

  it('reads every listed device on its own every FOLD_MS, so no wrap is missed between scrapes', () => {
    vi.useFakeTimers();
    const mem = new SharedMemory({ bytes: 2 * 65536 });
    const c = new LatencyCounts(mem, L);
    const d = device(mem);
    d.set(5, 2 ** 31);
    c.start(() => [d.ds]);
    try {
      vi.advanceTimersByTime(FOLD_MS); // followed from here
      // Three times around between two scrapes, but under 2^32 between two timer reads.
      for (let i = 0; i < 3; i++) {
        d.answer(5, 2 ** 32 - 1);
        vi.advanceTimersByTime(FOLD_MS);
      }
      expect(c.read(d.ds)[5]).toBe(2 ** 31 + 3 * (2 ** 32 - 1));
    } finally {
      c.stop();
    }
  });
});
