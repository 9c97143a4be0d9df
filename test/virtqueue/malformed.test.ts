// What a device does with a driver that breaks §2.7 (and a driver with a device that does): a fault value, never a crash.
import { describe, expect, it } from 'vitest';
import { DeviceQueue } from '../../src/virtqueue/device-queue.js';
import { GuestAddressError } from '../../src/virtqueue/guest-memory.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_USED_ELEM_LEN, VIRTQ_USED_IDX, VIRTQ_USED_RING } from '../../src/virtqueue/split-layout.js';
import { fault, guestMemory, ok, queuePair, RawDriver, TEST_BASE } from './helpers.js';

const SIZE = 8;
const NEXT = VIRTQ_DESC_F_NEXT;
const WRITE = VIRTQ_DESC_F_WRITE;

/** A device queue over a fresh window and a raw driver to write whatever we like into it. */
function rawPair(size = SIZE, bytes = 1 << 16, base = TEST_BASE) {
  const { memory, driver, device } = queuePair<number>(size, { bytes, base });
  const raw = new RawDriver(memory, size, driver.addresses.descAddr, driver.addresses.driverAddr);
  const buffer = memory.alloc(256, 16);
  return { memory, device, raw, buffer };
}

describe('the device rejects malformed chains without crashing', () => {
  it('a descriptor address outside guest memory', () => {
    const { device, raw } = rawPair();
    raw.descriptor(0, { addr: TEST_BASE - 4096, len: 16, flags: 0 }).offer(0);
    const f = fault(device.pop());
    expect(f.kind).toBe('buffer-outside-memory');
    expect(f.descriptor).toBe(0);
    expect(f.cause).toBeInstanceOf(GuestAddressError);
  });

  it('a descriptor length running past the end of guest memory', () => {
    const { memory, device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 16, flags: NEXT, next: 1 })
      .descriptor(1, { addr: memory.end - 8, len: 9, flags: WRITE })
      .offer(0);
    const f = fault(device.pop());
    expect(f.kind).toBe('buffer-outside-memory');
    expect(f.descriptor).toBe(1);
  });

  it('a descriptor whose addr + len passes 2^64 (len overflow) is rejected, not wrapped', () => {
    // With guest memory at 0, u64 wrap-around would land the end at 0x100: inside.
    const { device, raw } = rawPair(SIZE, 1 << 16, 0);
    raw.descriptor(0, { addr: 0xffff_ffff_ffff_ff00n, len: 0x200, flags: 0 }).offer(0);
    expect(fault(device.pop()).kind).toBe('buffer-outside-memory');
  });

  it('a len of 2^32 − 1 from a valid address is rejected', () => {
    const { device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 0xffff_ffff, flags: WRITE }).offer(0);
    expect(fault(device.pop()).kind).toBe('buffer-outside-memory');
  });

  it('a head index ≥ queue size in the available ring', () => {
    const { device, raw } = rawPair();
    raw.offer(SIZE);
    const f = fault(device.pop());
    expect(f.kind).toBe('descriptor-index');
    expect(f.descriptor).toBe(SIZE);
  });

  it('a next index ≥ queue size', () => {
    const { device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 8, flags: NEXT, next: 0xffff }).offer(0);
    expect(fault(device.pop()).kind).toBe('descriptor-index');
  });

  it('a loop in the NEXT chain (a descriptor linking to itself, and a longer cycle)', () => {
    const self = rawPair();
    self.raw.descriptor(3, { addr: self.buffer, len: 8, flags: NEXT, next: 3 }).offer(3);
    expect(fault(self.device.pop()).kind).toBe('descriptor-loop');

    const cycle = rawPair();
    for (const [d, next] of [[0, 1], [1, 2], [2, 0]] as const) cycle.raw.descriptor(d, { addr: cycle.buffer, len: 8, flags: NEXT, next });
    cycle.raw.offer(0);
    expect(fault(cycle.device.pop()).kind).toBe('descriptor-loop');
  });

  it('(not a fault) a chain through all queue-size descriptors is accepted: the loop limit is exact', () => {
    const { device, raw, buffer } = rawPair();
    for (let d = 0; d < SIZE; d++) raw.descriptor(d, { addr: buffer, len: 8, flags: d < SIZE - 1 ? NEXT : 0, next: d + 1 });
    raw.offer(0);
    expect(ok(device.pop())?.readable).toHaveLength(SIZE);
  });

  it('a device-readable descriptor after a device-writable one', () => {
    const { device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 8, flags: WRITE | NEXT, next: 1 })
      .descriptor(1, { addr: buffer, len: 8, flags: 0 })
      .offer(0);
    const f = fault(device.pop());
    expect(f.kind).toBe('readable-after-writable');
    expect(f.descriptor).toBe(1);
  });

  it('an INDIRECT descriptor (VIRTIO_F_INDIRECT_DESC is not offered)', () => {
    const { device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 32, flags: VIRTQ_DESC_F_INDIRECT }).offer(0);
    expect(fault(device.pop()).kind).toBe('indirect-not-negotiated');
  });

  it('a chain whose total length exceeds 2^32 − 1 bytes', () => {
    // 256 descriptors, each 16 MiB over the same buffer: 2^32 bytes in total.
    const size = 256;
    const { device, raw, memory } = rawPair(size, (1 << 24) + (1 << 16));
    const big = memory.alloc(1 << 24, 16);
    for (let d = 0; d < size; d++) raw.descriptor(d, { addr: big, len: 1 << 24, flags: WRITE | (d < size - 1 ? NEXT : 0), next: d + 1 });
    raw.offer(0);
    expect(fault(device.pop()).kind).toBe('chain-too-long');
  });

  it('an avail idx more than the queue size ahead of the device', () => {
    const { device, raw } = rawPair();
    raw.setAvailIdx(SIZE + 1);
    expect(fault(device.pop()).kind).toBe('index-jump');
  });

  it('a head offered again before the device used it', () => {
    const { device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 8, flags: 0 }).offer(0).offer(0);
    expect(ok(device.pop())?.head).toBe(0);
    expect(fault(device.pop()).kind).toBe('head-in-use');
  });

  it('after a fault, pop keeps reporting it and consumes nothing', () => {
    const { device, raw, buffer } = rawPair();
    raw.descriptor(0, { addr: buffer, len: 8, flags: VIRTQ_DESC_F_INDIRECT }).offer(0);
    expect(fault(device.pop()).kind).toBe('indirect-not-negotiated');
    expect(fault(device.pop()).kind).toBe('indirect-not-negotiated');
    expect(device.enableNotifications()).toBe(false);
  });
});

