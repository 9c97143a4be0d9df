// GET_DEVICES (spec §6) from the driver side of a device-side bus: the request, reading one
// response window, and the walk over all windows by next_offset. Used to discover the devices
// behind an external device link.
import { TYPE_BUS, TYPE_RESPONSE, B_GET_DEVICES } from '../protocol/constants.js';

/** Largest window a response of at most `maxMessageSize` bytes can describe (14 + count/8, count a multiple of 8). */
export function getDevicesCountFor(maxMessageSize: number): number {
  return Math.min(65528, (maxMessageSize - 14) * 8) & ~7;
}

/** GET_DEVICES request {offset, count} with `token`. */
export function getDevicesRequest(offset: number, count: number, token: number): Uint8Array {
  const f = new Uint8Array(12);
  const dv = new DataView(f.buffer);
  f[0] = TYPE_BUS;
  f[1] = B_GET_DEVICES;
  dv.setUint16(4, token, true);
  dv.setUint16(6, 12, true);
  dv.setUint16(8, offset, true);
  dv.setUint16(10, count, true);
  return f;
}

export function isGetDevicesResponse(f: Uint8Array): boolean {
  return f.length >= 14 && f[0] === (TYPE_BUS | TYPE_RESPONSE) && f[1] === B_GET_DEVICES;
}

/** The devices a response lists and where to continue (0 = done), PR28 field order. */
export function readGetDevicesResponse(f: Uint8Array): { devices: number[]; next: number } {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const offset = dv.getUint16(8, true);
  const count = dv.getUint16(10, true);
  const next = dv.getUint16(12, true);
  const devices: number[] = [];
  const bytes = Math.min(count >> 3, f.length - 14);
  for (let i = 0; i < bytes; i++) {
    const b = f[14 + i]!;
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) devices.push(offset + i * 8 + bit);
  }
  return { devices, next };
}

/**
 * Every device of the bus: GET_DEVICES windows of `count` from 0, following next_offset until
 * it is 0 (or stops moving forward: a broken responder must not loop us forever).
 */
export async function walkGetDevices(request: (offset: number) => Promise<Uint8Array>): Promise<number[]> {
  const found: number[] = [];
  let offset = 0;
  for (;;) {
    const { devices, next } = readGetDevicesResponse(await request(offset));
    found.push(...devices);
    if (next === 0 || next <= offset) return found;
    offset = next;
  }
}
