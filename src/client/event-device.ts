// EVENT_DEVICE (docs/PROTOCOL.md §6), the bus event the router sends a driver when a device comes
// or goes: payload {device_number u16, device_bus_state u16}. Named offsets and in-place readers.
// The offsets are the ones the router writes the event with (assembly/payload.ts ED_*, through
// the generated descriptor).
import { B_EVENT_DEVICE, TYPE_BUS } from '../protocol/constants.js';
import { le16 } from '../protocol/header.js';
import { ED_DEVICE, ED_SIZE, ED_STATE } from '../wasm/layout.js';

export { ED_DEVICE, ED_SIZE, ED_STATE };

/** True when the `size` bytes at `at` are a whole EVENT_DEVICE. */
export const isEventDevice = (b: Uint8Array, at: number, size: number): boolean =>
  size >= ED_SIZE && (b[at]! & 3) === TYPE_BUS && b[at + 1] === B_EVENT_DEVICE;

export const eventDeviceNumber = (b: Uint8Array, at: number): number => le16(b, at + ED_DEVICE);
export const eventDeviceState = (b: Uint8Array, at: number): number => le16(b, at + ED_STATE);