describe('SET_VQUEUE parameters are checked when the device opens the queue', () => {
  const memory = guestMemory(1 << 16);
  const inside = { descAddr: BigInt(TEST_BASE), driverAddr: BigInt(TEST_BASE + 4096), deviceAddr: BigInt(TEST_BASE + 8192) };

  it('a size that is not a power of two, or above 32768', () => {
    expect(fault(DeviceQueue.open(memory, { size: 6, addresses: inside })).kind).toBe('queue-config');
    expect(fault(DeviceQueue.open(memory, { size: 65536, addresses: inside })).kind).toBe('queue-config');
  });

  it('a misaligned part', () => {
    const f = fault(DeviceQueue.open(memory, { size: 8, addresses: { ...inside, deviceAddr: inside.deviceAddr + 2n } }));
    expect(f.kind).toBe('queue-config');
    expect(f.message).toMatch(/used ring .* 4-byte aligned/);
  });

  it('a ring outside guest memory, including one running past the end', () => {
    expect(fault(DeviceQueue.open(memory, { size: 8, addresses: { ...inside, descAddr: 0n } })).kind).toBe('ring-outside-memory');
    const nearEnd = BigInt(memory.end - 64);
    expect(fault(DeviceQueue.open(memory, { size: 8, addresses: { ...inside, deviceAddr: nearEnd } })).kind).toBe('ring-outside-memory');
  });
});

describe('the driver rejects a used ring the device got wrong', () => {
  function usedPair() {
    const pair = queuePair<number>(SIZE);
    const buffer = pair.memory.alloc(64, 16);
    pair.driver.add([{ gpa: buffer, len: 64, writable: true }], 1);
    const chain = ok(pair.device.pop())!;
    pair.device.push(chain.head, 10);
    const used = pair.driver.addresses.deviceAddr - pair.memory.base;
    return { ...pair, used };
  }

  it('a used id that is not an outstanding head', () => {
    const { memory, driver, used } = usedPair();
    memory.data.setUint32(used + VIRTQ_USED_RING, 5, true);
    expect(fault(driver.getUsed()).kind).toBe('used-id');
  });

  it('a used len beyond the chain’s writable bytes', () => {
    const { memory, driver, used } = usedPair();
    memory.data.setUint32(used + VIRTQ_USED_RING + VIRTQ_USED_ELEM_LEN, 65, true);
    expect(fault(driver.getUsed()).kind).toBe('used-length');
  });

  it('a used idx more than the queue size ahead', () => {
    const { memory, driver, used } = usedPair();
    memory.storeReleaseU16(used + VIRTQ_USED_IDX, SIZE + 1);
    expect(fault(driver.getUsed()).kind).toBe('index-jump');
  });
});
