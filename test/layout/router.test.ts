// The router tables' layout lives once, in assembly/router/layout.ts; TypeScript reads it from
// the compiled module. These checks make sure both sides mean the same thing.
import { describe, expect, it } from 'vitest';
import { checkRouterTables, routerLayout, ROUTER_LAYOUT_NAMES } from '../../src/router/layout.js';
import { Router } from '../../src/router/router.js';
import { REASONS, REASON_COUNT } from '../../src/protocol/reasons.js';

describe('router layout (AS) and the TS tables agree', () => {
  const L = routerLayout();

  it('every name TypeScript uses is exported by the module', () => {
    for (const name of ROUTER_LAYOUT_NAMES) expect(Number.isInteger(L[name]), name).toBe(true);
  });

  it('every R_* drop reason of the hot path has the number and name of src/protocol/reasons.ts', () => {
    const byName = new Map(REASONS.map((r) => [r.name as string, r.code]));
    for (const name of ROUTER_LAYOUT_NAMES.filter((n) => n.startsWith('R_'))) {
      expect(byName.get(name.slice(2)), name).toBe(L[name]);
    }
  });

  it('the drop counters have room for every reason', () => {
    expect(L.EC_COUNTERS - L.EC_DROP_BASE).toBe(REASON_COUNT);
    expect(Math.max(...REASONS.map((r) => r.code))).toBeLessThan(REASON_COUNT);
  });

  it('structs fit their declared sizes and outputs sit inside endpoints', () => {
    expect(L.EP_OUT + L.OUT_SIZE).toBeLessThanOrEqual(L.EP_SIZE);
    expect(L.OUT_BLOCKED_SINCE + 4).toBeLessThanOrEqual(L.OUT_SIZE);
    expect(L.DS_C_TIMEOUTS + 8).toBeLessThanOrEqual(L.DS_SIZE);
    // The two cached cursors sit in the first cache line, with the fields every frame reads;
    // the u32 latency buckets follow the outcome history's fields, and the latency sum (u64)
    // ends the state, which is five cache lines.
    expect(L.DS_OUT_CURSOR).toBeGreaterThanOrEqual(L.DS_PARK_REFUSALS + 4);
    expect(L.DS_BOUND_CURSOR).toBeGreaterThanOrEqual(L.DS_OUT_CURSOR + 4);
    expect(L.DS_BOUND_CURSOR + 4).toBeLessThanOrEqual(Math.min(64, L.DS_C_COALESCED));
    // Opening an entry advances these three in one 16-byte read-modify-write (openEntry).
    expect(L.DS_NEXT_SEQ).toBe(L.DS_NEXT_TOKEN + 4);
    expect(L.DS_C_REQUESTS).toBe(L.DS_NEXT_TOKEN + 8);
    expect(L.DS_NEXT_TOKEN % 16).toBe(0);
    // Delivering an answer in order advances these in one (headDelivered; DS_HIST_BITS rides along).
    expect(L.DS_HIST_BITS).toBe(L.DS_HEAD_SEQ + 4);
    expect(L.DS_C_RESPONSES).toBe(L.DS_HEAD_SEQ + 8);
    expect(L.DS_HEAD_SEQ % 16).toBe(0);
    expect(L.DS_C_REQUESTS + 8).toBeLessThanOrEqual(L.DS_HEAD_SEQ);
    expect(L.DS_C_RESPONSES + 8).toBeLessThanOrEqual(L.DS_LAT_BUCKETS);
    expect(L.DS_LAT_BUCKETS % 4).toBe(0);
    expect(L.DS_LAT_SUM).toBeGreaterThanOrEqual(L.DS_LAT_BUCKETS + L.DS_LAT_N * 4);
    expect(L.DS_LAT_SUM % 8).toBe(0);
    expect(L.DS_LAT_SUM + 8).toBeLessThanOrEqual(L.DS_SIZE);
    expect(L.DS_SIZE).toBe(320);
    expect(L.PS_SENT_US + 4).toBeLessThanOrEqual(L.PS_FRAME);
    expect(L.EC_RX_BYTES).toBeLessThan(L.EC_DROP_BASE);
    expect(L.EC_TX_BYTES).toBe(L.EC_TX + 1); // added to with EC_TX per frame, in one 16-byte read-modify-write
    expect((L.EC_TX * 8) % 64).toBeLessThanOrEqual(48); // ... within one cache line
    expect(L.SH_TEMP + 4).toBeLessThanOrEqual(L.SH_SIZE);
    expect(L.CE_HELD + 4).toBe(L.CE_SIZE);
    expect(L.SH_BELL % 64).toBe(0); // the doorbell has its own cache line
    // The fields external links added sit in gaps of their structs.
    expect(L.DS_BOUND_DRIVER + 2).toBe(L.DS_BUS_NUM);
    expect(L.DS_BUS_NUM + 2).toBeLessThanOrEqual(L.DS_WINDOW);
    expect(L.EP_ALLOW + 4).toBe(L.EP_BUS_DEVS);
    expect(L.EP_BUS_DEVS + 4).toBeLessThanOrEqual(L.EP_OUT);
    // The router's bookkeeping of the cursors it drives lives in its own structs, not in the cursors.
    expect(L.OUT_DIRTY).toBeGreaterThanOrEqual(L.OUT_BLOCKED_PEER + 4);
    expect(L.OUT_DIRTY + 4).toBeLessThanOrEqual(L.OUT_SIZE);
    expect(L.EP_IN_DIRTY).toBeGreaterThanOrEqual(L.EP_BUS_DEVS + 4);
    expect(L.EP_IN_CAPTURED).toBeGreaterThanOrEqual(L.EP_IN_DIRTY + 4);
    expect(L.EP_IN_CAPTURED + 4).toBeLessThanOrEqual(L.EP_OUT);
    expect(L.SH_CAPTURE_DIRTY).toBeGreaterThanOrEqual(L.SH_FAULT_FIRED + 4);
    expect(L.SH_CAPTURE_DIRTY + 4).toBeLessThanOrEqual(L.SH_SIZE);
    expect(L.DL_FLAG + 4).toBe(L.DL_SIZE);
  });

  it('a shard binds only to tables with the magic and layout version of this build', async () => {
    const router = await Router.create({ shards: 1 });
    try {
      const { u32 } = router.mem;
      const shard = router.tables.shards[0]!;
      expect(() => checkRouterTables(u32, shard)).not.toThrow();
      const config = router.tables.config;
      const version = u32[(config + L.RC_VERSION) >>> 2]!;
      u32[(config + L.RC_VERSION) >>> 2] = version + 1;
      expect(() => checkRouterTables(u32, shard)).toThrow(`router tables: layout version ${version + 1}, this build's hot path reads version ${L.RC_VERSION_VALUE}`);
      u32[(config + L.RC_VERSION) >>> 2] = version;
      u32[(config + L.RC_MAGIC) >>> 2] = 0;
      expect(() => checkRouterTables(u32, shard)).toThrow(/router tables: config magic 0x0 at \d+, expected 0x52544d56/);
      u32[(config + L.RC_MAGIC) >>> 2] = L.RC_MAGIC_VALUE;
    } finally {
      await router.close();
    }
  });
});
