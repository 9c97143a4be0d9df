// The one reason table: fixed numbers shared with the router's WASM drop counters.
import { describe, expect, it } from 'vitest';
import { Reason, REASONS, REASON_COUNT, reasonName, reasonCode, reasonDescription, reasonLayer } from '../../src/protocol/index.js';
import { routerLayout, ROUTER_LAYOUT_NAMES } from '../../src/router/layout.js';

describe('reason numbers', () => {
  it('are the agreed values (counters in shared memory are indexed by them: never renumber)', () => {
    expect(Reason).toEqual({
      OK: 0, HDR_TRUNCATED: 1, MSG_SIZE_LT_HEADER: 2, MSG_SIZE_GT_BUFFER: 3, MSG_SIZE_GT_BUS_MAX: 4,
      RESERVED_TYPE_BITS: 5, UNSUPPORTED_MSG_ID: 6, RESPONSE_TO_EVENT: 7, WRONG_DIRECTION: 8,
      BUS_DEV_NUM_NONZERO: 9, UNVALIDATED_DEV_NUM: 10, GET_DEVICES_ALIGNMENT: 11, GET_DEVICES_NEXT_OFFSET: 12,
      GET_DEVICES_BITMAP_LENGTH: 13, PING_ECHO_MISMATCH: 14, PAYLOAD_TRUNCATED: 15, PAYLOAD_LENGTH_MISMATCH: 16,
      FEATURE_BITS_NOT_MULT_32: 17, CONFIG_RANGE: 18, NOTIF_DATA_NOT_NEGOTIATED: 19, VQ_CUR_GT_MAX: 20,
      REQUEST_RESPONSE_MISMATCH: 21, MSG_SIZE_GT_LINK_MAX: 22, SOURCE_GONE: 23, DRIVER_STALLED: 24, LEGACY_UNSUPPORTED: 25, LEGACY_NO_REPLY: 26, BUS_QUEUE_FULL: 27,
      UNMATCHED_RESPONSE: 32, LATE_RESPONSE: 33, RESPONSE_ID_MISMATCH: 34, SPOOFED_DEV_NUM: 35, NO_BOUND_DRIVER: 36,
      UNSUPPORTED_BUS_MSG: 37, DEVICE_REMOVED: 38, POLICY_DENIED: 39, TIMEOUT: 40, RING_CORRUPT: 41, ENDPOINT_GONE: 42,
      DUPLICATE_RESPONSE: 43, SHARD_RESTARTED: 44, DEVICE_BUSY: 45, ENDPOINT_STALLED: 46, ROUTER_CLOSED: 47,
    });
  });

  it('are unique and fit the counter arrays', () => {
    const codes = REASONS.map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(Math.max(...codes)).toBeLessThan(REASON_COUNT);
    expect(REASON_COUNT).toBe(48);
  });

  it('map both ways, with a description and a layer each', () => {
    for (const r of REASONS) {
      expect(reasonName(r.code)).toBe(r.name);
      expect(reasonCode(r.name)).toBe(r.code);
      expect(reasonDescription(r.code).length).toBeGreaterThan(5);
      expect(['router', 'endpoint']).toContain(reasonLayer(r.code));
    }
    expect(reasonName(99)).toBe('REASON_99');
    expect(reasonCode('NOPE')).toBeUndefined();
    expect(reasonCode('toString')).toBeUndefined();
  });

  it('match every R_* constant the router hot path counts with (assembly/router/layout.ts)', () => {
    const L = routerLayout() as unknown as Record<string, number>;
    const names = ROUTER_LAYOUT_NAMES.filter((n) => n.startsWith('R_'));
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) expect(reasonName(L[n]!), n).toBe(n.slice(2));
    expect(L.EC_COUNTERS! - L.EC_DROP_BASE!).toBe(REASON_COUNT);
  });
});
