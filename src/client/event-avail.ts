// EVENT_AVAIL (docs/PROTOCOL.md §5), a driver's "buffers are available" notification: payload
// {vq_index u32, next_offset u32} (bit 31 of next_offset the wrap counter). Named offsets and
// in-place readers. The offsets are the ones the router's hot path merges queued kicks with
// (assembly/payload.ts EA_*, through the generated descriptor).
import { NEXT_OFFSET_MASK, NEXT_OFFSET_WRAP_BIT, T_EVENT_AVAIL } from '../protocol/constants.js';
import { le32 } from '../protocol/header.js';
import { EA_NEXT_OFFSET, EA_SIZE, EA_VQ_INDEX } from '../wasm/layout.js';

export { EA_NEXT_OFFSET, EA_SIZE, EA_VQ_INDEX };

/** True when the `size` bytes at `at` are a whole EVENT_AVAIL (a transport event: type bits 0). */
export const isEventAvail = (b: Uint8Array, at: number, size: number): boolean =>
  size >= EA_SIZE && (b[at]! & 3) === 0 && b[at + 1] === T_EVENT_AVAIL;

export const availVqIndex = (b: Uint8Array, at: number): number => le32(b, at + EA_VQ_INDEX);
/** next_offset without the wrap bit: the next offset (packed ring) or available index (split). */
export const availNextOffset = (b: Uint8Array, at: number): number => le32(b, at + EA_NEXT_OFFSET) & NEXT_OFFSET_MASK;
export const availWrap = (b: Uint8Array, at: number): boolean => (le32(b, at + EA_NEXT_OFFSET) & NEXT_OFFSET_WRAP_BIT) !== 0;
