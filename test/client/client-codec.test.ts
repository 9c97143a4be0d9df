// The client layer's codec entries and bookkeeping: the failure event read in place at any offset
// (as the load engine and request timer read a ring slot), EVENT_DEVICE / EVENT_AVAIL payloads
// against the full codec, the GET_DEVICES window the spec's size formula gives and a walk that
// refuses a responder that would loop, and the request tracker's tokens and per-device order.
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/codec.js';
import { Reason } from '../../src/protocol/reasons.js';
import {
  failedDevice, failedMsgId, failedReason, failedToken, isRequestFailed, requestFailedFrame,
} from '../../src/client/request-failed.js';
import { eventDeviceNumber, eventDeviceState, isEventDevice } from '../../src/client/event-device.js';
import { availNextOffset, availVqIndex, availWrap, isEventAvail } from '../../src/client/event-avail.js';
import { getDevicesWindow, walkGetDevices } from '../../src/client/discovery.js';
import { RequestTracker, type TrackedRequest } from '../../src/client/request-tracker.js';
import { frame } from '../../src/client/exchange.js';

describe('router event codec', () => {
  it('reads a failure event in place, at an offset inside a larger buffer', () => {
    const f = requestFailedFrame(0x1234, 0x05, 0xbeef, Reason.TIMEOUT);
    expect([...f.subarray(0, 8)]).toEqual([0x02, 0xc1, 0, 0, 0, 0, 16, 0]);
    const buf = new Uint8Array(64);
    buf.set(f, 24);
    expect(isRequestFailed(buf, 24, 16)).toBe(true);
    expect([failedDevice(buf, 24), failedMsgId(buf, 24), failedReason(buf, 24), failedToken(buf, 24)]).toEqual([0x1234, 0x05, Reason.TIMEOUT, 0xbeef]);
    expect(isRequestFailed(buf, 24, 15)).toBe(false); // truncated
    buf[24] = 0x03; // response-typed: not the event
    expect(isRequestFailed(buf, 24, 16)).toBe(false);
  });

  it('EVENT_DEVICE and EVENT_AVAIL readers agree with the full codec', () => {
    const ed = encode({ message: 'EVENT_DEVICE', response: false, dev_num: 0, token: 0, device_number: 513, device_bus_state: 2 });
    expect(isEventDevice(ed, 0, ed.length)).toBe(true);
    expect([eventDeviceNumber(ed, 0), eventDeviceState(ed, 0)]).toEqual([513, 2]);
    const ea = encode({ message: 'EVENT_AVAIL', response: false, dev_num: 7, token: 0, vq_index: 3, next_offset: 0x80001234 });
    expect(isEventAvail(ea, 0, ea.length)).toBe(true);
    expect([availVqIndex(ea, 0), availNextOffset(ea, 0), availWrap(ea, 0)]).toEqual([3, 0x1234, true]);
    expect(isEventAvail(ed, 0, ed.length)).toBe(false);
  });
});

describe('GET_DEVICES discovery', () => {
  it('the window is the largest whose response (14 + count/8 bytes) fits the bus', () => {
    expect(getDevicesWindow(264)).toBe(2000);
    expect(getDevicesWindow(52)).toBe(304);
    expect(getDevicesWindow(65535)).toBe(65528);
    for (const max of [52, 100, 264, 1000, 9000]) expect(14 + getDevicesWindow(max) / 8).toBeLessThanOrEqual(max);
  });

  const answer = (offset: number, count: number, next: number, present: number[]): Uint8Array => {
    const p = new Uint8Array(6 + count / 8);
    const dv = new DataView(p.buffer);
    dv.setUint16(0, offset, true);
    dv.setUint16(2, count, true);
    dv.setUint16(4, next, true);
    for (const d of present) p[6 + ((d - offset) >> 3)]! |= 1 << ((d - offset) & 7);
    return frame(0x03, 0x02, 0, 1, p);
  };

  it('walks windows by next_offset and asks no window past 65535', async () => {
    const asked: [number, number][] = [];
    const found = await walkGetDevices(264, async (offset, count) => {
      asked.push([offset, count]);
      return offset === 0 ? answer(0, count, 64000, [1, 7, 1999]) : answer(offset, count, 0, [65535]);
    });
    expect(found).toEqual([1, 7, 1999, 65535]);
    expect(asked).toEqual([[0, 2000], [64000, 1536]]);
  });

  it('a responder whose next_offset goes backwards ends the walk with an error', async () => {
    await expect(walkGetDevices(264, async (offset, count) => answer(offset, count, 8, []))).rejects.toThrow(/next_offset 8/);
  });
});

describe('request tracker', () => {
  interface R extends TrackedRequest { name: string }
  const req = (t: RequestTracker<R>, name: string): R => {
    const r: R = { token: t.token(), seq: 0, settled: false, name };
    t.add(r);
    return r;
  };

  it('tokens are non-zero and not in flight; settled tokens come back; order is per send', () => {
    const t = new RequestTracker<R>();
    const a = req(t, 'a'), b = req(t, 'b'), c = req(t, 'c');
    expect([a.token, b.token, c.token]).toEqual([1, 2, 3]);
    expect(t.get(2)).toBe(b);
    expect(t.answeredInOrder(b)).toBe(true);
    t.settle(b);
    expect(t.answeredInOrder(a)).toBe(false); // older than b, answered after it
    t.settle(a);
    expect(t.first()).toBe(c);
    expect([...t.open()]).toEqual([c]);
    expect(t.size).toBe(1);
  });

  it('wraps past 65535 and skips tokens still in flight; refuses a 65536th', () => {
    const t = new RequestTracker<R>();
    const all: R[] = [];
    for (let i = 0; i < 65535; i++) all.push(req(t, String(i)));
    expect(() => t.token()).toThrow(/no free token/);
    t.settle(all[41]!);
    expect(t.token()).toBe(42);
  });

  it('one request left open while thousands after it settle: still first, found, and the rest in order', () => {
    const t = new RequestTracker<R>();
    const stuck = req(t, 'stuck');
    let last: R | undefined;
    for (let i = 0; i < 20_000; i++) {
      const r = req(t, String(i));
      if (i % 3 === 0) last = r;
      else t.settle(r);
    }
    expect(t.first()).toBe(stuck);
    expect(t.size).toBe(1 + Math.ceil(20_000 / 3));
    expect(t.find((r) => r.name === last!.name)).toBe(last);
    expect(t.find((r) => r.name === '1')).toBeUndefined(); // settled
    const open = [...t.open()];
    expect(open[0]).toBe(stuck);
    expect(open.map((r) => r.seq)).toEqual([...open.map((r) => r.seq)].sort((a, b) => a - b));
    t.settle(stuck);
    expect(t.first()?.name).toBe('0');
  });

  it('unkeyed (tokens repeat, as on a bus with one fixed token): found in send order, never by token', () => {
    const t = new RequestTracker<R>(false);
    const a: R = { token: 7, seq: 0, settled: false, name: 'a' }, b: R = { token: 7, seq: 0, settled: false, name: 'b' };
    t.add(a);
    t.add(b);
    expect(t.get(7)).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.find((r) => r.token === 7)).toBe(a);
    t.settle(a);
    expect(t.find((r) => r.token === 7)).toBe(b);
    expect(t.size).toBe(1);
  });
});
