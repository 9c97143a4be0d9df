// Admission: whether a device this shard owns takes a driver's frame now (forward), holds it
// behind older ones (park, merging repeated EVENT_AVAILs), or refuses it in the device's order;
// the driver's side of backpressure (a backlogged or stalled driver); frames for a device of
// another shard (the shard-to-shard ring); and releasing parked frames as devices drain.
import {
  SH_DEV_LIST, SH_PARK_LIMIT, SH_C_XS_SENT, EP_MAX_MSG, EP_ALLOW, EP_OUT,
  DS_DEV_NUM, DS_SHARD, DS_ENDPOINT, DS_OUT_CURSOR, DS_BOUND_DRIVER, DS_BOUND_CURSOR, DS_BUS_NUM, DS_FLAGS, DSF_REMOVING, DS_PARK, DS_PARK_HEAD, DS_PARK_COUNT, DS_PARK_REFUSALS,
  DS_C_EVENTS_IN, DS_C_PARKED, DS_C_COALESCED, PS_NEXT, PS_AUX, PS_KIND, PS_FRAME, PSK_EVENT, PSK_REQUEST, PSK_REFUSAL, TAG_KIND,
  XS_TO_DEVICE, OUT_CURSOR, OUT_DIRTY, OUT_PARK_COUNT, EC_TX, EC_TX_BYTES, CAPD_FROM_ROUTER,
  R_UNVALIDATED_DEV_NUM, R_POLICY_DENIED, R_MSG_SIZE_GT_BUS_MAX, R_DEVICE_BUSY, R_SOURCE_GONE, R_DRIVER_STALLED,
} from './layout';
import {
  HDR_SIZE, MSG_ID_EVENT_BIT, T_EVENT_AVAIL, TYPE_BUS, TYPE_RESPONSE, T_GET_DEVICE_INFO, T_GET_SHM,
  withToken, withDevNum, withTokenDevNum, hdrType, hdrMsgId, hdrDevNum, hdrToken, hdrMsgSize,
} from '../header';
import { EA_VQ_INDEX, EA_NEXT_OFFSET, EA_SIZE } from '../payload';
import { produceReserve, produceCommit, producerIndex, produceNextSeen, produceFullSeen, cursorSlotAt, produceCommitTo } from '../ring/cursor';
import { copyFrame } from '../copy';
import { endpointAt, deviceState, drop, bump, markDirty, markPending, epCounter, count, shardId, timeoutMs, parkLimit, captureCursor, epTag, epTagLive } from './context';
import { captureFrame } from './capture';
import { poolTake } from './pool';
import { parkAppend, parkedCount, parkedHead, parkedPop } from './parked';
import { outEmit, outHasParked, outMarkBlocked, outStalled, outStalledSeenFrom, countTx } from './output';
import { emitFailure, crossShardOut, crossShardRoom } from './emit';
import { windowHasRoom, outstanding, openRequest, openRefusal } from './correlate';
import { faultMark, FP_PARKED, FP_XS_SENT } from './faults';
import { xsCreditOf, xsCreditRoom, xsCreditSent } from './xs-credit';

/** Does this shard own device state `ds`? */
@inline export function isMine(shard: usize, ds: usize): bool {
  return <u32>load<u16>(ds, DS_SHARD) == shardId();
}

/**
 * Write a driver's request or event into the device's ring now (`devEp` is the device's
 * endpoint, `out` that endpoint's output). False when it must wait: older frames for the device
 * are parked, the window is full, or the ring is full.
 */
@inline function forward(shard: usize, ds: usize, devEp: u32, out: usize, drv: u32, f: usize, w: u64, isRequest: bool): bool {
  if (outHasParked(out)) return false;
  if (isRequest) {
    if (!windowHasRoom(ds)) return false;
  }
  const cur = <usize>load<u32>(out, OUT_CURSOR);
  const slot = produceReserve(cur);
  outMarkBlocked(shard, out, slot == 0);
  if (slot == 0) return false;
  forwardWrite(shard, ds, devEp, out, cur, slot, drv, f, w, isRequest, captureCursor() != 0, false, 0);
  return true;
}

/**
 * forward's part once it has a slot of the device's ring: shared with requestNow, which passes
 * `capturing` false (a constant: the capture is on or off for a whole routeSome call, and
 * takeNow sends every frame the whole way while it is on), so no call is left on its path,
 * and `seen` true with the index after the frame (`next`, produceNextSeen).
 */
