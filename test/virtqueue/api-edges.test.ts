// Misuse of the queue APIs by our own code (not the peer's): these throw, unlike guest faults.
import { describe, expect, it } from 'vitest';
import { DriverQueue } from '../../src/virtqueue/driver-queue.js';
import { guestMemory, ok, queuePair, TEST_BASE } from './helpers.js';

describe('driver API edges', () => {
  const { memory, driver } = queuePair<number>(4);
  const buffer = memory.alloc(64, 16);

  it('add refuses an empty chain, a non-u32 len, a buffer outside guest memory and readable after writable', () => {
    expect(() => driver.add([], 0)).toThrow(/at least one buffer/);
    expect(() => driver.add([{ gpa: buffer, len: -1, writable: false }], 0)).toThrow(/len must be a u32/);
    expect(() => driver.add([{ gpa: TEST_BASE - 64, len: 8, writable: false }], 0)).toThrow(/outside guest memory/);
    expect(() => driver.add([{ gpa: buffer, len: 8, writable: true }, { gpa: buffer, len: 8, writable: false }], 0)).toThrow(/readable after a device-writable/);
    expect(driver.freeDescriptors).toBe(4);
  });

  it('add returns null, changing nothing, when the chain needs more descriptors than are free', () => {
    const chain = Array.from({ length: 3 }, () => ({ gpa: buffer, len: 8, writable: false }));
    expect(driver.add(chain, 1)).not.toBeNull();
    expect(driver.add(chain, 2)).toBeNull();
    expect(driver.freeDescriptors).toBe(1);
  });

  it('a queue that breaks §2.7 or lies outside guest memory is refused at construction', () => {
    const small = guestMemory(1024);
    expect(() => DriverQueue.allocate(small, 3)).toThrow(/power of two/);
    expect(() => DriverQueue.allocate(small, 64)).toThrow(/exhausted/);
    const addresses = { descAddr: TEST_BASE, driverAddr: TEST_BASE + 512, deviceAddr: TEST_BASE + 1000 };
    expect(() => new DriverQueue(small, { size: 8, addresses })).toThrow(/outside guest memory/);
  });
});

describe('device API edges', () => {
  function popped() {
    const pair = queuePair<number>(4);
    const request = pair.memory.alloc(8, 16);
    const response = pair.memory.alloc(8, 16);
    (pair.memory.view(request, 8) as Uint8Array).set([1, 2, 3, 4, 5, 6, 7, 8]);
    pair.driver.add([
      { gpa: request, len: 3, writable: false }, { gpa: request + 3, len: 5, writable: false },
      { gpa: response, len: 4, writable: true }, { gpa: response + 4, len: 4, writable: true },
    ], 0);
    return { ...pair, response, chain: ok(pair.device.pop())! };
  }

  it('read and write copy across segment boundaries', () => {
    const { memory, device, chain, response } = popped();
    expect([...device.read(chain, 2, 4)]).toEqual([3, 4, 5, 6]);
    device.write(chain, 3, Uint8Array.of(9, 9));
    expect([...(memory.view(response, 8) as Uint8Array)]).toEqual([0, 0, 0, 9, 9, 0, 0, 0]);
  });

  it('read and write past the chain throw', () => {
    const { device, chain } = popped();
    expect(() => device.read(chain, 4, 5)).toThrow(/outside its 8 bytes/);
    expect(() => device.write(chain, 7, Uint8Array.of(1, 2))).toThrow(/outside its 8 bytes/);
  });

  it('push refuses a head that is not popped, a second push, and a length beyond the writable bytes', () => {
    const { device, chain } = popped();
    expect(() => device.push(1, 0)).toThrow(/not the head of a chain popped/);
    expect(() => device.push(chain.head, 9)).toThrow(/not within the chain's 8 writable bytes/);
    device.push(chain.head, 8);
    expect(() => device.push(chain.head, 0)).toThrow(/not the head of a chain popped/);
  });
});
