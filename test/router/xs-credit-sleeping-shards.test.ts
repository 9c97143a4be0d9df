// Cross-shard credit filled again and again between two real shard threads that sleep as soon
// as they are idle (spinBeforeSleep 0): a driver on shard 0 sends kicks (EVENT_AVAIL, no answer
// comes back to wake its shard) to a device on shard 1 that reads only when told. Each round
// the device's ring, the pool and the waiting queue fill until shard 0 sleeps out of credit with
// kicks still in its driver's ring; then the device reads, and every kick must arrive, in order,
// with nothing dropped. Only the receiving shard's credit wake-up can end shard 0's sleep here
// (a missed one would cost that sleep's 5 ms cap each round, not a failure: the exact check of
// the rule is test/router/xs-credit-wake.test.ts, on the same code in one thread).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { ROUTER_INTERNALS } from '../../src/router/internals.js';
import { DOORBELL_ASLEEP, DOORBELL_ASLEEP_POLL } from '../../src/wait/doorbell.js';
import { until, vector } from './helpers.js';

const ROUNDS = 100;
/** Kicks per round: more than the device's ring, the pool and the credit hold together. */
const PER_ROUND = 48;

describe('cross-shard credit with sleeping shards', () => {
  let router: Router;
  let driver: EndpointPort;
  let device: EndpointPort;

  beforeAll(async () => {
    // 16 pool slots: credit 4 and 12 slots to park kicks in; rings of 16 units (15 kicks).
    router = await Router.create({ shards: 2, spinBeforeSleep: 0, poolSlots: 16, ringCapacity: 4, timeoutMs: 60_000 });
    driver = new EndpointPort(await router.attachDriver({ shard: 0 }), { spinBeforeSleep: 0 });
    device = new EndpointPort(await router.attachDevice({ devices: [1], shard: 1 }), { spinBeforeSleep: 0 });
  });

  afterAll(async () => {
    await router?.close();
  });

  it(`${ROUNDS} rounds of ${PER_ROUND} kicks: shard 0 sleeps out of credit, every kick arrives in order`, async () => {
    const { mem, tables } = router[ROUTER_INTERNALS];
    const L = tables.L;
    const credit = mem.u32[(tables.shards[0]! + L.SH_XS_CREDIT) >>> 2]!;
    expect(credit).toBe(4);
    const sentAt = (tables.xsCredit(0, 1) + L.XQ_SENT) >>> 2;
    const doneAt = (tables.xsCredit(1, 0) + L.XQ_DONE) >>> 2;
    const bellAt = tables.bell(0) >>> 2;
    const template = vector('t_event_avail_plain');
    let written = 0;
    let received = 0;
    let outOfOrder = 0;
    /** Top the driver's ring up to `target` kicks written in all (each names virtqueue = its number mod 2^16: none merge). */
    const topUp = (target: number): void => {
      while (written < target) {
        const f = template.slice();
        new DataView(f.buffer).setUint32(8, written & 0xffff, true);
        if (!driver.send(f)) break;
        written++;
      }
      driver.flush();
    };
    const drain = (): void => {
      for (let f = device.recv(); f !== null; f = device.recv()) {
        if (f[1] !== 0x41 || new DataView(f.buffer, f.byteOffset).getUint32(8, true) !== (received & 0xffff)) outOfOrder++;
        received++;
      }
      device.flush();
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const target = round * PER_ROUND;
      // Shard 0 asleep, all its credit out, kicks still waiting in its driver's ring.
      await until(() => {
        topUp(target);
        const state = Atomics.load(mem.i32, bellAt);
        const held = written - mem.u32[sentAt]!;
        return (state === DOORBELL_ASLEEP || state === DOORBELL_ASLEEP_POLL) && mem.u32[sentAt]! - Atomics.load(mem.u32, doneAt) >= credit && held > 0;
      }, `round ${round}: shard 0 asleep out of credit`, 20_000);
      // The device reads; the driver writes nothing meanwhile, so what wakes shard 0 for the
      // kicks it holds is shard 1 returning credit.
      const heldBack = written;
      await until(() => {
        drain();
        return received === heldBack;
      }, `round ${round}: the ${heldBack} kicks written so far at the device (got ${received})`, 20_000);
      await until(() => {
        topUp(target);
        drain();
        return received === target;
      }, `round ${round}: all ${target} kicks at the device (got ${received})`, 20_000);
    }
    expect(received).toBe(ROUNDS * PER_ROUND);
    expect(outOfOrder).toBe(0);
    const st = router.stats();
    expect(st.totals.dropped).toBe(0);
    // Every slot of the reserve is back.
    expect(mem.u32[(tables.shards[1]! + L.SH_POOL_RESERVE) >>> 2]).toBe(credit);
  }, 120_000);
});
