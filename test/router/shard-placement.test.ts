// Shard placement: the shard asked for, else the least loaded, a device link weighing the
// devices it serves.
import { describe, expect, it } from 'vitest';
import { placeShard, type PlacedEndpoint } from '../../src/router/shard-placement.js';

const driver = (shard: number): PlacedEndpoint => ({ kind: 'driver', shard, devices: new Set() });
const device = (shard: number, n: number): PlacedEndpoint => ({ kind: 'device', shard, devices: new Set(Array.from({ length: n }, (_, i) => i)) });

describe('shard placement', () => {
  it('honours the shard asked for and rejects one that does not exist', () => {
    expect(placeShard(2, 3, [driver(0), driver(0)])).toBe(2);
    for (const bad of [3, -1, 1.5, NaN]) expect(() => placeShard(bad, 3, [])).toThrow(/shard must be an integer from 0 to 2/);
  });

  it('picks the least loaded shard, the lowest on a tie', () => {
    expect(placeShard(undefined, 3, [])).toBe(0);
    expect(placeShard(undefined, 3, [driver(0), driver(1)])).toBe(2);
    expect(placeShard(undefined, 2, [driver(0), driver(1)])).toBe(0);
  });

  it('a device link weighs one per device it serves, at least one', () => {
    expect(placeShard(undefined, 2, [device(0, 3), driver(1), driver(1)])).toBe(1);
    expect(placeShard(undefined, 2, [device(0, 3), driver(1), driver(1), driver(1)])).toBe(0);
    expect(placeShard(undefined, 2, [device(0, 0), driver(1), driver(1)])).toBe(0);
  });
});
