// GET_DEVICES (docs/PROTOCOL.md §6) from the driver side of a device-side bus: the request, reading one
// response window, and the walk over all windows by next_offset. Used to discover the devices
// behind an external device link.
import { TYPE_BUS, TYPE_RESPONSE, B_GET_DEVICES, HDR_SIZE } from '../protocol/constants.js';
import { encodeHeader } from '../protocol/codec.js';

// Payload offsets (docs/PROTOCOL.md §6): request {offset u16, count u16}; response {offset, count,
// next_offset u16, bitmap[count/8]} (PR28 field order).
const GD_OFFSET = HDR_SIZE;
const GD_COUNT = HDR_SIZE + 2;
const GD_NEXT = HDR_SIZE + 4;
const GD_BITMAP = HDR_SIZE + 6;
const GD_REQUEST_SIZE = HDR_SIZE + 4;

/** Largest window a response of at most `maxMessageSize` bytes can describe (14 + count/8, count a multiple of 8). */
export function getDevicesCountFor(maxMessageSize: number): number {
  return Math.min(65528, (maxMessageSize - GD_BITMAP) * 8) & ~7;
}

/** GET_DEVICES request {offset, count} with `token`. */
export function getDevicesRequest(offset: number, count: number, token: number): Uint8Array {
  const f = encodeHeader({ type: TYPE_BUS, msg_id: B_GET_DEVICES, dev_num: 0, token, msg_size: GD_REQUEST_SIZE }, new Uint8Array(GD_REQUEST_SIZE));
  const dv = new DataView(f.buffer);
  dv.setUint16(GD_OFFSET, offset, true);
  dv.setUint16(GD_COUNT, count, true);
  return f;
}

export function isGetDevicesResponse(f: Uint8Array): boolean {
  return f.length >= GD_BITMAP && f[0] === (TYPE_BUS | TYPE_RESPONSE) && f[1] === B_GET_DEVICES;
}

/** The devices a response lists and where to continue (0 = done), PR28 field order. */
export function readGetDevicesResponse(f: Uint8Array): { devices: number[]; next: number } {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const offset = dv.getUint16(GD_OFFSET, true);
  const count = dv.getUint16(GD_COUNT, true);
  const next = dv.getUint16(GD_NEXT, true);
  const devices: number[] = [];
  const bytes = Math.min(count >> 3, f.length - GD_BITMAP);
  for (let i = 0; i < bytes; i++) {
    const b = f[GD_BITMAP + i]!;
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
