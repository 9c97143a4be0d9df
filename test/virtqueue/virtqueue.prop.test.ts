// Properties of split virtqueues (§2.7): every buffer exactly once, no lost notification, no crash on any guest bytes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtqueueFault } from '../../src/virtqueue/fault.js';
import type { DriverBuffer } from '../../src/virtqueue/driver-queue.js';
import type { DescriptorChain } from '../../src/virtqueue/device-queue.js';
import { ok, queuePair, RawDriver } from './helpers.js';

const DATA_BYTES = 4096;
const sizes = fc.constantFrom(1, 2, 4, 8, 16);

/** A chain description: readable then writable (offset, len) pairs inside the data area. */
interface ChainShape {
  readable: [number, number][];
  writable: [number, number][];
}
const chainShape: fc.Arbitrary<ChainShape> = fc
  .record({
    readable: fc.array(fc.tuple(fc.nat(DATA_BYTES - 1), fc.nat(64)), { maxLength: 3 }),
    writable: fc.array(fc.tuple(fc.nat(DATA_BYTES - 1), fc.nat(64)), { maxLength: 3 }),
  })
  .filter((c) => c.readable.length + c.writable.length > 0);

function toBuffers(data: number, shape: ChainShape): DriverBuffer[] {
  const buffer = (writable: boolean) => ([offset, len]: [number, number]): DriverBuffer => ({
    gpa: data + offset, len: Math.min(len, DATA_BYTES - offset), writable,
  });
  return [...shape.readable.map(buffer(false)), ...shape.writable.map(buffer(true))];
}

const operation = fc.oneof(
  { weight: 4, arbitrary: chainShape.map((shape) => ({ op: 'add' as const, shape })) },
  { weight: 3, arbitrary: fc.constant({ op: 'pop' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('push' as const), pick: fc.nat(), written: fc.nat() }) },
  { weight: 3, arbitrary: fc.constant({ op: 'getUsed' as const }) },
);

