// Our in-process ring (docs/ARCHITECTURE.md "Native ring"): a fixed-slot SPSC ring in the
// shared WebAssembly.Memory. Indices and the two private cursors sit on their own 64-byte
// lines so producer and consumer never write the same cache line. TS side (checks, views):
// src/ring/native.ts.
import { cursorInit, CUR_MAX_UNITS, CURF_FREES } from './cursor';

export const NR_MAGIC_VALUE: u32 = 0x47524d56; // "VMRG" little-endian
export const NR_VERSION_VALUE: u32 = 2; // 2: NR_FRAME_UNITS (packed rings)

export const NR_MAGIC: u32 = 0; //      u32 NR_MAGIC_VALUE, written last by init
export const NR_VERSION: u32 = 4; //    u16
export const NR_FLAGS: u32 = 6; //      u16 reserved, 0
export const NR_CAPACITY: u32 = 8; //   u32 slots (>= 2; capacity-1 usable)
export const NR_SLOT_SIZE: u32 = 12; // u32 bytes per slot, multiple of 8, >= 16; max frame size
export const NR_CONS_BELL: u32 = 16; // u32 address of the consumer's doorbell (0 = never sleeps)
export const NR_PROD_BELL: u32 = 20; // u32 address of the producer's doorbell (0 = never sleeps)
export const NR_FRAME_UNITS: u32 = 24; // u32 most slots a frame takes: 1 = a frame per slot; > 1 = packed (16-byte slots)
export const NR_PROD_INDEX: u32 = 64; //   u32 next slot the producer writes (producer's line)
export const NR_CONS_INDEX: u32 = 128; //  u32 next slot the consumer reads (consumer's line)
export const NR_PROD_CURSOR: u32 = 192; // cursor (CUR_SIZE bytes, its own line) private to the producer
export const NR_CONS_CURSOR: u32 = 256; // cursor (CUR_SIZE bytes, its own line) private to the consumer
export const NR_SLOTS: u32 = 320; //       slot 0
export const NR_HEADER_SIZE: u32 = 320;
export const NR_MIN_SLOT_SIZE: u32 = 16; // the 8-byte header plus one word of payload
export const NR_SLOT_ALIGN: u32 = 8; //     slots are whole u64 words (the router copies u64s)
export const NR_BASE_ALIGN: u32 = 64; //    the header starts on a cache line

/**
 * Bytes a native ring of `capacity` slots of `slotSize` bytes occupies; a packed ring
 * (`frameUnits` > 1, slotSize PACKED_UNIT) has frameUnits - 1 slots of slack after the last.
 */
export function nativeRingBytes(capacity: u32, slotSize: u32, frameUnits: u32): u32 {
  return NR_HEADER_SIZE + (capacity + frameUnits - 1) * slotSize;
}

/**
 * Lay out an empty ring at `base` (64-byte aligned). `batch` is how many steps each side takes
 * before publishing its index; `cursorFlags` go into both cursors (CURF_RELAXED when the
 * process publishes with plain stores: src/wait/fence.ts), except CURF_FREES, which only the
 * consumer's takes (it then rings a sleeping producer only when it frees room the producer
 * lacked). The magic is stored last so a reader never sees half a header.
 */
export function nativeRingInit(base: usize, capacity: u32, slotSize: u32, batch: u32, consBell: u32, prodBell: u32, cursorFlags: u32, frameUnits: u32): void {
  memory.fill(base, 0, NR_HEADER_SIZE);
  store<u16>(base, <u16>NR_VERSION_VALUE, NR_VERSION);
  store<u32>(base, capacity, NR_CAPACITY);
  store<u32>(base, slotSize, NR_SLOT_SIZE);
  store<u32>(base, consBell, NR_CONS_BELL);
  store<u32>(base, prodBell, NR_PROD_BELL);
  store<u32>(base, frameUnits, NR_FRAME_UNITS);
  // Each side wakes the other: the producer rings the consumer's bell for every publish.
  cursorInit(base + NR_PROD_CURSOR, base + NR_SLOTS, base + NR_PROD_INDEX, base + NR_CONS_INDEX, capacity, slotSize, batch, cursorFlags & ~CURF_FREES, consBell);
  cursorInit(base + NR_CONS_CURSOR, base + NR_SLOTS, base + NR_CONS_INDEX, base + NR_PROD_INDEX, capacity, slotSize, batch, cursorFlags, prodBell);
  store<u32>(base + NR_PROD_CURSOR, frameUnits, CUR_MAX_UNITS);
  store<u32>(base + NR_CONS_CURSOR, frameUnits, CUR_MAX_UNITS);
  atomic.store<u32>(base, NR_MAGIC_VALUE, NR_MAGIC);
}

@inline export function nativeProducer(base: usize): usize { return base + NR_PROD_CURSOR; }
@inline export function nativeConsumer(base: usize): usize { return base + NR_CONS_CURSOR; }
