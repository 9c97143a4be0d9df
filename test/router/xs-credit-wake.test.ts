// A shard out of cross-shard credit sleeps for credit: the receiving shard rings it when it
// returns credit the sender had run out of — whether the frame was taken off the ring at once
// or later out of the waiting queue (no ring release at all then) — and leaves a sender with
// credit left asleep (it waits for something else). Two shards of one router, run in this
// thread on the real tables (tools/fuzz/inproc): a shard "sleeps" by storing ASLEEP in its
// doorbell word, exactly what its loop does before its last look, and the word says whether
// anyone rang it. The random cases interleave both shards, a driver and a slow device with the
// shards' real sleep protocol, with credit below and above the room of the ring between the
// shards (so the sender sleeps for credit, or for room, which releases ring only when short): a
// lost wake-up shows as everyone asleep with frames still to deliver, not as a timeout.
import { describe, expect, it } from 'vitest';
import { InprocRouter, type InprocConfig } from '../../tools/fuzz/inproc/inproc-router.js';
import { DOORBELL_ASLEEP, DOORBELL_AWAKE } from '../../src/wait/doorbell.js';
import { vector } from './helpers.js';

/** Driver (endpoint 0) on shard 0, device 1 (endpoint 1) on shard 1, rings of 8 frames (9 slots); 16 pool slots: cross-shard credit 4, so a reserve of 4 and
 * 12 slots to park frames in for a device whose ring is full (its park limit, 16, is not reached first). */
const config: InprocConfig = {
  shards: 2,
  links: [
    { name: 'drv', kind: 'driver', shard: 0, packed: false, maxMessageSize: 64 },
    { name: 'dev', kind: 'device', shard: 1, packed: false, maxMessageSize: 64, devices: [1] },
  ],
  window: 4, parkLimit: 16, poolSlots: 16, ringCapacity: 9, timeoutMs: 60_000, sourceBudget: 64, ringBatch: 1, capture: false,
};
const CREDIT = 4;
/**
 * A driver's EVENT_AVAIL for device 1 (no answer comes back to the sending shard), for
 * virtqueue `n` (mod 2^16): kicks of one virtqueue queued together merge, distinct ones stay.
 */
const TEMPLATE = vector('t_event_avail_plain');
let kicks = 0;
function event(): Uint8Array {
  const f = TEMPLATE.slice();
  new DataView(f.buffer).setUint32(8, kicks++ & 0xffff, true);
  return f;
}

function setup(cfg: InprocConfig = config): { r: InprocRouter; bell: (s: number) => number; sleep: (s: number) => void; write: (n: number) => void; read: (max: number) => number } {
  const r = new InprocRouter(cfg);
  const i32 = r.mem.i32;
  const [drv, dev] = r.links as [typeof r.links[0], typeof r.links[0]];
  return {
    r,
    bell: (s) => Atomics.load(i32, r.tables.bell(s) >>> 2),
    sleep: (s) => Atomics.store(i32, r.tables.bell(s) >>> 2, DOORBELL_ASLEEP),
    write: (n) => {
      for (let i = 0; i < n; i++) if (r.write(drv, event()) === 0) throw new Error('driver ring full');
      r.publish(drv);
    },
    read: (max) => r.read(dev, max, () => {}),
  };
}