@inline function forwardWrite(shard: usize, ds: usize, devEp: u32, out: usize, cur: usize, slot: usize, drv: u32, f: usize, w: u64, isRequest: bool, capturing: bool, seen: bool, next: u32): void {
  const size = hdrMsgSize(w);
  // The counters first, while the output and the size are at hand: counted last, they kept both
  // live across the frame's stores (spilled and loaded back). router.stats() reads them from
  // the main thread at any time, so tx can include a frame whose index is not published yet,
  // as it always could for frames waiting for the batch.
  countTx(out, size); // EC_TX, EC_TX_BYTES through the output's own counter address: no multiply by the stride
  let token: u32;
  if (isRequest) {
    token = openRequest(shard, ds, hdrMsgId(w), drv, hdrToken(w), timeoutMs()); // counts DS_C_REQUESTS
    // Rebound only when another driver sends: usually the same one does.
    if (<u32>load<u16>(ds, DS_BOUND_DRIVER) != drv + 1) {
      // Unbound while the cursor changes: a shard that dies between these stores leaves no
      // driver named with another driver's cursor (a restarted shard would trust the pair).
      atomic.store<u16>(ds + DS_BOUND_DRIVER, 0); // atomic: kept, and ordered before the cursor
      store<u32>(ds, load<u32>(endpointAt(shard, drv) + EP_OUT, OUT_CURSOR), DS_BOUND_CURSOR);
      store<u16>(ds, <u16>(drv + 1), DS_BOUND_DRIVER);
    }
  } else {
    token = 0; // events carry token 0
    bump(ds + DS_C_EVENTS_IN);
  }
  // The device hears its own bus's number (differs from ours only behind a remapping link).
  store<u64>(slot, withTokenDevNum(w, token, <u32>load<u16>(ds, DS_BUS_NUM)));
  copyFrame(slot + HDR_SIZE, f + HDR_SIZE, size - HDR_SIZE);
  if (capturing) captureFrame(shard, devEp, CAPD_FROM_ROUTER, slot, size);
  if (seen) {
    if (produceCommitTo(cur, next)) markPending(shard, cur, out, OUT_DIRTY);
  } else {
    produceCommit(cur);
    markDirty(shard, cur, out, OUT_DIRTY);
  }
}

/**
 * The common frame of a driver walk, a standard request (size checked by the caller) for a
 * device of this shard that takes it now, forwarded without a call: true when forwarded. Every
 * test reads and changes nothing, so on false the frame goes the whole way (takeFrame) and
 * meets the same tests again, each with its own outcome (refusal, park, stall counts).
 */
@inline export function requestNow(shard: usize, drv: u32, de: usize, f: usize, w: u64): bool {
  // One `if` per test: an || chain became a flag in a register, set, then tested again.
  if ((hdrType(w) & (TYPE_BUS | TYPE_RESPONSE)) != 0) return false;
  if (hdrMsgId(w) - T_GET_DEVICE_INFO > T_GET_SHM - T_GET_DEVICE_INFO) return false;
  if (load<u32>(de + EP_OUT, OUT_PARK_COUNT) >= parkLimit()) return false;
  const ds = deviceState(shard, hdrDevNum(w));
  if (ds == 0) return false;
  if (!isMine(shard, ds)) return false;
  if ((<u32>load<u16>(ds, DS_FLAGS) & DSF_REMOVING) != 0) return false;
  if (load<u32>(de, EP_ALLOW) != 0) return false;
  const devEp = <u32>load<u16>(ds, DS_ENDPOINT);
  const dev = endpointAt(shard, devEp);
  if (hdrMsgSize(w) > <u32>load<u16>(dev, EP_MAX_MSG)) return false;
  if (load<u32>(ds, DS_PARK_COUNT) != 0) return false;
  const out = dev + EP_OUT;
  if (outHasParked(out)) return false;
  if (!windowHasRoom(ds)) return false;
  // The device's cursor straight from its state (= out's OUT_CURSOR; not removed, tested above).
  const cur = <usize>load<u32>(ds, DS_OUT_CURSOR);
  const local = producerIndex(cur);
  const next = produceNextSeen(cur, local, hdrMsgSize(w));
  if (produceFullSeen(cur, next)) return false;
  outMarkBlocked(shard, out, false);
  forwardWrite(shard, ds, devEp, out, cur, cursorSlotAt(cur, local), drv, f, w, true, false, true, next);
  return true;
}

