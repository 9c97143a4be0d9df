// SPSC v1 "switchboard" ring (docs/BUSES.md §3.1): one region per direction, i32 head (PRODUCER
// index) @0, i32 tail (CONSUMER index) @0x40, 64-byte slots from 0x80, one slot kept empty.
// Capacity is not stored: both sides derive it from the region size they agree on.
// TS side (region checks, cursors started at the published index): src/ring/spsc.ts.
import { cursorInit, CURSOR_PRODUCER } from './cursor';

export const SPSC_HEAD: u32 = 0x00; //  i32 next slot the producer writes (NB: head = producer here)
export const SPSC_TAIL: u32 = 0x40; //  i32 next slot the consumer reads, on its own cache line
export const SPSC_SLOTS: u32 = 0x80; // slot 0
export const SPSC_SLOT_SIZE: u32 = 64;
// The header's formula C = floor((region - 192) / 64) + 1: 192 = the two control lines + one slot.
export const SPSC_CAPACITY_BIAS: u32 = 192;
export const SPSC_MIN_CAPACITY: u32 = 2; // one slot is always empty, so 2 is the least useful ring

/** Slots in a region of `regionBytes` (0 when it holds fewer than SPSC_MIN_CAPACITY). */
export function spscCapacity(regionBytes: u32): u32 {
  if (regionBytes < SPSC_SLOTS + SPSC_MIN_CAPACITY * SPSC_SLOT_SIZE) return 0;
  return (regionBytes - SPSC_CAPACITY_BIAS) / SPSC_SLOT_SIZE + 1;
}

/** Smallest region holding `capacity` slots. */
export function spscRegionBytes(capacity: u32): u32 {
  return SPSC_SLOTS + capacity * SPSC_SLOT_SIZE;
}

/** Empty the ring in `region` (both control lines zeroed). Returns the capacity, 0 if too small. */
export function spscInit(region: usize, regionBytes: u32): u32 {
  const cap = spscCapacity(regionBytes);
  if (cap == 0) return 0;
  memory.fill(region, 0, SPSC_SLOTS);
  return cap;
}

/**
 * Fill the cursor at `cur` for one side of the ring in `region`: CURSOR_PRODUCER publishes head
 * and reads tail, CURSOR_CONSUMER publishes tail and reads head. Indices are i32 in memory and
 * read as u32, so a negative value from a hostile peer is out of range (counted as a fault).
 * Returns false (cursor untouched) when the region is too small.
 */
export function spscCursorInit(cur: usize, region: usize, regionBytes: u32, direction: u32, batch: u32, bell: u32): bool {
  const cap = spscCapacity(regionBytes);
  if (cap == 0) return false;
  const head = region + SPSC_HEAD;
  const tail = region + SPSC_TAIL;
  if (direction == CURSOR_PRODUCER) cursorInit(cur, region + SPSC_SLOTS, head, tail, cap, SPSC_SLOT_SIZE, batch, 0, bell);
  else cursorInit(cur, region + SPSC_SLOTS, tail, head, cap, SPSC_SLOT_SIZE, batch, 0, bell);
  return true;
}
