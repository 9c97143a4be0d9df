// The keep-alive rule shared by shared-memory links and stream gateways: one PING out at a
// time; dead only when it has waited longer than PING_DEAD_PERIODS periods.
import { describe, expect, it } from 'vitest';
import { PingWatch, PING_DEAD_PERIODS } from '../../src/bus/ping-watch.js';

describe('PingWatch', () => {
  it('sends one PING at a time, accepts only its answer, and calls the peer dead after the periods', () => {
    const w = new PingWatch(100);
    expect(w.tick(0)).toEqual({ send: 1 });
    expect(w.tick(100)).toBeNull(); // one is out
    expect(w.answered(7)).toBe(false); // not its data
    expect(w.answered(1)).toBe(true);
    expect(w.answered(1)).toBe(false); // answered once
    expect(w.tick(200)).toEqual({ send: 2 });
    expect(w.tick(200 + PING_DEAD_PERIODS * 100)).toBeNull(); // not longer than the periods yet
    expect(w.tick(201 + PING_DEAD_PERIODS * 100)).toEqual({ deadMs: PING_DEAD_PERIODS * 100 + 1 });
  });
});
