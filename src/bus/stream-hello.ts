// Stream bus handshake (docs/ARCHITECTURE.md "Stream bus and gateway"): STREAM_HELLO, an
// implementation-defined bus request/response (docs/PROTOCOL.md §4: bus msg_id 0x80–0xBF belong to the bus
// binding and mean something on this hop only). The side that connected sends the request first
// and nothing else until the response; the listening side answers with its own values and a
// status, and closes the connection when the status is not ACCEPTED. Every offset of the layout
// is defined here and only here.
import { HDR_SIZE, TYPE_BUS, TYPE_RESPONSE, MSG_ID_IMPL_BIT, BUS_MAX_MIN_ADVERTISED, MSG_SIZE_LIMIT } from '../protocol/constants.js';

/** Bus msg_id of STREAM_HELLO: the first implementation-defined bus request id. */
export const STREAM_HELLO = MSG_ID_IMPL_BIT | 0x00;

// Payload offsets are frame offsets (header included).
/** u32 "VMSS" (bytes 56 4d 53 53): tells a stream-bus peer from anything else that connects. */
export const HELLO_MAGIC_AT = 8;
/** u16 version of this framing + handshake. */
export const HELLO_STREAM_VERSION_AT = 12;
/** u16 virtio-msg transport revision the side speaks (docs/PROTOCOL.md §7 rule 1). */
export const HELLO_TRANSPORT_REVISION_AT = 14;
/** u16 largest msg_size the side sends and accepts; the link uses the smaller of the two. */
export const HELLO_MAX_MSG_SIZE_AT = 16;
/** u8 which end of the bus the side is: ROLE_DRIVER or ROLE_DEVICE. */
export const HELLO_ROLE_AT = 18;
/** u8 HELLO_F_* bits. */
export const HELLO_FLAGS_AT = 19;
/** u8 response only: HelloStatus; 0 in the request. */
export const HELLO_STATUS_AT = 20;
/** u8 bytes of the name, 0..HELLO_NAME_MAX. */
export const HELLO_NAME_LEN_AT = 21;
/** u16 zero. */
export const HELLO_RESERVED_AT = 22;
/** UTF-8 link name (for logs and counters), name_len bytes. */
export const HELLO_NAME_AT = 24;
export const HELLO_NAME_MAX = 32;
/** msg_size of a hello without a name. */
export const HELLO_FIXED_SIZE = HELLO_NAME_AT;
/** Largest msg_size of a hello. */
export const HELLO_MAX_SIZE = HELLO_NAME_AT + HELLO_NAME_MAX;

export const HELLO_MAGIC = 0x53534d56;
/** The one framing/handshake version this code speaks. */
export const STREAM_VERSION = 1;
/** virtio-msg transport revision 1 (the only one; docs/PROTOCOL.md §1). */
export const TRANSPORT_REVISION = 1;

/** The side that sends transport requests (drivers live behind it). */
export const ROLE_DRIVER = 1;
/** The side that serves devices (answers GET_DEVICES, sends EVENT_DEVICE). */
export const ROLE_DEVICE = 2;

/** Driver side only: send this side the bus event VMSG_EVT_REQUEST_FAILED (0xC1) for requests that end without a response. */
export const HELLO_F_FAILURE_EVENTS = 0x01;

export const HelloStatus = {
  ACCEPTED: 0,
  BAD_MAGIC: 1,
  STREAM_VERSION_UNSUPPORTED: 2,
  TRANSPORT_REVISION_UNSUPPORTED: 3,
  MAX_MSG_SIZE_TOO_SMALL: 4,
  ROLE_CONFLICT: 5,
  MALFORMED: 6,
} as const;
export type HelloStatusCode = (typeof HelloStatus)[keyof typeof HelloStatus];

export interface Hello {
  streamVersion: number;
  transportRevision: number;
  maxMessageSize: number;
  role: typeof ROLE_DRIVER | typeof ROLE_DEVICE;
  flags: number;
  status: number;
  name: string;
}

export function statusName(s: number): string {
  return Object.entries(HelloStatus).find(([, v]) => v === s)?.[0] ?? `STATUS_${s}`;
}

export function roleName(r: number): string {
  return r === ROLE_DRIVER ? 'driver' : r === ROLE_DEVICE ? 'device' : `role ${r}`;
}

/** The hello frame for `h` (request, or response when `response`). */
export function encodeHello(h: Hello, response: boolean, token: number): Uint8Array {
  const name = Buffer.from(h.name, 'utf8').subarray(0, HELLO_NAME_MAX);
  const size = HELLO_NAME_AT + name.length;
  const f = new Uint8Array(size);
  const dv = new DataView(f.buffer);
  f[0] = TYPE_BUS | (response ? TYPE_RESPONSE : 0);
  f[1] = STREAM_HELLO;
  dv.setUint16(4, token, true);
  dv.setUint16(6, size, true);
  dv.setUint32(HELLO_MAGIC_AT, HELLO_MAGIC, true);
  dv.setUint16(HELLO_STREAM_VERSION_AT, h.streamVersion, true);
  dv.setUint16(HELLO_TRANSPORT_REVISION_AT, h.transportRevision, true);
  dv.setUint16(HELLO_MAX_MSG_SIZE_AT, h.maxMessageSize, true);
  f[HELLO_ROLE_AT] = h.role;
  f[HELLO_FLAGS_AT] = h.flags;
  f[HELLO_STATUS_AT] = response ? h.status : 0;
  f[HELLO_NAME_LEN_AT] = name.length;
  f.set(name, HELLO_NAME_AT);
  return f;
}

