// Notification suppression (§2.7.7 used buffers, §2.7.10 available buffers), with and without VIRTIO_F_EVENT_IDX, by counting.
import { describe, expect, it } from 'vitest';
import { ok, queuePair } from './helpers.js';

type Pair = ReturnType<typeof queuePair<number>>;

/** Add `count` one-buffer chains, asking needsNotify() after each; the number of notifications needed. */
function addEach({ memory, driver }: Pair, count: number): number {
  const buffer = memory.alloc(16, 16);
  let notifications = 0;
  for (let i = 0; i < count; i++) {
    expect(driver.add([{ gpa: buffer, len: 16, writable: true }], i)).not.toBeNull();
    if (driver.needsNotify()) notifications++;
  }
  return notifications;
}

/** Pop every available chain and push each, asking needsInterrupt() after each push; the interrupts needed. */
function useEach({ device }: Pair): number {
  let interrupts = 0;
  for (let chain = ok(device.pop()); chain !== null; chain = ok(device.pop())) {
    device.push(chain.head, 0);
    if (device.needsInterrupt()) interrupts++;
  }
  return interrupts;
}

function drain({ driver }: Pair): number {
  let count = 0;
  while (ok(driver.getUsed()) !== null) count++;
  return count;
}

describe('notification suppression without EVENT_IDX (flags)', () => {
  it('every add needs a notification while the device has not set VIRTQ_USED_F_NO_NOTIFY', () => {
    expect(addEach(queuePair(16), 10)).toBe(10);
  });

  it('a batch of adds needs one notification', () => {
    const pair = queuePair<number>(16);
    const buffer = pair.memory.alloc(16, 16);
    for (let i = 0; i < 5; i++) pair.driver.add([{ gpa: buffer, len: 16, writable: false }], i);
    expect(pair.driver.needsNotify()).toBe(true);
    expect(pair.driver.needsNotify()).toBe(false);
  });

  it('VIRTQ_USED_F_NO_NOTIFY suppresses notifications until the device re-enables them', () => {
    const pair = queuePair<number>(16);
    pair.device.disableNotifications();
    expect(addEach(pair, 10)).toBe(0);
    expect(pair.device.enableNotifications()).toBe(false); // ten chains arrived meanwhile
    useEach(pair);
    expect(pair.device.enableNotifications()).toBe(true);
    expect(addEach(pair, 1)).toBe(1);
  });

  it('VIRTQ_AVAIL_F_NO_INTERRUPT suppresses interrupts until the driver re-enables them', () => {
    const pair = queuePair<number>(16);
    addEach(pair, 10);
    pair.driver.disableInterrupts();
    expect(useEach(pair)).toBe(0);
    expect(pair.driver.enableInterrupts()).toBe(false); // ten used chains wait
    expect(drain(pair)).toBe(10);
    expect(pair.driver.enableInterrupts()).toBe(true);
    addEach(pair, 1);
    expect(useEach(pair)).toBe(1);
  });

  it('every push needs an interrupt while the driver has not set VIRTQ_AVAIL_F_NO_INTERRUPT', () => {
    const pair = queuePair<number>(16);
    addEach(pair, 10);
    expect(useEach(pair)).toBe(10);
  });
});

describe('notification suppression with EVENT_IDX (avail_event / used_event)', () => {
  it('the driver notifies once per batch the device has not seen yet (avail_event)', () => {
    const pair = queuePair<number>(16, { eventIdx: true });
    expect(addEach(pair, 10)).toBe(1); // avail_event 0: only the add of entry 0 crosses it
    useEach(pair); // the device took 10: avail_event = 10
    expect(addEach(pair, 3)).toBe(1);
  });

  it('the device interrupts once until the driver catches up (used_event)', () => {
    const pair = queuePair<number>(16, { eventIdx: true });
    addEach(pair, 10);
    expect(useEach(pair)).toBe(1); // used_event 0: only the use of entry 0 crosses it
    expect(drain(pair)).toBe(10); // used_event = 10
    addEach(pair, 4);
    expect(useEach(pair)).toBe(1);
  });

  it('a device with notifications disabled gets none, and hears about new work once re-enabled', () => {
    const pair = queuePair<number>(16, { eventIdx: true });
    pair.device.disableNotifications();
    expect(addEach(pair, 10)).toBe(0);
    expect(pair.device.enableNotifications()).toBe(false);
    useEach(pair);
    expect(pair.device.enableNotifications()).toBe(true);
    expect(addEach(pair, 2)).toBe(1);
  });

  it('a driver with interrupts disabled gets none, and hears about used chains once re-enabled', () => {
    const pair = queuePair<number>(16, { eventIdx: true });
    addEach(pair, 10);
    pair.driver.disableInterrupts();
    expect(useEach(pair)).toBe(0);
    expect(pair.driver.enableInterrupts()).toBe(false);
    expect(drain(pair)).toBe(10);
    expect(pair.driver.enableInterrupts()).toBe(true);
    addEach(pair, 2);
    expect(useEach(pair)).toBe(1);
  });

  it('the flags are ignored: VIRTQ_USED_F_NO_NOTIFY from the device does not stop a crossing of avail_event', () => {
    const pair = queuePair<number>(16, { eventIdx: true });
    const used = pair.driver.addresses.deviceAddr - pair.memory.base;
    pair.memory.storeReleaseU16(used, 1); // used.flags = NO_NOTIFY, set behind the queue's back
    expect(addEach(pair, 1)).toBe(1);
  });
});

describe('notification data', () => {
  it('the driver announces its next available index in next_offset', () => {
    const pair = queuePair<number>(16);
    expect(pair.driver.nextOffset).toBe(0);
    addEach(pair, 3);
    expect(pair.driver.nextOffset).toBe(3);
  });
});
