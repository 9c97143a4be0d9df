// Endpoint ids: a detached id stays out of use for its quarantine, then comes back oldest first;
// a full router says which option to raise.
import { describe, expect, it } from 'vitest';
import { EndpointIds, endpointQuarantineMs } from '../../src/router/endpoint-ids.js';

describe('endpoint ids', () => {
  it('quarantine: at least 10 s and three request timeouts', () => {
    expect(endpointQuarantineMs(1000)).toBe(10_000);
    expect(endpointQuarantineMs(5000)).toBe(15_000);
  });

  it('a detached id is not reused within its quarantine, then the oldest comes back first', () => {
    const ids = new EndpointIds(8, 10_000);
    expect([0, 1, 2].map(() => ids.take(0))).toEqual([0, 1, 2].map((id) => ({ id, reused: false })));
    ids.release(1, 100);
    ids.release(0, 200);
    expect(ids.take(10_100)).toEqual({ id: 3, reused: false }); // id 1 freed exactly one quarantine ago: not yet
    expect(ids.take(10_101)).toEqual({ id: 1, reused: true });
    expect(ids.take(10_150)).toEqual({ id: 4, reused: false });
    expect(ids.take(10_201)).toEqual({ id: 0, reused: true });
  });

  it('a full router throws a RangeError naming maxEndpoints, and takes an id again once one is out of quarantine', () => {
    const ids = new EndpointIds(2, 50);
    ids.take(0);
    ids.take(0);
    expect(() => ids.take(0)).toThrow(/router is full: 2 endpoints attached \(raise maxEndpoints\)/);
    ids.release(1, 10);
    expect(() => ids.take(60)).toThrow(RangeError);
    expect(ids.take(61)).toEqual({ id: 1, reused: true });
  });
});
