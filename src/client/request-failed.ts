// VMSG_EVT_REQUEST_FAILED (msg_id 0xC1), the router's implementation-defined bus event that ends a
// request with a transport failure instead of a response (docs/PROTOCOL.md §4, README). The
// layout is the one the router writes (assembly/router/layout.ts RF_*, through the generated
// descriptor); the readers take the bytes and the frame's offset and return numbers, so a
// per-frame loop reads a failure in place without allocating.
import { TYPE_BUS } from '../protocol/constants.js';
import { le16 } from '../protocol/header.js';
import { RF_DEVICE, RF_MSG_ID, RF_REASON, RF_SIZE, RF_TOKEN, VMSG_EVT_REQUEST_FAILED } from '../wasm/layout.js';

export { RF_DEVICE, RF_MSG_ID, RF_REASON, RF_SIZE, RF_TOKEN, VMSG_EVT_REQUEST_FAILED };

/** True when the `size` bytes at `at` are a whole failure event (bus type, msg_id 0xC1, 16 bytes or more). */
export const isRequestFailed = (b: Uint8Array, at: number, size: number): boolean =>
  size >= RF_SIZE && (b[at]! & 3) === TYPE_BUS && b[at + 1] === VMSG_EVT_REQUEST_FAILED;

/** The device the failed request was addressed to (0: a bus request). */
export const failedDevice = (b: Uint8Array, at: number): number => le16(b, at + RF_DEVICE);
/** The failed request's msg_id. */
export const failedMsgId = (b: Uint8Array, at: number): number => b[at + RF_MSG_ID]!;
/** Why it failed (src/protocol/reasons.ts numbering). */
export const failedReason = (b: Uint8Array, at: number): number => b[at + RF_REASON]!;
/** The failed request's token, as the driver sent it. */
export const failedToken = (b: Uint8Array, at: number): number => le16(b, at + RF_TOKEN);

/** The event for the request (`dev`, `msgId`, `token` as the driver sent it) that failed for `reason`. */
export function requestFailedFrame(dev: number, msgId: number, token: number, reason: number): Uint8Array {
  const f = new Uint8Array(RF_SIZE);
  f[0] = TYPE_BUS;
  f[1] = VMSG_EVT_REQUEST_FAILED;
  f[6] = RF_SIZE;
  f[RF_DEVICE] = dev & 0xff;
  f[RF_DEVICE + 1] = dev >> 8;
  f[RF_MSG_ID] = msgId;
  f[RF_REASON] = reason;
  f[RF_TOKEN] = token & 0xff;
  f[RF_TOKEN + 1] = token >> 8;
  return f;
}
