// Router options: the ring layout default follows the wait mode, and bad values are clear errors.
import { describe, expect, test } from 'vitest';
import { linkRingShape, resolveRouterOptions } from '../../src/router/options.js';
import { BUSY_POLL_SPINS } from '../../src/wait/idle-strategy.js';

describe('router options', () => {
  test('packed endpoint rings by default; one frame per slot in busy-poll mode unless asked', () => {
    expect(resolveRouterOptions({ shards: 1 }).packedRings).toBe(true);
    expect(resolveRouterOptions({ shards: 1, spinBeforeSleep: 0 }).packedRings).toBe(true);
    expect(resolveRouterOptions({ shards: 1, spinBeforeSleep: BUSY_POLL_SPINS }).packedRings).toBe(false);
    expect(resolveRouterOptions({ shards: 1, spinBeforeSleep: BUSY_POLL_SPINS, packedRings: true }).packedRings).toBe(true);
    expect(resolveRouterOptions({ shards: 1, packedRings: false }).packedRings).toBe(false);
    expect(() => resolveRouterOptions({ shards: 1, packedRings: 'yes' as unknown as boolean })).toThrow(/router option packedRings must be true or false, got string "yes"/);
  });

  test('ring shapes: 4 units per 64-byte frame of ringCapacity, at least two largest frames; or slots', () => {
    expect(linkRingShape(64, 256, true)).toEqual({ capacity: 1024, slotSize: 16, frameUnits: 4 });
    expect(linkRingShape(264, 3, true)).toEqual({ capacity: 35, slotSize: 16, frameUnits: 17 });
    expect(linkRingShape(264, 256, false)).toEqual({ capacity: 256, slotSize: 320, frameUnits: 1 });
    expect(linkRingShape(12, 8, false)).toEqual({ capacity: 8, slotSize: 16, frameUnits: 1 });
  });
});