/** Merge EVENT_AVAIL `w` of driver `drv` into a queued EVENT_AVAIL of its own for the same device and virtqueue, if any. */
function coalesceAvail(shard: usize, ds: usize, drv: u32, f: usize, w: u64): bool {
  if (hdrMsgId(w) != T_EVENT_AVAIL || hdrMsgSize(w) < EA_SIZE) return false;
  const vq = load<u32>(f, EA_VQ_INDEX);
  // Same driver, same generation: a queued kick of an earlier owner of the id is dropped unsent.
  const tag = epTag(shard, drv, PSK_EVENT);
  let ps = <usize>load<u32>(ds, DS_PARK_HEAD);
  for (let n = load<u32>(ds, DS_PARK_COUNT); n != 0; n--) {
    const q = ps + PS_FRAME;
    const qw = load<u64>(q);
    if (<u32>load<u16>(ps, PS_KIND) == tag && <u32>load<u16>(ps, PS_AUX) == drv && hdrMsgId(qw) == T_EVENT_AVAIL && hdrMsgSize(qw) >= EA_SIZE && load<u32>(q, EA_VQ_INDEX) == vq) {
      store<u32>(q, load<u32>(f, EA_NEXT_OFFSET), EA_NEXT_OFFSET);
      bump(ds + DS_C_COALESCED);
      return true;
    }
    ps = <usize>load<u32>(ps, PS_NEXT);
  }
  return false;
}

/**
 * Accept a driver's frame for a device this shard owns: forward it now or park it behind older
 * ones. What the router refuses here (removed device, policy, too large for the device's link)
 * is answered in the device's order (refuseInOrder). `de` is the driver's endpoint entry.
 */
@inline export function deviceAccept(shard: usize, ds: usize, drv: u32, de: usize, f: usize, w: u64, isRequest: bool): bool {
  const devEp = <u32>load<u16>(ds, DS_ENDPOINT);
  if ((<u32>load<u16>(ds, DS_FLAGS) & DSF_REMOVING) != 0) return refuseInOrder(shard, ds, drv, w, isRequest, R_UNVALIDATED_DEV_NUM);
  const allow = <usize>load<u32>(de, EP_ALLOW);
  if (allow != 0) {
    if (!allowed(allow, <u32>load<u16>(ds, DS_DEV_NUM))) return refuseInOrder(shard, ds, drv, w, isRequest, R_POLICY_DENIED);
  }
  const dev = endpointAt(shard, devEp);
  if (hdrMsgSize(w) > <u32>load<u16>(dev, EP_MAX_MSG)) return refuseInOrder(shard, ds, drv, w, isRequest, R_MSG_SIZE_GT_BUS_MAX);
  const parked = load<u32>(ds, DS_PARK_COUNT);
  if (parked == 0 && forward(shard, ds, devEp, dev + EP_OUT, drv, f, w, isRequest)) return true;
  return deviceHold(shard, ds, drv, f, w, isRequest, parked);
}

/** Is device `dev` in the visibility bitmap `allow`? */
@inline function allowed(allow: usize, dev: u32): bool {
  return (<u32>load<u8>(allow + (<usize>dev >> 3)) & (1 << (dev & 7))) != 0;
}

/**
 * Refuse a driver's frame for device state `ds` (never forwarded). An event is dropped. A
 * request fails towards its driver in its place in the device's order: at once when nothing
 * older is owed, else as an entry of the correlation window (openRefusal), or — window full or
 * frames parked before it — as a refusal record at the end of the device's park queue. Refusal
 * records have a bound of their own (the park limit; beyond, the source waits) and do not count
 * against the frames' one, so a stalled driver's refusals never make other drivers' requests to
 * the device fail DEVICE_BUSY. Out of line: refusals are rare.
 */
