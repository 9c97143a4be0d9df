// A device state keeps two output cursors so the common frame skips a chain of loads: its device
// link's (DS_OUT_CURSOR, copied when the device is added) and that of the driver that last sent
// it a request (DS_BOUND_CURSOR, copied as the request is forwarded). These tests rebind every
// way the control plane can — the device's link replaced under the same endpoint id, a removed
// device whose link id is reused, a driver detached and attached again under its id, drivers of
// one shard or two taking turns — and check that frames reach the rings attached now, never
// the old ones, and that both copies agree with the endpoint table.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Router } from '../../src/router/router.js';
import { ROUTER_INTERNALS } from '../../src/router/internals.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { sendAll, receive, silence, failureEvent } from './helpers.js';

const R = { UNVALIDATED_DEV_NUM: 10 };
const h16 = (v: number): string => (v & 0xff).toString(16).padStart(2, '0') + (v >> 8).toString(16).padStart(2, '0');
/** GET_DEVICE_STATUS for device `dev` with driver token `token`. */
const request = (dev: number, token: number): string => `0007${h16(dev)}${h16(token)}0800`;
/** Its response as the driver sees it (status 0x0f). */
const response = (dev: number, token: number): string => `0107${h16(dev)}${h16(token)}0c000f000000`;

/**
 * Attach with the endpoint-id quarantine already over, so a detached id comes back at once.
 * Router.attach takes its id (EndpointIds reads performance.now()) before its first await, so
 * the clock is moved only while that synchronous part runs; callers check the id they got.
 */
function withIdQuarantineOver<T>(attach: () => Promise<T>): Promise<T> {
  const real = performance.now.bind(performance);
  const spy = vi.spyOn(performance, 'now').mockImplementation(() => real() + 3_600_000);
  try {
    return attach();
  } finally {
    spy.mockRestore();
  }
}

/** Answer the next `n` requests waiting at `dev` (status 0x0f), in the order they came. */
async function answer(dev: EndpointPort, n: number): Promise<string[]> {
  const got = await receive(dev, n);
  expect(got).toHaveLength(n);
  sendAll(dev, ...got.map((f) => `01${f.slice(2, 12)}0c000f000000`));
  return got;
}

/**
 * Both cursor copies of device `dev`'s state agree with the endpoint table: DS_OUT_CURSOR with
 * its link's output cursor, DS_BOUND_CURSOR with the bound driver's (when one is bound).
 */
function expectCopiesAgree(router: Router, dev: number): void {
  const { mem, tables } = router[ROUTER_INTERNALS];
  const L = tables.L;
  const ds = mem.u32[(tables.devTable >>> 2) + dev]!;
  expect(ds, `device ${dev} has a state`).not.toBe(0);
  const outCursor = (ep: number): number => mem.dv.getUint32(tables.endpointAddr(ep) + L.EP_OUT + L.OUT_CURSOR, true);
  expect(mem.dv.getUint16(ds + L.DS_FLAGS, true) & L.DSF_REMOVING).toBe(0);
  expect(mem.dv.getUint32(ds + L.DS_OUT_CURSOR, true)).toBe(outCursor(mem.dv.getUint16(ds + L.DS_ENDPOINT, true)));
  const bound = mem.dv.getUint16(ds + L.DS_BOUND_DRIVER, true);
  if (bound !== 0) expect(mem.dv.getUint32(ds + L.DS_BOUND_CURSOR, true)).toBe(outCursor(bound - 1));
}