describe('cross-shard credit wake-ups', () => {
  it('the configuration gives a cross-shard credit of 4', () => {
    const { r } = setup();
    expect(r.mem.u32[(r.tables.shards[0]! + r.L.SH_XS_CREDIT) >>> 2]).toBe(CREDIT);
  });

  it('rings the sender only when it returns credit the sender had run out of', () => {
    const { r, bell, sleep, write, read } = setup();
    // A sender with credit left sleeps for something else: taking its frame does not wake it.
    write(1);
    expect(r.route(0, 64)).toBe(1);
    sleep(0);
    expect(r.route(1, 64)).toBe(1);
    expect(bell(0)).toBe(DOORBELL_ASLEEP);

    // Out of credit (4 unaccepted, more in its driver's ring): taking them off the ring rings it.
    write(7);
    expect(r.route(0, 64)).toBe(CREDIT);
    sleep(0);
    expect(r.route(1, 64)).toBe(CREDIT);
    expect(bell(0)).toBe(DOORBELL_AWAKE);
    expect(r.route(0, 64)).toBe(3); // the rest, within the credit
    expect(r.route(1, 64)).toBe(3);
    expect(read(64)).toBe(8);

    // Fill the device's ring (8) and the 12 pool slots (frames parked for the device).
    const both = (): void => { r.route(0, 64); r.route(1, 64); };
    write(8); both(); both();
    write(8); both(); both();
    write(8); both();
    expect(r.wasm.pendingWork(r.tables.shards[1]!)).toBe(12);
    expect(r.route(0, 64)).toBe(CREDIT);
    write(4);
    expect(r.route(0, 64)).toBe(0); // out of credit
    // The receiver moves its frames off the ring into the waiting queue (the pool is empty): a
    // release, but no credit back, so the sender has nothing to do and is left asleep.
    sleep(0);
    expect(r.route(1, 64)).toBe(CREDIT);
    expect(r.wasm.pendingWork(r.tables.shards[1]!)).toBe(12 + CREDIT);
    expect(bell(0)).toBe(DOORBELL_ASLEEP);
    // The device reads: the waiting frames are accepted with nothing taken off the ring. The
    // credit they return is what the sleeping sender waits for: it is rung.
    expect(read(64)).toBe(8);
    expect(r.route(1, 64)).toBe(0);
    expect(bell(0)).toBe(DOORBELL_AWAKE);
    // And everything arrives.
    let got = 0;
    for (let i = 0; i < 20 && got < 20; i++) {
      both();
      got += read(64);
    }
    expect(got).toBe(20);
  });

  // Credit below what the cross-shard ring holds (the sender runs out of credit first), and
  // above it (ringCapacity 3: a ring of 12 slots, credit 64, the receiver given fewer turns: the
  // sender parks frames and sleeps for room in the ring, woken by releases that free room it
  // lacked). Turns: how often the driver, the device, shard 0 and shard 1 are picked.
  it.each([
    { name: 'credit 4, ring of 36', cfg: config, credit: 4, sleepsFor: 'credit', turns: [1, 1, 1, 1], deviceReads: 4 },
    {
      name: 'credit 64, ring of 12', credit: 64, sleepsFor: 'room', turns: [8, 4, 8, 1], deviceReads: 12,
      // Endpoint rings packed (12 units: 11 kicks): a few turns of the driver fill the shards'
      // ring, and the device keeps up, so credit waits little on the receiving side.
      cfg: { ...config, ringCapacity: 3, poolSlots: 256, links: config.links.map((l) => ({ ...l, packed: true })) },
    },
  ] as const)('random interleavings with sleeping shards ($name): every event arrives, nobody sleeps through a wake-up', ({ cfg, credit, sleepsFor, turns, deviceReads }) => {
    const EVENTS = 20_000;
    let seed = 0x2545f491;
    const rnd = (n: number): number => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const { r, bell, sleep } = setup(cfg);
    const i32 = r.mem.i32;
    const [drv, dev] = r.links as [typeof r.links[0], typeof r.links[0]];
    const wake = (s: number): void => void Atomics.compareExchange(i32, r.tables.bell(s) >>> 2, DOORBELL_ASLEEP, DOORBELL_AWAKE);
    const asleep = [false, false];
    let written = 0;
    let delivered = 0;
    let steps = 0;
    let sleeps = 0;
    /** Times shard 0 went to sleep with frames held back: all its credit out, or frames parked for a full ring. */
    const heldBack = { credit: 0, room: 0 };
    const L = r.L;
    expect(r.mem.u32[(r.tables.shards[0]! + L.SH_XS_CREDIT) >>> 2]).toBe(credit);
    const outOfCredit = (): boolean => r.mem.u32[(r.tables.xsCredit(0, 1) + L.XQ_SENT) >>> 2]! - r.mem.u32[(r.tables.xsCredit(1, 0) + L.XQ_DONE) >>> 2]! >= credit;
    const parkedTowards1 = (): number => r.mem.u32[(r.mem.u32[(r.tables.shards[0]! + L.SH_XS_OUT) >>> 2]! + L.OUT_SIZE + L.OUT_PARK_COUNT) >>> 2]!;
    // A shard's turn, as its loop does it: route; when idle, announce sleep, look once more
    // (a routing pass, parked frames it wrote count as work), and sleep if that found nothing.
    const shardTurn = (s: number): void => {
      if (asleep[s]) {
        if (bell(s) === DOORBELL_ASLEEP) return; // nobody rang
        asleep[s] = false;
      }
      r.wasm.parkedMovedTake();
      if (r.route(s, 1 + rnd(8)) !== 0) return;
      sleep(s);
      r.wasm.parkedMovedTake();
      const late = r.route(s, 64);
      if (late !== 0 || r.wasm.parkedMovedTake() !== 0) {
        Atomics.store(i32, r.tables.bell(s) >>> 2, DOORBELL_AWAKE);
        return;
      }
      asleep[s] = true;
      sleeps++;
      if (s === 0 && outOfCredit() && r.ringBacklog(drv.toRouter) !== 0) heldBack.credit++;
      if (s === 0 && parkedTowards1() !== 0) heldBack.room++;
    };
    const pick: number[] = turns.flatMap((n, who) => Array<number>(n).fill(who));
    while (delivered < EVENTS) {
      steps++;
      const who = pick[rnd(pick.length)]!;
      switch (who) {
        case 0: {
          // The driver writes a burst and rings its shard (a producer's publish).
          let n = 0;
          while (n < 1 + rnd(12) && written < EVENTS && r.write(drv, event()) !== 0) { n++; written++; }
          if (n !== 0) { r.publish(drv); wake(0); }
          break;
        }
        case 1: {
          // The slow device reads a few; freeing room in a full ring rings its shard.
          const full = r.ringBacklog(dev.fromRouter) > dev.cap - dev.maxUnits - 1;
          const n = r.read(dev, 1 + rnd(deviceReads), () => {});
          delivered += n;
          if (n !== 0 && full) wake(1);
          break;
        }
        default:
          shardTurn(who - 2);
      }
      // Nothing left that would ring a shard: the driver cannot write, the device has nothing to read.
      const driverDone = written === EVENTS || r.ringBacklog(drv.toRouter) >= drv.cap - 1;
      const sleeping = (s: number): boolean => asleep[s]! && bell(s) === DOORBELL_ASLEEP;
      const stuck = delivered < EVENTS && sleeping(0) && sleeping(1) && r.ringBacklog(dev.fromRouter) === 0 && driverDone;
      if (stuck || steps > 2_000_000) {
        const waiting = r.mem.u32[(r.tables.xsCredit(1, 0) + L.XQ_WAIT + L.PQ_COUNT) >>> 2];
        const sent = r.mem.u32[(r.tables.xsCredit(0, 1) + L.XQ_SENT) >>> 2];
        const done = r.mem.u32[(r.tables.xsCredit(1, 0) + L.XQ_DONE) >>> 2];
        throw new Error(`lost wake-up after ${delivered} of ${EVENTS} events (${steps} steps): both shards asleep, driver ring ${r.ringBacklog(drv.toRouter)}, device ring empty; pending work: shard 0 ${r.wasm.pendingWork(r.tables.shards[0]!)}, shard 1 ${r.wasm.pendingWork(r.tables.shards[1]!)} (waiting ${waiting}, parked towards shard 1 ${parkedTowards1()}); credit sent ${sent} done ${done}`);
      }
    }
    expect(delivered).toBe(EVENTS);
    // The shards did sleep, many times, and shard 0 with frames held back for what this case is about.
    expect(sleeps).toBeGreaterThan(1000);
    expect(heldBack[sleepsFor]).toBeGreaterThan(100);
    expect(r.mem.u32[(r.tables.shards[1]! + L.SH_POOL_RESERVE) >>> 2]).toBe(credit);
  });
});
