// Address arithmetic over the router tables and the counters, shared by the router files.
import {
  SH_CONFIG, SH_STATS, SH_NOW, SH_NOW_US, SH_DIRTY, SH_DIRTY_N, DL_CURSOR, DL_FLAG, DL_SIZE, SH_ID, SH_CAPTURE, SH_PARK_LIMIT, RC_ENDPOINTS, RC_DEV_TABLE, RC_STATS_STRIDE, RC_TIMEOUT_MS,
  EP_SIZE, EP_OUT, EP_KIND, EP_FLAGS, EP_GEN, EPK_FREE, EPF_CLOSING, EC_DROP_BASE, TAG_KIND, TAG_GEN_SHIFT,
} from './layout';
import { cursorFlush, hasPending } from '../ring/cursor';

// The shard's table addresses, copied into wasm globals when an entry point starts: globals
// are per instance, and each shard thread has its own instance, so this is thread-safe; it
// saves a chain of dependent loads per frame (memory loads cannot be hoisted across stores).
let gConfig: usize = 0;
let gEndpoints: usize = 0;
let gDevTable: usize = 0;
let gStats: usize = 0;
let gStatsStride: usize = 0;
let gNow: u32 = 0;
let gTimeout: u32 = 0;
let gShardId: u32 = 0;
let gCapture: usize = 0;
let gParkLimit: u32 = 0;

// The router's clock in µs (request latency), as the shard's TS loop last wrote it (SH_NOW_US):
// read once per call like gNow, so the hot path never calls out for the time.
let gNowUs: u32 = 0;

/** Every exported operation on a shard calls this first. */
export function bindShard(shard: usize): void {
  gConfig = <usize>load<u32>(shard, SH_CONFIG);
  gEndpoints = <usize>load<u32>(gConfig, RC_ENDPOINTS);
  gDevTable = <usize>load<u32>(gConfig, RC_DEV_TABLE);
  gStats = <usize>load<u32>(shard, SH_STATS);
  gStatsStride = <usize>load<u32>(gConfig, RC_STATS_STRIDE);
  gNow = load<u32>(shard, SH_NOW);
  gTimeout = load<u32>(gConfig, RC_TIMEOUT_MS);
  gShardId = load<u32>(shard, SH_ID);
  gCapture = <usize>atomic.load<u32>(shard, SH_CAPTURE);
  gParkLimit = load<u32>(shard, SH_PARK_LIMIT);
  gNowUs = load<u32>(shard, SH_NOW_US);
}

/** The router's µs clock (u32, wraps after 71 minutes: use differences) as of this call. */
@inline export function nowUs(): u32 { return gNowUs; }

// `shard` parameters below keep call sites uniform; the values come from bindShard.
@inline export function config(shard: usize): usize { return gConfig; }
@inline export function now(shard: usize): u32 { return gNow; }
@inline export function timeoutMs(): u32 { return gTimeout; }
@inline export function shardId(): u32 { return gShardId; }
/** Frames parked per device or output before the source is held back (SH_PARK_LIMIT). */
@inline export function parkLimit(): u32 { return gParkLimit; }
/** Producer cursor of the capture ring, 0 when not capturing (one global load per frame). */
@inline export function captureCursor(): usize { return gCapture; }
/** Endpoint id of the output at `out` (an endpoint's EP_OUT). */
@inline export function endpointOfOut(out: usize): u32 { return <u32>((out - EP_OUT - gEndpoints) / EP_SIZE); }

@inline export function endpointAt(shard: usize, ep: u32): usize {
  return gEndpoints + <usize>ep * EP_SIZE;
}
@inline export function endpointOut(shard: usize, ep: u32): usize { return endpointAt(shard, ep) + EP_OUT; }

/** Tag `kind` with endpoint `ep`'s current generation (frames held for or from it: layout TAG_*). */
@inline export function epTag(shard: usize, ep: u32, kind: u32): u32 {
  return kind | ((<u32>load<u16>(endpointAt(shard, ep), EP_GEN) << TAG_GEN_SHIFT) & 0xffff);
}

/** Is the endpoint `tag` was made for still attached, as the same generation? */
@inline export function epTagLive(shard: usize, ep: u32, tag: u32): bool {
  const e = endpointAt(shard, ep);
  return <u32>atomic.load<u8>(e + EP_KIND) != EPK_FREE && (<u32>load<u16>(e, EP_FLAGS) & EPF_CLOSING) == 0 &&
    ((<u32>load<u16>(e, EP_GEN) << TAG_GEN_SHIFT) & 0xffff) == (tag & ~TAG_KIND & 0xffff);
}

/** Device state of `dev`, or 0 when the device number is not validated. */
@inline export function deviceState(shard: usize, dev: u32): usize {
  return <usize>load<u32>(gDevTable + (<usize>dev << 2));
}

@inline export function epCounter(shard: usize, ep: u32, idx: u32): usize {
  return gStats + <usize>ep * gStatsStride + (<usize>idx << 3);
}
@inline export function bump(addr: usize): void { store<u64>(addr, load<u64>(addr) + 1); }
@inline export function count(shard: usize, ep: u32, idx: u32): void { bump(epCounter(shard, ep, idx)); }
@inline export function drop(shard: usize, ep: u32, reason: u32): void { bump(epCounter(shard, ep, EC_DROP_BASE + reason)); }

/**
 * Remember a cursor (an output's producer, a source's consumer, the capture's producer) with
 * unpublished steps, once: the word at `owner + flag` in the router tables says it is listed
 * (OUT_DIRTY, EP_IN_DIRTY, SH_CAPTURE_DIRTY). routeSome publishes them after a light pass and
 * at the end of the call. Owner and offset apart, so the per-frame check is a load at a constant
 * offset and the address is formed only when the cursor joins.
 */
@inline export function markDirty(shard: usize, cur: usize, owner: usize, flag: u32): void {
  if (hasPending(cur)) markPending(shard, cur, owner, flag);
}

/** markDirty of a cursor known to have unpublished steps (produceCommitTo said so). */
@inline export function markPending(shard: usize, cur: usize, owner: usize, flag: u32): void {
  if (load<u32>(owner + flag) == 0) {
    store<u32>(owner + flag, 1);
    const n = load<u32>(shard, SH_DIRTY_N);
    const d = <usize>load<u32>(shard, SH_DIRTY) + <usize>n * DL_SIZE;
    store<u32>(d, <u32>cur, DL_CURSOR);
    store<u32>(d, <u32>(owner + flag), DL_FLAG);
    store<u32>(shard, n + 1, SH_DIRTY_N);
  }
}

/** Publish every cursor markDirty remembered (outputs' producers, sources' consumers), in that order of joining. */
export function flushDirty(shard: usize): void {
  const n = load<u32>(shard, SH_DIRTY_N);
  const list = <usize>load<u32>(shard, SH_DIRTY);
  for (let i: u32 = 0; i < n; i++) {
    const d = list + <usize>i * DL_SIZE;
    store<u32>(<usize>load<u32>(d, DL_FLAG), 0);
    cursorFlush(<usize>load<u32>(d, DL_CURSOR));
  }
  store<u32>(shard, 0, SH_DIRTY_N);
}
