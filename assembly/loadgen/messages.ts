// What the WASM load engines (./driver.ts, `vmsg bench`; ./sequence.ts, `vmsg bench --profile`; ./closed-loop.ts and ./round-trip.ts, the benchmarks)
// say and answer beyond assembly/header.ts: the transport ids of the init sequence, the device status
// bits (names and values as src/protocol/constants.ts), and the answer to the keep-alive PING.
// Module-private to the load engines: not exported by assembly/index.ts, so header.ts's
// one-twin-per-constant check (test/layout/header.test.ts) does not cover them.
import { makeHeader, TYPE_BUS, TYPE_RESPONSE, B_PING, B_EVENT_DEVICE } from '../header';

// Transport ids (docs/PROTOCOL.md §5) the init sequence sends; T_GET_DEVICE_INFO is header.ts's.
export const T_GET_DEVICE_FEATURES: u32 = 0x03;
export const T_SET_DRIVER_FEATURES: u32 = 0x04;
export const T_GET_DEVICE_STATUS: u32 = 0x07;
export const T_SET_DEVICE_STATUS: u32 = 0x08;
export const T_GET_VQUEUE: u32 = 0x09;
export const T_SET_VQUEUE: u32 = 0x0a;

/** Low 16 bits (type, msg_id) of a good GET_DEVICE_STATUS answer: a transport response. */
export const GET_DEVICE_STATUS_ANSWER: u32 = TYPE_RESPONSE | (T_GET_DEVICE_STATUS << 8);
/** Low 16 bits (type, msg_id) of EVENT_DEVICE (hotplug news, not an answer). */
export const EVENT_DEVICE_TYPE_ID: u32 = TYPE_BUS | (B_EVENT_DEVICE << 8);

// Device status bits (virtio 1.x §2.1).
export const STATUS_ACKNOWLEDGE: u32 = 1;
export const STATUS_DRIVER: u32 = 2;
export const STATUS_DRIVER_OK: u32 = 4;
export const STATUS_FEATURES_OK: u32 = 8;

/**
 * The answer to the keep-alive PING `f` (header word `w`, `size` bytes), written into the slot `o`
 * reserved on the ring back: its token and 32-bit data echoed (0 when it carries none).
 */
@inline export function writePingAnswer(o: usize, f: usize, w: u64, size: u32): void {
  store<u64>(o, makeHeader(TYPE_BUS | TYPE_RESPONSE, B_PING, 0, <u32>(w >> 32) & 0xffff, 12));
  store<u32>(o, size >= 12 ? load<u32>(f, 8) : 0, 8);
}
