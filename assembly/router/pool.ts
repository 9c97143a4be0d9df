// Per-shard frame pool: fixed slots for frames the router must keep for a while (parked
// behind a full ring or window, or held back to keep per-device response order). A stack of
// free slot addresses; only the owning shard touches it, so no atomics.
import { SH_POOL_FREE, SH_POOL_TOP, SH_POOL_RESERVE, SH_C_POOL_EMPTY, PS_NEXT } from './layout';

/**
 * A free pool slot, or 0 when the pool is exhausted (the caller holds its source back). The
 * last SH_POOL_RESERVE free slots are not given: they belong to the cross-shard waiting queues
 * (poolTakeReserved), so another shard's frames can always be taken off the ring they block.
 */
@inline export function poolTake(shard: usize): usize {
  const top = load<u32>(shard, SH_POOL_TOP);
  if (top <= load<u32>(shard, SH_POOL_RESERVE)) {
    store<u64>(shard, load<u64>(shard, SH_C_POOL_EMPTY) + 1, SH_C_POOL_EMPTY);
    return 0;
  }
  return poolPop(shard, top);
}

/** A slot of the reserve for a cross-shard waiting queue (xs-credit.ts); 0 only if the credit was broken. */
export function poolTakeReserved(shard: usize): usize {
  const top = load<u32>(shard, SH_POOL_TOP);
  const reserve = load<u32>(shard, SH_POOL_RESERVE);
  if (top == 0 || reserve == 0) return 0;
  store<u32>(shard, reserve - 1, SH_POOL_RESERVE);
  return poolPop(shard, top);
}

/** Give back a slot taken with poolTakeReserved: the reserve gets it back. */
export function poolGiveReserved(shard: usize, slot: usize): void {
  poolGive(shard, slot);
  store<u32>(shard, load<u32>(shard, SH_POOL_RESERVE) + 1, SH_POOL_RESERVE);
}

@inline function poolPop(shard: usize, top: u32): usize {
  store<u32>(shard, top - 1, SH_POOL_TOP);
  const slot = <usize>load<u32>(<usize>load<u32>(shard, SH_POOL_FREE) + ((<usize>(top - 1)) << 2));
  store<u32>(slot, 0, PS_NEXT);
  return slot;
}

@inline export function poolGive(shard: usize, slot: usize): void {
  const top = load<u32>(shard, SH_POOL_TOP);
  store<u32>(<usize>load<u32>(shard, SH_POOL_FREE) + (<usize>top << 2), <u32>slot);
  store<u32>(shard, top + 1, SH_POOL_TOP);
}

@inline export function poolFree(shard: usize): u32 {
  return load<u32>(shard, SH_POOL_TOP);
}