export function refuseInOrder(shard: usize, ds: usize, drv: u32, w: u64, isRequest: bool, reason: u32): bool {
  const parked = load<u32>(ds, DS_PARK_COUNT);
  if (!isRequest || (parked == 0 && outstanding(ds) == 0)) return refuse(shard, drv, w, isRequest, reason);
  if (parked == 0 && windowHasRoom(ds)) {
    openRefusal(shard, ds, hdrMsgId(w), drv, hdrToken(w), reason);
    drop(shard, drv, reason);
    return true;
  }
  const refusals = load<u32>(ds, DS_PARK_REFUSALS);
  if (refusals >= parkLimit()) return false;
  const ps = poolTake(shard);
  if (ps == 0) return false;
  store<u16>(ps, <u16>drv, PS_AUX);
  store<u16>(ps, <u16>epTag(shard, drv, PSK_REFUSAL), PS_KIND);
  store<u64>(ps + PS_FRAME, w);
  store<u32>(ps + PS_FRAME + HDR_SIZE, reason); // after the header word
  parkAppend(shard + SH_DEV_LIST, ds + DS_PARK, ps);
  store<u32>(ds, refusals + 1, DS_PARK_REFUSALS);
  return true;
}

/**
 * A frame the device cannot take now (`parked` frames wait before it, or its window or ring is
 * full): merge, refuse or park it. Out of line, so the forwarding path stays small.
 */
function deviceHold(shard: usize, ds: usize, drv: u32, f: usize, w: u64, isRequest: bool, parked: u32): bool {
  // A notification for a virtqueue that already has one queued says nothing new: merge it
  // (the newer next_offset wins), so kicks never pile up behind a slow device.
  if (!isRequest && parked != 0 && coalesceAvail(shard, ds, drv, f, w)) return true;
  // Per-device queues keep one slow or stalled device from blocking its drivers' traffic to
  // the others (no head-of-line blocking). Past the bound a request fails at once (transport
  // failure, DEVICE_BUSY); an event holds its source back while the device still drains its
  // ring, and is dropped (DEVICE_BUSY) once the device has taken nothing for a whole timeout.
  if (parked - load<u32>(ds, DS_PARK_REFUSALS) >= load<u32>(shard, SH_PARK_LIMIT)) {
    if (!isRequest && !outStalled(shard, endpointAt(shard, <u32>load<u16>(ds, DS_ENDPOINT)) + EP_OUT)) return false;
    return refuseInOrder(shard, ds, drv, w, isRequest, R_DEVICE_BUSY);
  }
  return parkForDevice(shard, ds, drv, f, w, isRequest);
}

/** Queue a frame behind the device's older ones (out of line: the forward path stays small). */
function parkForDevice(shard: usize, ds: usize, drv: u32, f: usize, w: u64, isRequest: bool): bool {
  const ps = poolTake(shard);
  if (ps == 0) return false;
  store<u16>(ps, <u16>drv, PS_AUX);
  store<u16>(ps, <u16>epTag(shard, drv, isRequest ? PSK_REQUEST : PSK_EVENT), PS_KIND);
  store<u64>(ps + PS_FRAME, w);
  copyFrame(ps + PS_FRAME + HDR_SIZE, f + HDR_SIZE, hdrMsgSize(w) - HDR_SIZE);
  parkAppend(shard + SH_DEV_LIST, ds + DS_PARK, ps);
  bump(ds + DS_C_PARKED);
  faultMark(FP_PARKED);
  return true;
}

/** Forward a device's parked frames while it can take them. */
export function deviceDrainParked(shard: usize, ds: usize): void {
  const q = ds + DS_PARK;
  const devEp = <u32>load<u16>(ds, DS_ENDPOINT);
  const out = endpointAt(shard, devEp) + EP_OUT;
  while (parkedCount(q) != 0) {
    const ps = parkedHead(q);
    const frame = ps + PS_FRAME;
    const drv = <u32>load<u16>(ps, PS_AUX);
    const tag = <u32>load<u16>(ps, PS_KIND);
    const isRefusal = (tag & TAG_KIND) == PSK_REFUSAL;
    if (!epTagLive(shard, drv, tag)) {
      // Its driver detached while it waited (the id may have a new owner by now): never sent.
      drop(shard, drv, R_SOURCE_GONE);
    } else if (isRefusal) {
      // Its turn among the device's frames: it takes an entry so its failure keeps its place.
      if (!windowHasRoom(ds)) break;
      const w = load<u64>(frame);
      const reason = load<u32>(frame, HDR_SIZE);
      openRefusal(shard, ds, hdrMsgId(w), drv, hdrToken(w), reason);
      drop(shard, drv, reason);
    } else if (!forward(shard, ds, devEp, out, drv, frame, load<u64>(frame), (tag & TAG_KIND) == PSK_REQUEST)) {
      break;
    }
    if (isRefusal) store<u32>(ds, load<u32>(ds, DS_PARK_REFUSALS) - 1, DS_PARK_REFUSALS);
    parkedPop(shard, q);
  }
}

