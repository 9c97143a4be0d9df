// Device discovery with GET_DEVICES (docs/PROTOCOL.md §6), the one walk every driver-side user
// takes (shared-memory links, the stream gateway, the load tool, conformance, probes): the
// request, reading and checking one response window, and the walk by next_offset. How a request
// travels is the caller's: it passes a function that sends one and resolves with the answer.
import { B_GET_DEVICES, GET_DEVICES_ALIGN, HDR_SIZE, TYPE_BUS, TYPE_RESPONSE } from '../protocol/constants.js';
import { le16 } from '../protocol/header.js';
import { frame, u16, type Exchange, type Received } from './exchange.js';

// Payload offsets: request {offset u16, count u16}; response {offset, count, next_offset u16,
// bitmap[count/8]} (PR28 field order).
export const GD_OFFSET = HDR_SIZE;
export const GD_COUNT = HDR_SIZE + 2;
export const GD_NEXT = HDR_SIZE + 4;
export const GD_BITMAP = HDR_SIZE + 6;
export const GD_REQUEST_SIZE = HDR_SIZE + 4;
/** Largest window a u16 count that is a multiple of 8 can describe. */
const GD_COUNT_MAX = 65528;

/**
 * Largest window (device numbers) whose response fits `maxMessageSize`: the response is
 * 14 + count/8 bytes and count a multiple of 8 (264-byte bus: 2000).
 */
export function getDevicesWindow(maxMessageSize: number): number {
  return Math.max(0, Math.min(GD_COUNT_MAX, (maxMessageSize - GD_BITMAP) * 8)) & ~(GET_DEVICES_ALIGN - 1);
}

/** GET_DEVICES request {offset, count} with `token`. */
export function getDevicesRequest(offset: number, count: number, token: number): Uint8Array {
  return frame(TYPE_BUS, B_GET_DEVICES, 0, token, [offset & 0xff, offset >> 8, count & 0xff, count >> 8]);
}

/** True for a GET_DEVICES response long enough to carry its fixed fields. */
export function isGetDevicesResponse(f: Uint8Array): boolean {
  return f.length >= GD_BITMAP && f[0] === (TYPE_BUS | TYPE_RESPONSE) && f[1] === B_GET_DEVICES;
}

export interface DevicesWindow {
  /** The window's first device number (echoed from the request). */
  offset: number;
  /** Device numbers the window covers (may be fewer than asked). */
  count: number;
  /** Where the next window starts; 0: the walk is over. */
  next: number;
  /** The device numbers present in the window, ascending. */
  devices: number[];
}

/** One response window, checked against the request at `askedOffset`: throws when it is malformed. */
export function readGetDevicesResponse(f: Uint8Array, askedOffset: number): DevicesWindow {
  if (!isGetDevicesResponse(f)) throw new Error(`GET_DEVICES response is ${f.length} bytes or not a GET_DEVICES response`);
  const offset = le16(f, GD_OFFSET), count = le16(f, GD_COUNT), next = le16(f, GD_NEXT);
  if (offset !== askedOffset || count % GET_DEVICES_ALIGN !== 0 || f.length < GD_BITMAP + count / 8) {
    throw new Error(`GET_DEVICES response window is malformed (offset ${offset}, count ${count}, ${f.length} bytes) for a request at offset ${askedOffset}`);
  }
  if (next !== 0 && (next < offset + count || next % GET_DEVICES_ALIGN !== 0)) {
    throw new Error(`GET_DEVICES next_offset ${next} is not an aligned offset past ${offset + count}`);
  }
  const devices: number[] = [];
  for (let i = 0; i < count; i++) if ((f[GD_BITMAP + (i >> 3)]! >> (i & 7)) & 1) devices.push(offset + i);
  return { offset, count, next, devices };
}

/**
 * Every device of a bus whose messages are at most `maxMessageSize` bytes: windows from 0 by
 * next_offset until it is 0. `request(offset, count)` sends one GET_DEVICES and resolves with its
 * answer. Throws on a malformed window (a broken responder must not loop us forever).
 */
export async function walkGetDevices(maxMessageSize: number, request: (offset: number, count: number) => Promise<Uint8Array>): Promise<number[]> {
  const window = getDevicesWindow(maxMessageSize);
  if (window === 0) throw new Error(`a ${maxMessageSize}-byte bus cannot carry a GET_DEVICES response`);
  const found: number[] = [];
  let offset = 0;
  // next_offset strictly moves forward in aligned steps: at most 65536 / 8 windows.
  for (let windows = 0; windows < 65536 / GET_DEVICES_ALIGN; windows++) {
    const w = readGetDevicesResponse(await request(offset, Math.min(window, 65536 - offset)), offset);
    found.push(...w.devices);
    if (w.next === 0) return found;
    offset = w.next;
  }
  throw new Error('GET_DEVICES walk did not end');
}

/** Discovery over an Exchange: each window is answered within `timeoutMs` or the walk throws. */
export function discoverDevices(ex: Exchange, timeoutMs = 2000): Promise<number[]> {
  return walkGetDevices(ex.channel.maxMessageSize, async (offset, count) => {
    const token = ex.token();
    await ex.send([getDevicesRequest(offset, count, token)]);
    const isAnswer = (r: Received): boolean => r.frame[0] === (TYPE_BUS | TYPE_RESPONSE) && r.frame[1] === B_GET_DEVICES && u16(r.frame, 4) === token;
    const got = await ex.receive((g) => g.some(isAnswer), timeoutMs);
    const answer = got.find(isAnswer);
    if (answer === undefined) throw new Error(`GET_DEVICES (offset ${offset}, count ${count}) got no response within ${timeoutMs} ms`);
    return answer.frame;
  });
}
