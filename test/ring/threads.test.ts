// Every ring layout across two real threads: a producer worker and a consumer worker move
// 1,000,000 messages (varying msg_size, sequence number and checksum in the payload) with nothing
// lost, duplicated, reordered or torn. Variants cover the TS classes over the WASM cursor and the
// raw WASM exports on either side, the frame copies, and consumers/producers that sleep on a doorbell (spin-then-sleep) so the
// wake path runs. Throughput is printed (msgs/s, consumer side), not asserted.
import { afterAll, describe, expect, test } from 'vitest';
import { runWorker } from './run-worker.js';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { wasmModule } from '../../src/wasm/module.js';
import { CURSOR_CONSUMER, CURSOR_PRODUCER } from '../../src/ring/cursor.js';
import { initNativeRing, nativeRingBytes, NR_CONS_CURSOR, NR_PROD_CURSOR } from '../../src/ring/native.js';
import { initSpscRing, spscRegionBytes } from '../../src/ring/spsc.js';
import { vmampDeviceInit, vmampDriverInit, VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER, type VmampRole } from '../../src/ring/vmamp.js';
import { bringUp } from './helpers.js';

const COUNT = 1_000_000;
const mem = new SharedMemory({ bytes: 32 * 1024 * 1024 });
const module = wasmModule();
const results: string[] = [];
afterAll(() => console.log(`ring throughput, ${COUNT} messages each (consumer side):\n  ${results.join('\n  ')}`));

type Layout = 'native' | 'vmamp' | 'spsc';
type View = 'ts' | 'wasm';
interface Variant {
  name: string;
  layout: Layout;
  producer: View;
  consumer: View;
  batch: number;
  /** 'frame': TS tryPush/tryPop with private buffers; 'slot': read/write in place. */
  copy?: 'slot' | 'frame';
  /** Both sides sleep on a doorbell when idle; the producer pauses now and then to make the consumer sleep. */
  doorbells?: boolean;
  /** vmamp: which role sends. */
  sender?: VmampRole;
  /**
   * 4096 slots (native 4096, vmamp N = 4096 in a 524,368-byte window, SPSC C = 4096 in 262,272
   * bytes) instead of the small real-world sizes (native 256, vmamp 8 KiB N = 63, SPSC 4 KiB
   * C = 62). Busy-polling variants use it so that a side descheduled on an oversubscribed machine
   * leaves its peer a lot of work rather than a stall.
   */
  large?: boolean;
}

interface SideSetup {
  base: number;
  size: number;
  stride: number;
  vmampLayout?: unknown;
  producer: { role?: VmampRole; cursor: number; wakeAddr: number; ownBell: number };
  consumer: { role?: VmampRole; cursor: number; wakeAddr: number; ownBell: number };
}

/** Lay the ring out fresh, fill WASM cursors where needed, give each side its own doorbell. */
function setUp(v: Variant): SideSetup {
  const bellP = v.doorbells ? mem.alloc(64) : 0;
  const bellC = v.doorbells ? mem.alloc(64) : 0;
  const w = mem.wasm;
  if (v.layout === 'native') {
    const capacity = v.large ? 4096 : 256;
    const base = mem.alloc(nativeRingBytes(capacity, 64));
    initNativeRing(mem, base, { capacity, slotSize: 64, batch: v.batch, consumerBell: bellC, producerBell: bellP });
    return {
      base, size: 0, stride: 64,
      producer: { cursor: base + NR_PROD_CURSOR, wakeAddr: bellC, ownBell: bellP },
      consumer: { cursor: base + NR_CONS_CURSOR, wakeAddr: bellP, ownBell: bellC },
    };
  }
  const curP = mem.alloc(64);
  const curC = mem.alloc(64);
  if (v.layout === 'vmamp') {
    const size = v.large ? 80 + 128 * 4096 : 8192; // N = 4096, or 63 as in the QEMU AMP-PCI window
    const base = mem.alloc(size);
    vmampDeviceInit(mem, base, size);
    const layout = vmampDriverInit(mem.buffer, base, size)!;
    bringUp(mem.buffer, layout);
    const sender = v.sender ?? VMAMP_ROLE_DRIVER;
    const receiver = sender === VMAMP_ROLE_DRIVER ? VMAMP_ROLE_DEVICE : VMAMP_ROLE_DRIVER;
    expect(w.vmampCursorInit(curP, base, size, sender, CURSOR_PRODUCER, v.batch, bellC)).toBe(1);
    expect(w.vmampCursorInit(curC, base, size, receiver, CURSOR_CONSUMER, v.batch, bellP)).toBe(1);
    return {
      base, size, stride: 64, vmampLayout: layout,
      producer: { role: sender, cursor: curP, wakeAddr: bellC, ownBell: bellP },
      consumer: { role: receiver, cursor: curC, wakeAddr: bellP, ownBell: bellC },
    };
  }
  const size = spscRegionBytes(v.large ? 4096 : 62); // 262,272 B, or 4 KiB as in the QEMU AMP-PCI v1 queue
  const base = mem.alloc(size);
  initSpscRing(mem, base, size);
  expect(w.spscCursorInit(curP, base, size, CURSOR_PRODUCER, v.batch, bellC)).toBe(1);
  expect(w.spscCursorInit(curC, base, size, CURSOR_CONSUMER, v.batch, bellP)).toBe(1);
  return {
    base, size, stride: 64,
    producer: { cursor: curP, wakeAddr: bellC, ownBell: bellP },
    consumer: { cursor: curC, wakeAddr: bellP, ownBell: bellC },
  };
}


