// Per-shard frame pool: fixed slots for frames the router must keep for a while (parked
// behind a full ring or window, or held back to keep per-device response order). A stack of
// free slot addresses; only the owning shard touches it, so no atomics.
import { SH_POOL_FREE, SH_POOL_TOP, SH_C_POOL_EMPTY, PS_NEXT } from './layout';

/** A free pool slot, or 0 when the pool is exhausted (the caller holds its source back). */
@inline export function poolTake(shard: usize): usize {
  const top = load<u32>(shard, SH_POOL_TOP);
  if (top == 0) {
    store<u64>(shard, load<u64>(shard, SH_C_POOL_EMPTY) + 1, SH_C_POOL_EMPTY);
    return 0;
  }
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