describe('split virtqueue properties', () => {
  it('any interleaving of add, pop, push (in any order) and getUsed returns every buffer exactly once, as added', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), fc.array(operation, { maxLength: 200 }), (size, eventIdx, operations) => {
        const { memory, driver, device } = queuePair<number>(size, { eventIdx });
        const data = memory.alloc(DATA_BYTES, 16);
        const availableInOrder: { token: number; buffers: DriverBuffer[] }[] = [];
        const popped: { token: number; chain: DescriptorChain }[] = [];
        const usedInOrder: { token: number; len: number }[] = [];
        const returned = new Set<number>();
        let nextToken = 0;

        const pop = (): void => {
          const chain = ok(device.pop());
          if (chain === null) return void expect(availableInOrder).toHaveLength(0);
          const { token, buffers } = availableInOrder.shift()!;
          const asSegments = (writable: boolean) => buffers.filter((b) => b.writable === writable).map((b) => ({ gpa: b.gpa, len: b.len }));
          expect(chain.readable).toEqual(asSegments(false));
          expect(chain.writable).toEqual(asSegments(true));
          popped.push({ token, chain });
        };
        const push = (pick: number, written: number): void => {
          if (popped.length === 0) return;
          const { token, chain } = popped.splice(pick % popped.length, 1)[0]!;
          const len = written % (chain.writableBytes + 1);
          device.push(chain.head, len);
          usedInOrder.push({ token, len });
        };
        const getUsed = (): void => {
          const used = ok(driver.getUsed());
          if (used === null) return void expect(usedInOrder).toHaveLength(0);
          expect(used).toEqual(usedInOrder.shift());
          expect(returned.has(used.token)).toBe(false);
          returned.add(used.token);
        };

        for (const step of operations) {
          if (step.op === 'add') {
            const buffers = toBuffers(data, step.shape);
            const free = driver.freeDescriptors;
            const head = driver.add(buffers, nextToken);
            expect(head === null).toBe(buffers.length > free);
            if (head !== null) availableInOrder.push({ token: nextToken++, buffers });
          } else if (step.op === 'pop') pop();
          else if (step.op === 'push') push(step.pick, step.written);
          else getUsed();
        }
        while (availableInOrder.length > 0) pop();
        while (popped.length > 0) push(0, 0);
        while (usedInOrder.length > 0) getUsed();
        expect(ok(driver.getUsed())).toBeNull();
        expect(returned.size).toBe(nextToken);
        expect(driver.freeDescriptors).toBe(size);
      }),
      { numRuns: 300 },
    );
  });

  it('notification suppression never loses a wakeup: work added or used while the peer sleeps always wakes it', () => {
    const step = fc.constantFrom(
      'driverAdd', 'driverKick', 'driverWake', 'driverGetUsed', 'driverSleep',
      'deviceWake', 'devicePop', 'devicePush', 'deviceSignal', 'deviceSleep',
    );
    fc.assert(
      fc.property(sizes, fc.boolean(), fc.array(step, { maxLength: 300 }), (size, eventIdx, steps) => {
        const { memory, driver, device } = queuePair<number>(size, { eventIdx });
        const buffer = memory.alloc(64, 16);
        // Each side sleeps until the other signals it; a pending signal is an EVENT_AVAIL or EVENT_USED in flight.
        let deviceAwake = false;
        let driverAwake = false;
        let notifyPending = false;
        let interruptPending = false;
        const popped: number[] = [];
        let added = 0;
        let returned = 0;

        const deviceWork = (): void => {
          for (let chain = ok(device.pop()); chain !== null; chain = ok(device.pop())) popped.push(chain.head);
        };
        const driverWork = (): void => {
          while (ok(driver.getUsed()) !== null) returned++;
        };
        const pushAll = (): void => {
          while (popped.length > 0) device.push(popped.shift()!, 0);
          if (device.needsInterrupt()) interruptPending = true;
        };

        for (const s of steps) {
          switch (s) {
            case 'driverAdd':
              if (driver.add([{ gpa: buffer, len: 64, writable: true }], added) !== null) added++;
              break;
            case 'driverKick':
              if (driver.needsNotify()) notifyPending = true;
              break;
            case 'driverWake':
              if (interruptPending) {
                interruptPending = false;
                driverAwake = true;
                driver.disableInterrupts();
              }
              break;
            case 'driverGetUsed':
              if (driverAwake && ok(driver.getUsed()) !== null) returned++;
              break;
            case 'driverSleep':
              if (driverAwake && driver.enableInterrupts()) driverAwake = false;
              break;
            case 'deviceWake':
              if (notifyPending) {
                notifyPending = false;
                deviceAwake = true;
                device.disableNotifications();
              }
              break;
            case 'devicePop': {
              const chain = deviceAwake ? ok(device.pop()) : null;
              if (chain !== null) popped.push(chain.head);
              break;
            }
            case 'devicePush':
              // Completions may come later than the pop, whether or not the device listens for notifications.
              if (popped.length > 0) device.push(popped.shift()!, 0);
              break;
            case 'deviceSignal':
              if (device.needsInterrupt()) interruptPending = true;
              break;
            case 'deviceSleep':
              if (deviceAwake && device.enableNotifications()) deviceAwake = false;
              break;
          }
        }

        // Settle: each side meets its obligations (kick after adding, signal after pushing), then
        // only signals move work. A lost wakeup leaves chains that never come back.
        if (driver.needsNotify()) notifyPending = true;
        pushAll();
        for (let round = 0; round < 4 * size + 8; round++) {
          if (deviceAwake || notifyPending) {
            notifyPending = false;
            do {
              device.disableNotifications();
              deviceWork();
              pushAll();
            } while (!device.enableNotifications());
            deviceAwake = false;
          }
          if (driverAwake || interruptPending) {
            interruptPending = false;
            do {
              driver.disableInterrupts();
              driverWork();
            } while (!driver.enableInterrupts());
            driverAwake = false;
          }
        }
        expect(returned).toBe(added);
      }),
      { numRuns: 400 },
    );
  });

  it('pop never throws and yields only well-formed chains inside guest memory, whatever the guest wrote', () => {
    // Values near the limits and plain garbage, so both valid and broken chains come up.
    const index = fc.oneof(fc.nat(20), fc.nat(0xffff));
    const descriptor = fc.record({
      addr: fc.oneof(fc.nat(70_000), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      len: fc.oneof(fc.nat(5000), fc.nat(0xffff_ffff)),
      flags: fc.nat(7),
      next: index,
    });
    fc.assert(
      fc.property(
        sizes,
        fc.array(descriptor, { minLength: 16, maxLength: 16 }),
        fc.array(index, { minLength: 16, maxLength: 16 }),
        fc.nat(0xffff),
        fc.nat(),
        (size, descriptors, heads, availIdx, written) => {
          // Guest memory at address 0, so small descriptor addresses land inside it.
          const { memory, driver, device } = queuePair<number>(size, { base: 0 });
          const raw = new RawDriver(memory, size, driver.addresses.descAddr, driver.addresses.driverAddr);
          for (let d = 0; d < size; d++) raw.descriptor(d, descriptors[d]!);
          for (let i = 0; i < size; i++) raw.offer(heads[i]!);
          raw.setAvailIdx(availIdx);
          for (let i = 0; i < size + 1; i++) {
            const result = device.pop();
            if (result === null || result instanceof VirtqueueFault) break;
            const segments = [...result.readable, ...result.writable];
            expect(segments.length).toBeLessThanOrEqual(size);
            for (const { gpa, len } of segments) expect(typeof memory.offsetOf(gpa, len)).toBe('number');
            expect(result.readableBytes + result.writableBytes).toBeLessThanOrEqual(0xffff_ffff);
            device.push(result.head, written % (result.writableBytes + 1));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