/**
 * Parse a frame expected to be a hello (`response` says which kind). Returns the values, or
 * the status a responder answers with when the frame is not an acceptable hello of this version.
 */
export function decodeHello(f: Uint8Array, response: boolean): { ok: true; hello: Hello; token: number } | { ok: false; status: HelloStatusCode; detail: string } {
  const dv = new DataView(f.buffer, f.byteOffset, f.length);
  const wantType = TYPE_BUS | (response ? TYPE_RESPONSE : 0);
  if (f.length < HDR_SIZE || (f[0]! & 0x03) !== wantType || f[1] !== STREAM_HELLO || dv.getUint16(2, true) !== 0) {
    return { ok: false, status: HelloStatus.MALFORMED, detail: `the first frame must be a STREAM_HELLO bus ${response ? 'response' : 'request'} (type 0x0${wantType}, msg_id 0x80), got type 0x${(f[0] ?? 0).toString(16)} msg_id 0x${(f[1] ?? 0).toString(16)}` };
  }
  if (f.length < HELLO_FIXED_SIZE) return { ok: false, status: HelloStatus.MALFORMED, detail: `STREAM_HELLO needs at least ${HELLO_FIXED_SIZE} bytes, msg_size is ${f.length}` };
  if (dv.getUint32(HELLO_MAGIC_AT, true) !== HELLO_MAGIC) {
    return { ok: false, status: HelloStatus.BAD_MAGIC, detail: `STREAM_HELLO magic is 0x${dv.getUint32(HELLO_MAGIC_AT, true).toString(16)}, expected 0x${HELLO_MAGIC.toString(16)} ("VMSS")` };
  }
  const nameLen = f[HELLO_NAME_LEN_AT]!;
  if (nameLen > HELLO_NAME_MAX || f.length !== HELLO_NAME_AT + nameLen) {
    return { ok: false, status: HelloStatus.MALFORMED, detail: `STREAM_HELLO name_len ${nameLen} does not match msg_size ${f.length} (name at most ${HELLO_NAME_MAX} bytes)` };
  }
  const role = f[HELLO_ROLE_AT]!;
  if (role !== ROLE_DRIVER && role !== ROLE_DEVICE) return { ok: false, status: HelloStatus.MALFORMED, detail: `STREAM_HELLO role ${role} is neither 1 (driver) nor 2 (device)` };
  return {
    ok: true,
    token: dv.getUint16(4, true),
    hello: {
      streamVersion: dv.getUint16(HELLO_STREAM_VERSION_AT, true),
      transportRevision: dv.getUint16(HELLO_TRANSPORT_REVISION_AT, true),
      maxMessageSize: dv.getUint16(HELLO_MAX_MSG_SIZE_AT, true),
      role,
      flags: f[HELLO_FLAGS_AT]!,
      status: f[HELLO_STATUS_AT]!,
      name: Buffer.from(f.subarray(HELLO_NAME_AT, HELLO_NAME_AT + nameLen)).toString('utf8'),
    },
  };
}

/**
 * Can a side that says `ours` talk to one that says `theirs`? ACCEPTED, or the status naming
 * the first rule broken, with a sentence for the error message.
 */
export function checkHello(ours: Hello, theirs: Hello): { status: HelloStatusCode; detail: string } {
  if (theirs.streamVersion !== STREAM_VERSION) {
    return { status: HelloStatus.STREAM_VERSION_UNSUPPORTED, detail: `peer speaks stream bus version ${theirs.streamVersion}, this side ${STREAM_VERSION}` };
  }
  if (theirs.transportRevision !== ours.transportRevision) {
    return { status: HelloStatus.TRANSPORT_REVISION_UNSUPPORTED, detail: `peer speaks virtio-msg transport revision ${theirs.transportRevision}, this side ${ours.transportRevision}` };
  }
  if (theirs.maxMessageSize < BUS_MAX_MIN_ADVERTISED) {
    return { status: HelloStatus.MAX_MSG_SIZE_TOO_SMALL, detail: `peer's maximum message size ${theirs.maxMessageSize} is below the ${BUS_MAX_MIN_ADVERTISED} bytes every bus must carry (docs/PROTOCOL.md §7 rule 3)` };
  }
  if (theirs.role === ours.role) {
    return { status: HelloStatus.ROLE_CONFLICT, detail: `both sides are the ${roleName(ours.role)} side; one end of a link must be the driver side and the other the device side` };
  }
  return { status: HelloStatus.ACCEPTED, detail: '' };
}

/** The link's maximum message size: the smaller of the two sides'. */
export function negotiatedMax(ours: Hello, theirs: Hello): number {
  return Math.min(ours.maxMessageSize, theirs.maxMessageSize, MSG_SIZE_LIMIT);
}
