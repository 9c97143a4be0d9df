// Address arithmetic over the router tables and the counters, shared by the router files.
import {
  SH_CONFIG, SH_STATS, SH_NOW, SH_DIRTY, SH_DIRTY_N, RC_ENDPOINTS, RC_DEV_TABLE, RC_STATS_STRIDE,
  EP_SIZE, EP_OUT, EC_DROP_BASE,
} from './layout';
import { CUR_PENDING, CUR_DIRTY, cursorFlush } from '../ring/cursor';

@inline export function config(shard: usize): usize { return <usize>load<u32>(shard, SH_CONFIG); }
@inline export function now(shard: usize): u32 { return load<u32>(shard, SH_NOW); }

@inline export function endpointAt(shard: usize, ep: u32): usize {
  return <usize>load<u32>(config(shard), RC_ENDPOINTS) + <usize>ep * EP_SIZE;
}
@inline export function endpointOut(shard: usize, ep: u32): usize { return endpointAt(shard, ep) + EP_OUT; }

/** Device state of `dev`, or 0 when the device number is not validated. */
@inline export function deviceState(shard: usize, dev: u32): usize {
  return <usize>load<u32>(<usize>load<u32>(config(shard), RC_DEV_TABLE) + (<usize>dev << 2));
}

@inline export function epCounter(shard: usize, ep: u32, idx: u32): usize {
  return <usize>load<u32>(shard, SH_STATS) + <usize>ep * <usize>load<u32>(config(shard), RC_STATS_STRIDE) + (<usize>idx << 3);
}
@inline export function bump(addr: usize): void { store<u64>(addr, load<u64>(addr) + 1); }
@inline export function count(shard: usize, ep: u32, idx: u32): void { bump(epCounter(shard, ep, idx)); }
@inline export function drop(shard: usize, ep: u32, reason: u32): void { bump(epCounter(shard, ep, EC_DROP_BASE + reason)); }

/** Remember a producer cursor that holds unpublished frames; routeSome publishes them all at the end. */
@inline export function markDirty(shard: usize, cur: usize): void {
  if (load<u32>(cur, CUR_PENDING) != 0 && load<u32>(cur, CUR_DIRTY) == 0) {
    store<u32>(cur, 1, CUR_DIRTY);
    const n = load<u32>(shard, SH_DIRTY_N);
    store<u32>(<usize>load<u32>(shard, SH_DIRTY) + (<usize>n << 2), <u32>cur);
    store<u32>(shard, n + 1, SH_DIRTY_N);
  }
}

/** Publish every producer cursor markDirty remembered. */
export function flushDirty(shard: usize): void {
  const n = load<u32>(shard, SH_DIRTY_N);
  const list = <usize>load<u32>(shard, SH_DIRTY);
  for (let i: u32 = 0; i < n; i++) {
    const cur = <usize>load<u32>(list + (<usize>i << 2));
    store<u32>(cur, 0, CUR_DIRTY);
    cursorFlush(cur);
  }
  store<u32>(shard, 0, SH_DIRTY_N);
}
