// A DriverQueue and a DeviceQueue over the same guest memory (§2.7.13–§2.7.14): order, lengths, data, wrap-around.
import { describe, expect, it } from 'vitest';
import type { DriverBuffer, DriverQueue } from '../../src/virtqueue/driver-queue.js';
import type { DeviceQueue } from '../../src/virtqueue/device-queue.js';
import type { GuestMemory } from '../../src/virtqueue/guest-memory.js';
import { VIRTQ_AVAIL_IDX, VIRTQ_USED_IDX } from '../../src/virtqueue/split-layout.js';
import { ok, queuePair, seededRandom } from './helpers.js';

interface Request {
  seq: number;
  slot: number;
  payload: Uint8Array;
}

/** The device's work: the response is the request reversed, so a mixed-up buffer shows. */
function serve(device: DeviceQueue): number {
  let served = 0;
  for (let chain = ok(device.pop()); chain !== null; chain = ok(device.pop())) {
    const request = device.read(chain, 0, chain.readableBytes);
    device.write(chain, 0, request.reverse());
    device.push(chain.head, chain.readableBytes);
    served++;
  }
  return served;
}

/** Split [gpa, gpa + len) into 1..maxParts buffers at random points. */
function split(gpa: number, len: number, maxParts: number, writable: boolean, random: (n: number) => number): DriverBuffer[] {
  const parts = 1 + random(maxParts);
  const cuts = [0, ...Array.from({ length: parts - 1 }, () => random(len + 1)).sort((a, b) => a - b), len];
  return cuts.slice(1).map((end, i) => ({ gpa: gpa + cuts[i]!, len: end - cuts[i]!, writable }));
}

/** A driver with `slots` request/response areas of `slotBytes` each in guest memory. */
function requester(memory: GuestMemory, driver: DriverQueue<Request>, slots: number, slotBytes: number, seed: number) {
  const random = seededRandom(seed);
  const requestArea = memory.alloc(slots * slotBytes, 64);
  const responseArea = memory.alloc(slots * slotBytes, 64);
  const freeSlots = Array.from({ length: slots }, (_, i) => i);
  let nextSeq = 0;
  let expectedSeq = 0;
  return {
    /** Add one random request; false when no slot or descriptors are free. */
    add(): boolean {
      if (freeSlots.length === 0) return false;
      const slot = freeSlots[freeSlots.length - 1]!;
      const payload = Uint8Array.from({ length: 1 + random(slotBytes) }, () => random(256));
      const requestGpa = requestArea + slot * slotBytes;
      (memory.view(requestGpa, payload.length) as Uint8Array).set(payload);
      const buffers = [
        ...split(requestGpa, payload.length, 3, false, random),
        ...split(responseArea + slot * slotBytes, slotBytes, 2, true, random),
      ];
      if (driver.add(buffers, { seq: nextSeq, slot, payload }) === null) return false;
      freeSlots.pop();
      nextSeq++;
      return true;
    },
    /** Check every used chain: in order (the device serves in order), with its length and data. */
    collect(inOrder = true): number {
      let collected = 0;
      for (let used = ok(driver.getUsed()); used !== null; used = ok(driver.getUsed())) {
        const { seq, slot, payload } = used.token;
        // Plain checks, expect() only on failure: this runs 10^5 times per test.
        if (inOrder && seq !== expectedSeq) expect(seq, 'used in order').toBe(expectedSeq);
        expectedSeq++;
        if (used.len !== payload.length) expect(used.len, `len of request ${seq}`).toBe(payload.length);
        const response = memory.view(responseArea + slot * slotBytes, used.len) as Uint8Array;
        if (!Buffer.from(response).equals(Buffer.from(payload).reverse())) expect.fail(`response ${seq} is not its request reversed`);
        freeSlots.push(slot);
        collected++;
      }
      return collected;
    },
    get added(): number {
      return nextSeq;
    },
  };
}

describe('driver and device over one guest memory', () => {
  it('delivers every chain in order, with its length and its data intact across segments', () => {
    const { memory, driver, device } = queuePair<Request>(16, { bytes: 1 << 20 });
    const driverSide = requester(memory, driver, 16, 1000, 1);
    const random = seededRandom(2);
    let collected = 0;
    while (driverSide.added < 3000) {
      for (let n = random(20); n > 0 && driverSide.added < 3000 && driverSide.add(); n--);
      for (let n = random(4); n > 0; n--) serve(device);
      collected += driverSide.collect();
    }
    serve(device);
    collected += driverSide.collect();
    expect(collected).toBe(3000);
    expect(driver.freeDescriptors).toBe(16);
  });

  it('lets the device use chains out of order; every token comes back exactly once', () => {
    const { memory, driver, device } = queuePair<Request>(8);
    const driverSide = requester(memory, driver, 8, 64, 3);
    const random = seededRandom(4);
    let collected = 0;
    for (let round = 0; round < 300; round++) {
      while (driverSide.add());
      const popped = [];
      for (let chain = ok(device.pop()); chain !== null; chain = ok(device.pop())) popped.push(chain);
      while (popped.length > 0) {
        const chain = popped.splice(random(popped.length), 1)[0]!;
        device.write(chain, 0, device.read(chain, 0, chain.readableBytes).reverse());
        device.push(chain.head, chain.readableBytes);
        if (random(3) === 0) collected += driverSide.collect(false);
      }
      collected += driverSide.collect(false);
    }
    expect(collected).toBe(driverSide.added);
    expect(driver.freeDescriptors).toBe(8);
  });

  for (const eventIdx of [false, true]) {
    it(`keeps working, driven only by notifications, as the 16-bit indices wrap past 65535 (EVENT_IDX ${eventIdx ? 'on' : 'off'})`, () => {
      const { memory, driver, device } = queuePair<Request>(8, { eventIdx });
      const driverSide = requester(memory, driver, 8, 16, 5);
      const random = seededRandom(6);
      const total = 70_000;
      let collected = 0;
      let notifications = 0;
      let interrupts = 0;
      let idleRounds = 0;
      while (collected < total) {
        // Driver: add a few, notify if the device asks for it.
        for (let n = 1 + random(3); n > 0 && driverSide.added < total && driverSide.add(); n--);
        let progressed = false;
        if (driver.needsNotify()) {
          notifications++;
          // Device woken by EVENT_AVAIL: work with notifications off, re-enable, re-check.
          do {
            device.disableNotifications();
            serve(device);
          } while (!device.enableNotifications());
          if (device.needsInterrupt()) {
            interrupts++;
            // Driver woken by EVENT_USED: same pattern on its side.
            do {
              driver.disableInterrupts();
              collected += driverSide.collect();
            } while (!driver.enableInterrupts());
            progressed = true;
          }
        }
        // A lost notification or interrupt leaves both sides asleep with work pending.
        idleRounds = progressed ? 0 : idleRounds + 1;
        if (idleRounds > 100) expect.fail('both sides asleep with work pending');
      }
      expect(collected).toBe(total);
      const avail = driver.addresses.driverAddr - memory.base;
      const used = driver.addresses.deviceAddr - memory.base;
      expect(memory.data.getUint16(avail + VIRTQ_AVAIL_IDX, true)).toBe(total % 65536);
      expect(memory.data.getUint16(used + VIRTQ_USED_IDX, true)).toBe(total % 65536);
      // Every batch was announced once and answered once: suppression did its job.
      expect(notifications).toBeLessThan(total);
      expect(interrupts).toBe(notifications);
    });
  }
});
