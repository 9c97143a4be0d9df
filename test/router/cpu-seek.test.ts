// CpuSeek (src/router/cpu-seek.ts): when a polling shard moves to another CPU. The decisions are
// driven by the frames it routes per epoch; the affinity calls are recorded instead of made
// (test/cli/route-busy-poll-relay.test.ts sees a real shard pin itself and let go).
import { describe, expect, it } from 'vitest';
import { CpuSeek, SEEK_EPOCH_MS } from '../../src/router/cpu-seek.js';
import type { BellAddon } from '../../src/native/bell.js';

/** A shard allowed on `cpus`, running on the last of them until it pins itself. */
function seeker(cpus: number[]): { seek: CpuSeek; sets: number[][] } {
  const sets: number[][] = [];
  const addon = {
    cpus: (list: Int32Array) => (cpus.forEach((c, i) => (list[i] = c)), cpus.length),
    cpu: () => (sets.length === 0 || sets.at(-1)!.length > 1 ? cpus.at(-1)! : sets.at(-1)![0]!),
    setCpus: (list: Int32Array, n: number) => (sets.push(Array.from(list.subarray(0, n))), 0),
  } as unknown as BellAddon;
  return { seek: new CpuSeek(addon), sets };
}

/** Run epochs routing `rates[i]` frames each; returns the clock and frame count reached. */
function epochs(seek: CpuSeek, rates: number[], at = { now: 1000, frames: 0 }): { now: number; frames: number } {
  if (at.frames === 0) seek.tick(at.now, at.frames); // the burst's first tick starts the first epoch
  for (const r of rates) {
    at.now += SEEK_EPOCH_MS;
    at.frames += r;
    seek.tick(at.now, at.frames);
  }
  return at;
}

describe('CpuSeek', () => {
  it('a steady rate: tries another CPU after 4 epochs, then after 8, 16, ... (each try that holds the rate stays)', () => {
    const { seek, sets } = seeker([0, 1]);
    epochs(seek, Array(4).fill(1000));
    expect(sets).toEqual([[0]]);
    epochs(seek, Array(8).fill(1000), { now: 1000 + 5 * SEEK_EPOCH_MS, frames: 4000 });
    expect(sets).toEqual([[0], [1]]);
  });

  it('a try that routes less than half goes on to the next CPU at once, and the tries keep backing off', () => {
    const { seek, sets } = seeker([0, 1]);
    const at = epochs(seek, [1000, 1000, 1000, 1000]); // try: CPU 0
    epochs(seek, [300], at); // worse there: on to CPU 1
    expect(sets).toEqual([[0], [1]]);
    epochs(seek, Array(7).fill(1000), at); // next try only after 8 epochs
    expect(sets).toHaveLength(2);
    epochs(seek, [1000], at);
    expect(sets).toEqual([[0], [1], [0]]);
  });

  it('a drop no try caused moves at once; epochs without frames change nothing', () => {
    const { seek, sets } = seeker([2, 5]);
    const at = epochs(seek, [1000, 1000]);
    epochs(seek, [0, 0, 0], at);
    expect(sets).toEqual([]);
    epochs(seek, [100], at);
    expect(sets).toEqual([[2]]);
  });

  it('the first move goes to the CPU after the one it runs on, then round the list', () => {
    const { seek, sets } = seeker([0, 1, 2]);
    const at = epochs(seek, [1000, 1000, 1000, 1000]);
    expect(sets).toEqual([[0]]); // it ran on 2
    epochs(seek, [100, 100], at);
    expect(sets).toEqual([[0], [1], [2]]);
  });

  it('release lets the shard run on every CPU again and starts over; one CPU never moves', () => {
    const { seek, sets } = seeker([0, 1]);
    epochs(seek, Array(4).fill(1000));
    seek.release();
    expect(sets).toEqual([[0], [0, 1]]);
    seek.release(); // not pinned: nothing to undo
    expect(sets).toHaveLength(2);
    const one = seeker([3]);
    epochs(one.seek, [1000, 1000, 1000, 1000, 10]);
    expect(one.sets).toEqual([]);
  });
});