/** A transport request that cannot be routed fails towards its driver and is dropped with `reason`. */
@inline export function refuse(shard: usize, drv: u32, w: u64, isRequest: bool, reason: u32): bool {
  if (isRequest && !emitFailure(shard, drv, hdrDevNum(w), hdrMsgId(w), reason, hdrToken(w))) return false;
  drop(shard, drv, reason);
  return true;
}

/**
 * The driver's own output has a park limit's worth of frames it has not drained. While it
 * still drains, its ring waits (only its own traffic). Once it has drained nothing for a whole
 * timeout it is stalled: its requests fail (DRIVER_STALLED), in their place in each device's
 * order, its events and bus requests are dropped, so a stuck driver cannot hold the router.
 */
export function driverBacklogged(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  if (!outStalled(shard, e + EP_OUT)) return false;
  // A transport request or event with a valid id (fromDriver checked it).
  if ((hdrMsgId(w) & MSG_ID_EVENT_BIT) == 0) {
    const ds = deviceState(shard, hdrDevNum(w));
    if (ds != 0 && isMine(shard, ds)) return refuseInOrder(shard, ds, ep, w, true, R_DRIVER_STALLED);
    // Owned elsewhere: its failure could not keep its place from here, so it travels on and
    // the owner refuses it (drainCrossShard checks the driver too).
    if (ds != 0) return toOtherShard(shard, ds, ep, f, w);
    return refuse(shard, ep, w, true, R_DRIVER_STALLED);
  }
  drop(shard, ep, R_DRIVER_STALLED);
  return true;
}

/** A driver (of another shard) whose output is backlogged and stalled (see driverBacklogged); reads only. */
@inline export function driverStalled(shard: usize, drv: u32): bool {
  const out = endpointAt(shard, drv) + EP_OUT;
  return load<u32>(out, OUT_PARK_COUNT) >= parkLimit() && outStalledSeenFrom(shard, out);
}

/** A driver's frame for a device another shard owns: through the shard-to-shard ring. */
export function toOtherShard(shard: usize, ds: usize, ep: u32, f: usize, w: u64): bool {
  const to = <u32>load<u16>(ds, DS_SHARD);
  const xs = crossShardOut(shard, to);
  // Within the credit the owner can always take it off the ring (xs-credit.ts); beyond, the source waits.
  const xq = xsCreditOf(shard, to);
  if (!xsCreditRoom(shard, xq)) return false;
  if (!crossShardRoom(shard, xs) || !outEmit(shard, xs, w, f, hdrMsgSize(w), epTag(shard, ep, XS_TO_DEVICE), ep)) return false;
  xsCreditSent(xq);
  faultMark(FP_XS_SENT);
  bump(shard + SH_C_XS_SENT);
  return true;
}

/** A driver's frame (tag `tag`, driver `ep`) another shard sent for a device of this one: accepted, or false to try again later. */
export function acceptFromShard(shard: usize, ep: u32, tag: u32, f: usize, w: u64): bool {
  if (!epTagLive(shard, ep, tag)) {
    // The driver it came from detached meanwhile (maybe the id has a new owner): never forwarded.
    drop(shard, ep, R_SOURCE_GONE);
    return true;
  }
  const isRequest = (hdrMsgId(w) & MSG_ID_EVENT_BIT) == 0;
  const ds = deviceState(shard, hdrDevNum(w));
  // The device may have gone (or moved) since the sending shard looked it up.
  if (ds == 0 || !isMine(shard, ds)) return refuse(shard, ep, w, isRequest, R_UNVALIDATED_DEV_NUM);
  if (isRequest && driverStalled(shard, ep)) return refuseInOrder(shard, ds, ep, w, true, R_DRIVER_STALLED);
  return deviceAccept(shard, ds, ep, endpointAt(shard, ep), f, w, isRequest);
}
