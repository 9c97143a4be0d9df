// The router's transport-failure report, VMSG_EVT_REQUEST_FAILED (README; docs/ARCHITECTURE.md
// "Transport failures"): a bus event naming one request by device, msg_id and token, with a
// reason (src/protocol/reasons.ts). A device-side adapter that cannot bring a request it holds
// to an answer sends it to the router with the router's token; the router ends that request
// with it, in its place in the device's order.
import { TYPE_BUS } from './constants.js';

export const EVT_REQUEST_FAILED = 0xc1;
/** Its size on the wire: header, dev_num u16, msg_id u8, reason u8, token u16, 2 bytes reserved. */
export const REQUEST_FAILED_SIZE = 16;

/** VMSG_EVT_REQUEST_FAILED for the request (`token` as it came) of `dev`. */
export function requestFailedFrame(dev: number, msgId: number, token: number, reason: number): Uint8Array {
  const f = new Uint8Array(REQUEST_FAILED_SIZE);
  const v = new DataView(f.buffer);
  f[0] = TYPE_BUS;
  f[1] = EVT_REQUEST_FAILED;
  v.setUint16(6, REQUEST_FAILED_SIZE, true);
  v.setUint16(8, dev, true);
  f[10] = msgId;
  f[11] = reason;
  v.setUint16(12, token, true);
  return f;
}
