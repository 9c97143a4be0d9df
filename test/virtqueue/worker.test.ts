// Driver in the main thread, device in a worker_thread, one SharedArrayBuffer between them: the
// index publishes (§2.7.13.3, §2.7.8) are what make the data visible across threads.
// The worker runs the compiled library: `npm run build` first.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { DriverQueue } from '../../src/virtqueue/driver-queue.js';
import { ok, guestMemory } from './helpers.js';

interface DeviceReport { served: number; notifications: number; behindHint: number }

const QUEUE_SIZE = 128;
/** Two descriptors per request (request, response). */
const SLOTS = QUEUE_SIZE / 2;
const SLOT_BYTES = 256;
const TOTAL = 40_000; // past 32768, so next_offset carries the wrap bit

/** Request `seq`'s bytes: a pattern that differs per request and per byte. */
const requestByte = (seq: number, i: number): number => (seq * 31 + i * 7) & 0xff;

describe('driver and device in different threads', () => {
  for (const eventIdx of [false, true]) {
    it(`exchange ${TOTAL} requests with notifications as messages (EVENT_IDX ${eventIdx ? 'on' : 'off'})`, async () => {
      const memory = guestMemory(1 << 20);
      const driver = DriverQueue.allocate<{ seq: number; slot: number; len: number }>(memory, QUEUE_SIZE, { eventIdx });
      const requests = memory.alloc(SLOTS * SLOT_BYTES, 64);
      const responses = memory.alloc(SLOTS * SLOT_BYTES, 64);
      const { descAddr, driverAddr, deviceAddr } = driver.addresses;
      const worker = new Worker(new URL('./workers/device.mjs', import.meta.url), {
        workerData: {
          memory: memory.describe(),
          vqIndex: 0,
          queue: { size: QUEUE_SIZE, eventIdx, addresses: { descAddr: BigInt(descAddr), driverAddr: BigInt(driverAddr), deviceAddr: BigInt(deviceAddr) } },
        },
      });
      const freeSlots = Array.from({ length: SLOTS }, (_, i) => i);
      let sent = 0;
      let received = 0;
      let notifications = 0;
      let interrupts = 0;

      const fill = (): void => {
        while (sent < TOTAL && freeSlots.length > 0) {
          const slot = freeSlots.pop()!;
          const len = 1 + (sent % SLOT_BYTES);
          const request = memory.view(requests + slot * SLOT_BYTES, len) as Uint8Array;
          for (let i = 0; i < len; i++) request[i] = requestByte(sent, i);
          const buffers = [
            { gpa: requests + slot * SLOT_BYTES, len, writable: false },
            { gpa: responses + slot * SLOT_BYTES, len: SLOT_BYTES, writable: true },
          ];
          expect(driver.add(buffers, { seq: sent, slot, len })).not.toBeNull();
          sent++;
        }
        if (driver.needsNotify()) {
          notifications++;
          worker.postMessage({ type: 'avail', vqIndex: 0, nextOffset: driver.nextOffset });
        }
      };
      const drain = (): void => {
        do {
          driver.disableInterrupts();
          for (let used = ok(driver.getUsed()); used !== null; used = ok(driver.getUsed())) {
            const { seq, slot, len } = used.token;
            if (seq !== received || used.len !== len) expect({ seq, len: used.len }).toEqual({ seq: received, len });
            const response = memory.view(responses + slot * SLOT_BYTES, len) as Uint8Array;
            for (let i = 0; i < len; i++) {
              if (response[i] !== requestByte(seq, len - 1 - i)) expect.fail(`response ${seq} byte ${i} is not its request reversed`);
            }
            freeSlots.push(slot);
            received++;
          }
        } while (!driver.enableInterrupts());
      };

      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`stalled: sent ${sent}, received ${received}`)), 10_000);
          worker.on('error', reject);
          worker.on('message', (message: { type: string; message?: string }) => {
            if (message.type === 'fault') return reject(new Error(`device fault: ${message.message}`));
            if (message.type !== 'used') return;
            interrupts++;
            try {
              drain();
              fill();
            } catch (error) {
              reject(error as Error);
            }
            if (received === TOTAL) resolve();
          });
          fill();
        });
        // An EVENT_USED for chains already drained may still be in flight: wait for the report itself.
        const report = await new Promise<DeviceReport>((resolve) => {
          worker.on('message', (message: { type: string } & DeviceReport) => {
            if (message.type === 'report') resolve(message);
          });
          worker.postMessage({ type: 'stop' });
        });
        expect(report.served).toBe(TOTAL);
        expect(report.notifications).toBe(notifications);
        expect(report.behindHint).toBe(0);
        // Suppression works across threads: far fewer signals than requests.
        expect(notifications).toBeLessThan(TOTAL / 4);
        expect(interrupts).toBeLessThan(TOTAL / 4);
      } finally {
        clearTimeout(timer);
        await worker.terminate();
      }
    });
  }
});
