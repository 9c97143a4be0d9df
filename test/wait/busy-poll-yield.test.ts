// BusyPollYield (src/wait/busy-poll-yield.ts): when a shard polling a busy-poll link yields.
import { describe, expect, it } from 'vitest';
import { BusyPollYield } from '../../src/wait/busy-poll-yield.js';

/** Counts the yields instead of making them: which passes yield is what is under test. */
function counting(spins: number): { y: BusyPollYield; yields(): number } {
  let n = 0;
  return { y: new BusyPollYield({ yield: () => (n++, 0) }, spins), yields: () => n };
}

/** Empty passes until the first yield (Infinity: none within `max`). */
function passesToYield(c: ReturnType<typeof counting>, max = 1000): number {
  const before = c.yields();
  for (let i = 1; i <= max; i++) {
    c.y.emptyPass();
    if (c.yields() > before) return i;
  }
  return Infinity;
}

describe('BusyPollYield', () => {
  it('spins 0: yields on every empty pass, whatever came before', () => {
    const c = counting(0);
    expect(passesToYield(c)).toBe(1);
    c.y.frames();
    expect(passesToYield(c)).toBe(1);
    for (let i = 0; i < 5; i++) c.y.emptyPass();
    expect(c.yields()).toBe(7);
  });

  it('relay turns: after frames found following a yield it spins `spins` passes; after frames found while spinning it yields at once', () => {
    const c = counting(32);
    // The CPU-sharing peer's answers, found after a yield: what goes out goes to the other core, whose answer comes within the spin.
    expect(passesToYield(c)).toBe(33);
    c.y.frames();
    for (let i = 0; i < 5; i++) c.y.emptyPass(); // the other core's answer after 5 passes: no yield
    expect(c.yields()).toBe(1);
    c.y.frames();
    // What goes out now goes to the peer sharing this CPU: yield at once, and at every empty pass after.
    expect(passesToYield(c)).toBe(1);
    expect(passesToYield(c)).toBe(1);
    // Its answer, found after those yields: spin again.
    c.y.frames();
    expect(passesToYield(c)).toBe(33);
  });

  it('frames on consecutive passes count as found while spinning', () => {
    const c = counting(32);
    c.y.frames();
    c.y.frames();
    expect(passesToYield(c)).toBe(1);
  });
});
