// pcapng export of a capture (`vmsg export-pcapng`): one interface per router link, link type
// USER0 (147: frames are raw virtio-msg messages, header first), one Enhanced Packet Block per
// frame with a µs timestamp and the direction in epb_flags (inbound = towards the router).
// tools/wireshark/virtio-msg.lua dissects them. Layout: pcapng draft (IETF opsawg), little-endian.

export const LINKTYPE_USER0 = 147;

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_EPB = 0x00000006;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;
/** epb_flags bits 0–1: direction. */
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;

const pad4 = (n: number): number => (n + 3) & ~3;

function option(code: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + pad4(value.length));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, code, true);
  dv.setUint16(2, value.length, true);
  out.set(value, 4);
  return out;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A block: type, total length, body, options (+ end of options when there are any), total length again. */
function block(type: number, body: Uint8Array, options: Uint8Array[]): Uint8Array {
  const opts = options.length === 0 ? [] : [...options, new Uint8Array(4) /* opt_endofopt */];
  const optBytes = opts.reduce((n, o) => n + o.length, 0);
  const total = 12 + pad4(body.length) + optBytes;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  out.set(body, 8);
  let at = 8 + pad4(body.length);
  for (const o of opts) { out.set(o, at); at += o.length; }
  dv.setUint32(total - 4, total, true);
  return out;
}

export function sectionHeader(application: string): Uint8Array {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, BYTE_ORDER_MAGIC, true);
  dv.setUint16(4, 1, true); // major
  dv.setUint16(6, 0, true); // minor
  dv.setBigInt64(8, -1n, true); // section length unknown
  return block(BT_SHB, body, [option(SHB_USERAPPL, text(application))]);
}

export function interfaceDescription(name: string, description: string): Uint8Array {
  const body = new Uint8Array(8);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, LINKTYPE_USER0, true);
  dv.setUint32(4, 0, true); // snaplen: no limit
  return block(BT_IDB, body, [option(IF_NAME, text(name)), option(IF_DESCRIPTION, text(description)), option(IF_TSRESOL, new Uint8Array([6]))]);
}

/** One frame: `iface` from interfaceDescription order, time in ms since 1970 (µs kept), inbound = towards the router. */
export function enhancedPacket(iface: number, timeMs: number, frame: Uint8Array, inbound: boolean): Uint8Array {
  const body = new Uint8Array(20 + frame.length);
  const dv = new DataView(body.buffer);
  const us = BigInt(Math.round(timeMs * 1000));
  dv.setUint32(0, iface, true);
  dv.setUint32(4, Number(us >> 32n), true);
  dv.setUint32(8, Number(us & 0xffffffffn), true);
  dv.setUint32(12, frame.length, true);
  dv.setUint32(16, frame.length, true);
  body.set(frame, 20);
  const flags = new Uint8Array(4);
  new DataView(flags.buffer).setUint32(0, inbound ? EPB_INBOUND : EPB_OUTBOUND, true);
  return block(BT_EPB, body, [option(EPB_FLAGS, flags)]);
}
