// Shared pieces of the virtqueue tests: a fresh guest window, a hand-written ("raw") driver for
// chains no well-behaved DriverQueue would build, and unwrapping of fault-or-value results.
import { expect } from 'vitest';
import { GuestMemory } from '../../src/virtqueue/guest-memory.js';
import { VirtqueueFault } from '../../src/virtqueue/fault.js';
import { DriverQueue } from '../../src/virtqueue/driver-queue.js';
import { DeviceQueue } from '../../src/virtqueue/device-queue.js';
import {
  VIRTQ_AVAIL_ENTRY_SIZE, VIRTQ_AVAIL_IDX, VIRTQ_AVAIL_RING, VIRTQ_DESC_ADDR, VIRTQ_DESC_FLAGS, VIRTQ_DESC_LEN,
  VIRTQ_DESC_NEXT, VIRTQ_DESC_SIZE,
} from '../../src/virtqueue/split-layout.js';

/** Guest-physical base of test windows: above 4 GiB, so 64-bit addresses are exercised. */
export const TEST_BASE = 0x1_2340_0000;

export function guestMemory(bytes: number, base: number = TEST_BASE): GuestMemory {
  return new GuestMemory({ buffer: new SharedArrayBuffer(bytes), offset: 0, length: bytes, base });
}

/** A driver queue allocated in a fresh window and the device queue SET_VQUEUE would open on it. */
export function queuePair<Token>(size: number, options: { eventIdx?: boolean; bytes?: number; base?: number } = {}) {
  const memory = guestMemory(options.bytes ?? 1 << 16, options.base);
  const eventIdx = options.eventIdx ?? false;
  const driver = DriverQueue.allocate<Token>(memory, size, { eventIdx });
  // The device gets the addresses as SET_VQUEUE carries them: u64 fields, decoded as bigint.
  const { descAddr, driverAddr, deviceAddr } = driver.addresses;
  const addresses = { descAddr: BigInt(descAddr), driverAddr: BigInt(driverAddr), deviceAddr: BigInt(deviceAddr) };
  const device = ok(DeviceQueue.open(memory, { size, addresses, eventIdx }));
  return { memory, driver, device };
}

/** A small seeded generator (mulberry32) so example tests are reproducible: integers in [0, n). */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n | 0;
  };
}

/** The value, failing the test with the fault's message when it is a VirtqueueFault. */
export function ok<T>(result: T | VirtqueueFault): T {
  if (result instanceof VirtqueueFault) throw new Error(`unexpected fault ${result.kind}: ${result.message}`);
  return result;
}

/** The fault, failing the test when the result is anything else. */
export function fault(result: unknown): VirtqueueFault {
  expect(result).toBeInstanceOf(VirtqueueFault);
  return result as VirtqueueFault;
}

export interface RawDescriptor {
  addr: bigint | number;
  len: number;
  flags: number;
  next?: number;
}

/** Writes descriptors and available-ring entries directly, as a buggy or hostile driver could. */
export class RawDriver {
  private availIdx = 0;
  constructor(
    private readonly memory: GuestMemory,
    private readonly size: number,
    private readonly descAddr: number,
    private readonly driverAddr: number,
  ) {}

  descriptor(index: number, d: RawDescriptor): this {
    const at = this.descAddr - this.memory.base + index * VIRTQ_DESC_SIZE;
    this.memory.data.setBigUint64(at + VIRTQ_DESC_ADDR, BigInt(d.addr), true);
    this.memory.data.setUint32(at + VIRTQ_DESC_LEN, d.len, true);
    this.memory.data.setUint16(at + VIRTQ_DESC_FLAGS, d.flags, true);
    this.memory.data.setUint16(at + VIRTQ_DESC_NEXT, d.next ?? 0, true);
    return this;
  }

  /** Put `head` in the next available-ring entry and publish the idx. */
  offer(head: number): this {
    const ring = this.driverAddr - this.memory.base;
    this.memory.data.setUint16(ring + VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ENTRY_SIZE * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.memory.storeReleaseU16(ring + VIRTQ_AVAIL_IDX, this.availIdx);
    return this;
  }

  /** Publish an arbitrary avail idx. */
  setAvailIdx(idx: number): this {
    this.availIdx = idx & 0xffff;
    this.memory.storeReleaseU16(this.driverAddr - this.memory.base + VIRTQ_AVAIL_IDX, this.availIdx);
    return this;
  }
}
