// Allocation-free readers of the common header's fields (docs/PROTOCOL.md §3) at any offset of a
// byte array: the hot paths read frames in place (a ring slot, a stream buffer) and must not
// build a Header object or a DataView per frame. assembly/header.ts is the WebAssembly twin.
import { HDR_DEV_NUM, HDR_MSG_ID, HDR_MSG_SIZE, HDR_SIZE, HDR_TOKEN, HDR_TYPE } from './constants.js';

/** Little-endian u16 at `at`. */
export const le16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);

/** Little-endian u32 at `at` (unsigned). */
export const le32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

export const typeAt = (b: Uint8Array, at: number): number => b[at + HDR_TYPE]!;
export const msgIdAt = (b: Uint8Array, at: number): number => b[at + HDR_MSG_ID]!;
export const devNumAt = (b: Uint8Array, at: number): number => le16(b, at + HDR_DEV_NUM);
export const tokenAt = (b: Uint8Array, at: number): number => le16(b, at + HDR_TOKEN);
export const msgSizeAt = (b: Uint8Array, at: number): number => le16(b, at + HDR_MSG_SIZE);

/** msg_size of a whole frame, or 0 when it is shorter than a header (no msg_size to read). */
export const frameSize = (frame: Uint8Array): number => (frame.length >= HDR_SIZE ? msgSizeAt(frame, 0) : 0);
