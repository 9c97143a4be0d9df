// A consumer's publish wakes a sleeping producer only when the room was short before it
// (assembly/ring/cursor.ts CURF_FREES). The risk of that rule is a lost wake-up: a producer
// asleep for room that nobody rings. Here a producer fills a tiny ring (2-4 slots, or a packed
// ring where one large frame needs nearly all of it) and sleeps for room on every full ring,
// with no spin, while a consumer in another thread holds each slot a few microseconds before
// releasing it, so releases land before, between and after the producer's announce and last
// look. A lost wake-up shows as a wait that ends without room after `waitMs`: none allowed.
import { afterAll, describe, expect, test } from 'vitest';
import { runWorker } from './run-worker.js';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { wasmModule } from '../../src/wasm/module.js';
import { CUR_BATCH } from '../../src/ring/cursor.js';
import { initNativeRing, nativeRingBytes, NR_CONS_CURSOR, NR_PROD_CURSOR } from '../../src/ring/native.js';

const COUNT = 4000;
const WAIT_MS = 2000;
const mem = new SharedMemory({ bytes: 1024 * 1024 });
const module = wasmModule();
const results: string[] = [];
afterAll(() => console.log(`room wake-ups, ${COUNT} messages each:\n  ${results.join('\n  ')}`));

interface Variant {
  name: string;
  capacity: number;
  /** > 1: a packed ring of 16-byte units, frames of 1..frameUnits units. */
  frameUnits: number;
  consumer: 'ts' | 'wasm';
  consumerBatch: number;
}

const variants: Variant[] = [
  { name: 'slot ring of 2, WASM consumer', capacity: 2, frameUnits: 1, consumer: 'wasm', consumerBatch: 1 },
  { name: 'slot ring of 3, TS consumer', capacity: 3, frameUnits: 1, consumer: 'ts', consumerBatch: 1 },
  { name: 'slot ring of 4, WASM consumer, batch 2', capacity: 4, frameUnits: 1, consumer: 'wasm', consumerBatch: 2 },
  { name: 'slot ring of 4, TS consumer, batch 3', capacity: 4, frameUnits: 1, consumer: 'ts', consumerBatch: 3 },
  { name: 'packed ring of 5 units, frames up to 4, TS consumer', capacity: 5, frameUnits: 4, consumer: 'ts', consumerBatch: 1 },
  { name: 'packed ring of 8 units, frames up to 3, WASM consumer, batch 2', capacity: 8, frameUnits: 3, consumer: 'wasm', consumerBatch: 2 },
];


describe.each(variants)('$name', (v) => {
  test(`a producer sleeping for room is always woken (${COUNT} messages, in order)`, async () => {
    const slotSize = v.frameUnits > 1 ? 16 : 64;
    const base = mem.alloc(nativeRingBytes(v.capacity, slotSize, v.frameUnits));
    const bells = mem.alloc(64);
    const producerBell = bells;
    const consumerBell = bells + 8;
    initNativeRing(mem, base, { capacity: v.capacity, slotSize, frameUnits: v.frameUnits, batch: 1, consumerBell, producerBell });
    mem.u32[(base + NR_CONS_CURSOR + CUR_BATCH) >>> 2] = v.consumerBatch;
    const common = { memory: mem.memory, module, layout: 'native', base, stride: slotSize * v.frameUnits, count: COUNT, spins: 0, waitMs: WAIT_MS };
    const consumer = runWorker('slow-consumer.mjs', { ...common, view: v.consumer, cursor: base + NR_CONS_CURSOR, ownBell: consumerBell });
    const producer = runWorker('room-producer.mjs', { ...common, view: 'wasm', cursor: base + NR_PROD_CURSOR, ownBell: producerBell });
    try {
      const [p, c] = await Promise.all([producer.done, consumer.done]);
      expect(p.lost).toBe(0);
      expect(c.lost).toBe(0);
      expect(p.sent).toBe(COUNT);
      expect(c.firstError).toBeNull();
      expect(c.received).toBe(COUNT);
      // The path under test ran: the producer found the ring full and slept for room.
      expect(p.sleeps as number).toBeGreaterThan(COUNT / 20);
      results.push(`${v.name}: producer full ${p.fullWaits} times, slept ${p.sleeps}; consumer slept ${c.sleeps}`);
    } finally {
      await Promise.all([producer.worker.terminate(), consumer.worker.terminate()]);
    }
  }, 60_000);
});