describe('cached output cursors follow every rebinding', () => {
  let router: Router | undefined;
  afterEach(async () => {
    await router?.close();
    router = undefined;
  });

  it("a device added again on a new link that took the old link's endpoint id is served by the new link's ring", async () => {
    router = await Router.create({ shards: 1, timeoutMs: 1000, spinBeforeSleep: 50 });
    const drv = new EndpointPort(await router.attachDriver());
    const linkA = await router.attachDevice({ devices: [5] });
    const devA = new EndpointPort(linkA);
    await receive(drv, 1); // EVENT_DEVICE READY
    sendAll(drv, request(5, 1), request(5, 2));
    await answer(devA, 2);
    expect(await receive(drv, 2)).toEqual([response(5, 1), response(5, 2)]);
    await router.detach(linkA);
    devA.close();
    await receive(drv, 1); // EVENT_DEVICE REMOVED
    // A link attached first (under a new id) takes the old rings' memory, so the new link's
    // rings are elsewhere and a stale copy of the old cursor could not pass for the new one.
    await router.attachDevice();
    const linkB = await withIdQuarantineOver(() => router!.attachDevice({ devices: [5] }));
    expect(linkB.id).toBe(linkA.id);
    expect(linkB.toRouter).not.toBe(linkA.toRouter);
    const devB = new EndpointPort(linkB);
    await receive(drv, 1); // READY again
    expectCopiesAgree(router, 5);
    const tokens = Array.from({ length: 40 }, (_, i) => 0x100 + i);
    sendAll(drv, ...tokens.map((t) => request(5, t)));
    await answer(devB, tokens.length);
    expect(await receive(drv, tokens.length)).toEqual(tokens.map((t) => response(5, t)));
    expectCopiesAgree(router, 5);
  });

  it("a removed device's state, kept as a tombstone, refuses requests after its link's id went to another link", async () => {
    router = await Router.create({ shards: 1, timeoutMs: 1000, spinBeforeSleep: 50 });
    const drv = new EndpointPort(await router.attachDriver());
    const linkA = await router.attachDevice({ devices: [9] });
    const devA = new EndpointPort(linkA);
    await receive(drv, 1);
    sendAll(drv, request(9, 1));
    await answer(devA, 1);
    expect(await receive(drv, 1)).toEqual([response(9, 1)]);
    await router.detach(linkA); // device 9 removed: its state stays in the table as a tombstone
    devA.close();
    await receive(drv, 1);
    // Same ring shape: the new link's rings may take the old ones' memory, so a stale copy of
    // the old cursor would write into the new link's ring.
    const linkB = await withIdQuarantineOver(() => router!.attachDevice({ devices: [11] }));
    expect(linkB.id).toBe(linkA.id);
    const devB = new EndpointPort(linkB);
    await receive(drv, 1);
    sendAll(drv, request(9, 2), request(11, 3));
    expect(await receive(drv, 1)).toEqual([failureEvent(9, 0x07, R.UNVALIDATED_DEV_NUM, 2)]);
    expect(await answer(devB, 1)).toEqual([`0007${h16(11)}01000800`]);
    expect(await receive(drv, 1)).toEqual([response(11, 3)]);
    // Nothing for device 9 reached the new link; the refusal was its only outcome.
    expect(await silence(devB, 50)).toEqual([]); // time under test: nothing more arrives
    expect(await silence(drv, 0)).toEqual([]);
    expectCopiesAgree(router, 11);
  });

  it('a driver detached and attached again under its endpoint id gets the answers to its own requests, not the old ones', async () => {
    router = await Router.create({ shards: 1, timeoutMs: 1000, spinBeforeSleep: 50 });
    const linkX = await router.attachDriver();
    const x = new EndpointPort(linkX);
    const dev = new EndpointPort(await router.attachDevice({ devices: [7] }));
    await receive(x, 1);
    sendAll(x, request(7, 1), request(7, 2));
    await answer(dev, 2);
    expect(await receive(x, 2)).toEqual([response(7, 1), response(7, 2)]);
    // One more request, answered only after its driver has gone and its id has a new owner.
    sendAll(x, request(7, 3));
    const [late] = await receive(dev, 1);
    await router.detach(linkX);
    x.close();
    await router.attachDriver(); // takes the old rings' memory (see the first test)
    const linkY = await withIdQuarantineOver(() => router!.attachDriver());
    expect(linkY.id).toBe(linkX.id);
    expect(linkY.fromRouter).not.toBe(linkX.fromRouter);
    const y = new EndpointPort(linkY);
    sendAll(dev, `01${late!.slice(2, 12)}0c000f000000`); // late: its entry was closed at the detach
    sendAll(y, request(7, 0x31), request(7, 0x32));
    expectCopiesAgree(router, 7);
    await answer(dev, 2);
    expect(await receive(y, 2)).toEqual([response(7, 0x31), response(7, 0x32)]);
    expect(await silence(y, 50)).toEqual([]); // time under test: the old driver's answer never comes
  });

  it('drivers taking turns on one device, on its shard and on another, each get exactly their own answers in order', async () => {
    router = await Router.create({ shards: 2, timeoutMs: 20_000, spinBeforeSleep: 50 });
    const links: LinkDescriptor[] = [
      await router.attachDriver({ shard: 1 }),
      await router.attachDriver({ shard: 1 }),
      await router.attachDriver({ shard: 0 }),
    ];
    const drivers = links.map((l) => new EndpointPort(l));
    const dev = new EndpointPort(await router.attachDevice({ devices: [3], shard: 1 }));
    for (const d of drivers) await receive(d, 1);
    const rounds = 48;
    for (let i = 0; i < rounds; i++) {
      // One request per driver per round, each forwarded before the next driver's.
      for (const [k, d] of drivers.entries()) {
        sendAll(d, request(3, k * 0x100 + i));
        await answer(dev, 1);
      }
    }
    for (const [k, d] of drivers.entries()) {
      expect(await receive(d, rounds)).toEqual(Array.from({ length: rounds }, (_, i) => response(3, k * 0x100 + i)));
    }
    expect(router.stats().shards[0]!.crossShardSent).toBeGreaterThanOrEqual(rounds);
    for (const d of drivers) expect(await silence(d, 0)).toEqual([]);
  });
});