const variants: Variant[] = [
  { name: 'native 4096: TS producer -> TS consumer, batch 16', layout: 'native', producer: 'ts', consumer: 'ts', batch: 16, large: true },
  { name: 'native 4096: WASM producer -> TS consumer, batch 16', layout: 'native', producer: 'wasm', consumer: 'ts', batch: 16, large: true },
  { name: 'native 256: TS tryPush -> TS tryPop, doorbells (spin-then-sleep)', layout: 'native', producer: 'ts', consumer: 'ts', batch: 16, copy: 'frame', doorbells: true },
  { name: 'vmamp N=4096 driver->device: TS -> TS, batch 8', layout: 'vmamp', producer: 'ts', consumer: 'ts', batch: 8, sender: VMAMP_ROLE_DRIVER, large: true },
  { name: 'vmamp 8 KiB device->driver: TS -> WASM consumer, doorbells', layout: 'vmamp', producer: 'ts', consumer: 'wasm', batch: 8, doorbells: true, sender: VMAMP_ROLE_DEVICE },
  { name: 'spsc C=4096: TS producer -> WASM consumer, batch 16', layout: 'spsc', producer: 'ts', consumer: 'wasm', batch: 16, large: true },
  { name: 'spsc 4 KiB: WASM producer -> TS consumer, batch 1, doorbells', layout: 'spsc', producer: 'wasm', consumer: 'ts', batch: 1, doorbells: true },
];

describe.each(variants)('$name', (v) => {
  test(`moves ${COUNT} messages in order, none lost, duplicated or torn`, async () => {
    const s = setUp(v);
    const common = {
      memory: mem.memory, module, layout: v.layout, base: s.base, size: s.size, stride: s.stride,
      vmampLayout: s.vmampLayout, batch: v.batch, count: COUNT, copy: v.copy ?? 'slot',
    };
    const consumer = runWorker('consumer.mjs', { ...common, view: v.consumer, ...s.consumer });
    const producer = runWorker('producer.mjs', {
      ...common, view: v.producer, ...s.producer,
      // Pauses long enough (2 ms > 2000 polls) that the consumer goes to sleep ~20 times.
      pauseEvery: v.doorbells ? 50_000 : 0, pauseMs: 2,
    });
    try {
      const [p, c] = await Promise.all([producer.done, consumer.done]);
      expect(p.sent).toBe(COUNT);
      expect(c.firstError).toBeNull();
      expect(c.errors).toBe(0);
      expect(c.received).toBe(COUNT);
      expect(c.faults).toBe(0);
      if (v.doorbells) expect(c.sleeps as number).toBeGreaterThan(0);
      const rate = COUNT / ((c.ms as number) / 1000);
      results.push(`${v.name}: ${(rate / 1e6).toFixed(2)} M msgs/s (consumer sleeps ${c.sleeps}, producer full-waits ${p.fullWaits}, producer sleeps ${p.sleeps})`);
    } finally {
      await Promise.all([producer.worker.terminate(), consumer.worker.terminate()]);
    }
  }, 30_000);
});
