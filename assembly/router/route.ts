// The routing step (docs/PROTOCOL.md §7): take frames from this shard's sources in bounded, round-robin
// batches, validate the header (one u64 load), terminate bus messages, forward transport
// messages by dev_num with token correlation, and never lose a valid frame: when a destination
// cannot take it, the frame is parked, or left in its source ring (backpressure).
import {
  SH_ID, SH_NUM_SOURCES, SH_SOURCES, SH_RR, SH_XS_IN, SH_NUM_SHARDS, SH_SOURCE_BUDGET, SH_PARK_LIMIT,
  SH_DEV_LIST, SH_OUT_LIST, SH_CTRL_OUT, SH_TEMP, SH_BOUNDED, SH_WALK_CUR, SH_WALK_EP, SH_WALK_N, SH_WALK_USED, SH_C_LOOPS, SH_C_FRAMES, SH_C_STALLS, SH_C_XS_SENT, SH_C_CTRL,
  RC_TIMEOUT_MS, EP_KIND, EP_MAX_MSG, EP_IN_CURSOR, EP_ALLOW, EP_BUS_DEVS, EP_OUT, EPK_DRIVER, EPK_DEVICE,
  DS_DEV_NUM, DS_SHARD, DS_ENDPOINT, DS_BOUND_DRIVER, DS_BUS_NUM, DS_FLAGS, DSF_REMOVING, DS_PARK, DS_PARK_HEAD, DS_PARK_COUNT, DS_PARK_REFUSALS, PQ_LIST_NEXT,
  DS_C_REQUESTS, DS_C_EVENTS_IN, DS_C_EVENTS_OUT, DS_C_PARKED, DS_C_COALESCED, CE_DRIVER, CE_DRV_TOKEN,
  PS_NEXT, PS_AUX, PS_KIND, PS_FRAME, PSK_EVENT, PSK_REQUEST, PSK_REFUSAL, TAG_KIND, XT_KIND, XT_EP, XT_SIZE, XS_TO_DEVICE, OUT_CURSOR, OUT_PARK_COUNT,
  EC_RX, EC_TX, EC_RX_BYTES, EC_TX_BYTES, EC_STALLS, EC_TO_CONTROL, EC_TERMINATED, CAPD_TO_ROUTER, CAPD_FROM_ROUTER,
  R_MSG_SIZE_LT_HEADER, R_MSG_SIZE_GT_BUFFER, R_MSG_SIZE_GT_BUS_MAX, R_UNSUPPORTED_MSG_ID,
  R_RESPONSE_TO_EVENT, R_WRONG_DIRECTION, R_BUS_DEV_NUM_NONZERO, R_UNVALIDATED_DEV_NUM,
  R_SPOOFED_DEV_NUM, R_NO_BOUND_DRIVER, R_UNSUPPORTED_BUS_MSG, R_POLICY_DENIED, R_DEVICE_BUSY, R_ENDPOINT_GONE, R_SOURCE_GONE, R_DRIVER_STALLED,
  R_PAYLOAD_TRUNCATED, R_PAYLOAD_LENGTH_MISMATCH, VMSG_EVT_REQUEST_FAILED, RF_DEVICE, RF_MSG_ID, RF_REASON, RF_TOKEN, RF_SIZE,
} from './layout';
import {
  TYPE_RESPONSE, TYPE_BUS, MSG_ID_EVENT_BIT, MSG_ID_IMPL_BIT, T_GET_DEVICE_INFO, T_GET_SHM,
  T_EVENT_AVAIL, T_EVENT_CONFIG, T_EVENT_USED, B_GET_DEVICES, B_PING, B_EVENT_DEVICE, withToken, withDevNum,
} from '../header';
import { consumePeek, consumeRelease, consumeAvailable, consumeAdvance, cursorFlush, produceReserve, produceCommit, frameUnits, CUR_STRIDE, CUR_SLOTS, CUR_CAP, CUR_LOCAL, CUR_CAPTURED, CUR_MAX_UNITS } from '../ring/cursor';
import { copyFrame } from '../copy';
import { endpointAt, deviceState, count, drop, bump, markDirty, flushDirty, epCounter, bindShard, shardId, timeoutMs, parkLimit, captureCursor, epTag, epTagLive } from './context';
import { captureFrame } from './capture';
import { poolTake } from './pool';
import { parkAppend, parkedCount, parkedHead, parkedPop, parkListPrune } from './parked';
import { outEmit, outHasParked, outServiceAll, outMarkBlocked, outStalled, outStalledSeenFrom } from './output';
import { emitToEndpoint, emitFailure, crossShardOut, crossShardRoom } from './emit';
import { windowHasRoom, outstanding, openRequest, openRefusal, matchResponse, failRequest, headDelivered, MATCH_DELIVER, MATCH_HELD, MATCH_NO_POOL } from './correlate';
import { answerGetDevices, answerPing } from './busmsg';
import { faultMark, faultFrameDone, faultXsDone, FP_PARKED, FP_XS_SENT } from './faults';

@inline function isMine(shard: usize, ds: usize): bool {
  return <u32>load<u16>(ds, DS_SHARD) == shardId();
}

/** Hand a bus message the router does not terminate to the control plane (or drop it). */
function toControl(shard: usize, ep: u32, f: usize, w: u64): bool {
  const ctrl = <usize>load<u32>(shard, SH_CTRL_OUT);
  if (ctrl == 0) { drop(shard, ep, R_UNSUPPORTED_BUS_MSG); return true; }
  // Bounded like an endpoint output: past the park bound the source waits for the control
  // plane, and once that has taken nothing for a whole timeout the frame is dropped, so bus
  // frames nobody reads cannot use up the pool every other link of the shard depends on.
  if (load<u32>(ctrl, OUT_PARK_COUNT) >= load<u32>(shard, SH_PARK_LIMIT)) {
    if (!outStalled(shard, ctrl)) return false;
    drop(shard, ep, R_UNSUPPORTED_BUS_MSG);
    return true;
  }
  if (!outEmit(shard, ctrl, w, f, <u32>(w >> 48), epTag(shard, ep, 0), ep)) return false;
  count(shard, ep, EC_TO_CONTROL);
  bump(shard + SH_C_CTRL);
  return true;
}

/**
 * Write a driver's request or event into the device's ring now. False when it must wait:
 * older frames for the device are parked, the window is full, or the ring is full.
 */
@inline function forward(shard: usize, ds: usize, drv: u32, f: usize, w: u64, isRequest: bool): bool {
  const devEp = <u32>load<u16>(ds, DS_ENDPOINT);
  const e = endpointAt(shard, devEp);
  const out = e + EP_OUT;
  if (outHasParked(out)) return false;
  if (isRequest && !windowHasRoom(ds)) return false;
  const cur = <usize>load<u32>(out, OUT_CURSOR);
  const slot = produceReserve(cur);
  outMarkBlocked(shard, out, slot == 0);
  if (slot == 0) return false;
  const size = <u32>(w >> 48);
  let hdr: u64;
  if (isRequest) {
    const token = openRequest(shard, ds, <u32>(w >> 8) & 0xff, drv, <u32>(w >> 32) & 0xffff, timeoutMs());
    hdr = withToken(w, token);
    store<u16>(ds, <u16>(drv + 1), DS_BOUND_DRIVER);
    bump(ds + DS_C_REQUESTS);
  } else {
    hdr = withToken(w, 0); // events carry token 0
    bump(ds + DS_C_EVENTS_IN);
  }
  // The device hears its own bus's number (differs from ours only behind a remapping link).
  store<u64>(slot, withDevNum(hdr, <u32>load<u16>(ds, DS_BUS_NUM)));
  copyFrame(slot + 8, f + 8, size - 8);
  if (captureCursor() != 0) captureFrame(shard, devEp, CAPD_FROM_ROUTER, slot, size);
  produceCommit(cur);
  markDirty(shard, cur);
  count(shard, devEp, EC_TX);
  const b = epCounter(shard, devEp, EC_TX_BYTES);
  store<u64>(b, load<u64>(b) + size);
  return true;
}

/** Merge EVENT_AVAIL `w` of driver `drv` into a queued EVENT_AVAIL of its own for the same device and virtqueue, if any. */
function coalesceAvail(shard: usize, ds: usize, drv: u32, f: usize, w: u64): bool {
  if ((<u32>(w >> 8) & 0xff) != T_EVENT_AVAIL || <u32>(w >> 48) < 16) return false;
  const vq = load<u32>(f, 8);
  // Same driver, same generation: a queued kick of an earlier owner of the id is dropped unsent.
  const tag = epTag(shard, drv, PSK_EVENT);
  let ps = <usize>load<u32>(ds, DS_PARK_HEAD);
  for (let n = load<u32>(ds, DS_PARK_COUNT); n != 0; n--) {
    const q = ps + PS_FRAME;
    const qw = load<u64>(q);
    if (<u32>load<u16>(ps, PS_KIND) == tag && <u32>load<u16>(ps, PS_AUX) == drv && (<u32>(qw >> 8) & 0xff) == T_EVENT_AVAIL && <u32>(qw >> 48) >= 16 && load<u32>(q, 8) == vq) {
      store<u32>(q, load<u32>(f, 12), 12);
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
 * is answered in the device's order (refuseInOrder).
 */
@inline function deviceAccept(shard: usize, ds: usize, drv: u32, f: usize, w: u64, isRequest: bool): bool {
  const devEp = <u32>load<u16>(ds, DS_ENDPOINT);
  if ((<u32>load<u16>(ds, DS_FLAGS) & DSF_REMOVING) != 0) return refuseInOrder(shard, ds, drv, w, isRequest, R_UNVALIDATED_DEV_NUM);
  const allow = <usize>load<u32>(endpointAt(shard, drv), EP_ALLOW);
  if (allow != 0 && !allowed(allow, <u32>load<u16>(ds, DS_DEV_NUM))) return refuseInOrder(shard, ds, drv, w, isRequest, R_POLICY_DENIED);
  if (<u32>(w >> 48) > <u32>load<u16>(endpointAt(shard, devEp), EP_MAX_MSG)) return refuseInOrder(shard, ds, drv, w, isRequest, R_MSG_SIZE_GT_BUS_MAX);
  const parked = load<u32>(ds, DS_PARK_COUNT);
  if (parked == 0 && forward(shard, ds, drv, f, w, isRequest)) return true;
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
function refuseInOrder(shard: usize, ds: usize, drv: u32, w: u64, isRequest: bool, reason: u32): bool {
  const parked = load<u32>(ds, DS_PARK_COUNT);
  if (!isRequest || (parked == 0 && outstanding(ds) == 0)) return refuse(shard, drv, w, isRequest, reason);
  if (parked == 0 && windowHasRoom(ds)) {
    openRefusal(shard, ds, <u32>(w >> 8) & 0xff, drv, <u32>(w >> 32) & 0xffff, reason);
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
  store<u32>(ps + PS_FRAME + 8, reason);
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
  copyFrame(ps + PS_FRAME + 8, f + 8, <u32>(w >> 48) - 8);
  parkAppend(shard + SH_DEV_LIST, ds + DS_PARK, ps);
  bump(ds + DS_C_PARKED);
  faultMark(FP_PARKED);
  return true;
}

/** Forward a device's parked frames while it can take them. */
function deviceDrainParked(shard: usize, ds: usize): void {
  const q = ds + DS_PARK;
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
      const reason = load<u32>(frame, 8);
      openRefusal(shard, ds, <u32>(w >> 8) & 0xff, drv, <u32>(w >> 32) & 0xffff, reason);
      drop(shard, drv, reason);
    } else if (!forward(shard, ds, drv, frame, load<u64>(frame), (tag & TAG_KIND) == PSK_REQUEST)) {
      break;
    }
    if (isRefusal) store<u32>(ds, load<u32>(ds, DS_PARK_REFUSALS) - 1, DS_PARK_REFUSALS);
    parkedPop(shard, q);
  }
}

/** Retry everything parked: outputs first (they free ring room for nobody else), then devices. */
export function serviceParked(shard: usize): void {
  bindShard(shard);
  outServiceAll(shard);
  for (let q = <usize>load<u32>(shard, SH_DEV_LIST); q != 0; q = <usize>load<u32>(q, PQ_LIST_NEXT)) deviceDrainParked(shard, q - DS_PARK);
  parkListPrune(shard + SH_DEV_LIST);
}

/** A transport request that cannot be routed fails towards its driver and is dropped with `reason`. */
@inline function refuse(shard: usize, drv: u32, w: u64, isRequest: bool, reason: u32): bool {
  if (isRequest && !emitFailure(shard, drv, <u32>(w >> 16) & 0xffff, <u32>(w >> 8) & 0xff, reason, <u32>(w >> 32) & 0xffff)) return false;
  drop(shard, drv, reason);
  return true;
}

/** A frame from a driver endpoint. Returns false to leave it in the ring (backpressure). */
@inline function fromDriver(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  const type = <u32>w & 0xff;
  const id = <u32>(w >> 8) & 0xff;
  const dev = <u32>(w >> 16) & 0xffff;
  if (type & TYPE_BUS) {
    if (dev != 0) { drop(shard, ep, R_BUS_DEV_NUM_NONZERO); return true; }
    if (type & TYPE_RESPONSE) return toControl(shard, ep, f, w);
    if (id == B_GET_DEVICES) return answerGetDevices(shard, ep, f, w);
    if (id == B_PING) return answerPing(shard, ep, f, w);
    if (id & MSG_ID_IMPL_BIT) return toControl(shard, ep, f, w);
    drop(shard, ep, id == B_EVENT_DEVICE ? R_WRONG_DIRECTION : R_UNSUPPORTED_MSG_ID);
    return true;
  }
  if (type & TYPE_RESPONSE) { drop(shard, ep, R_WRONG_DIRECTION); return true; }
  const isEvent = (id & MSG_ID_EVENT_BIT) != 0;
  if ((id & MSG_ID_IMPL_BIT) == 0) {
    if (isEvent) {
      if (id != T_EVENT_AVAIL) {
        drop(shard, ep, id == T_EVENT_CONFIG || id == T_EVENT_USED ? R_WRONG_DIRECTION : R_UNSUPPORTED_MSG_ID);
        return true;
      }
    } else if (id < T_GET_DEVICE_INFO || id > T_GET_SHM) {
      drop(shard, ep, R_UNSUPPORTED_MSG_ID); // unknown standard id: could only time out (PROTOCOL.md §9 item 6)
      return true;
    }
  }
  // Answers it has not drained hold its own new traffic (never anyone else's): looked at once
  // the frame is known to be a well-formed request or event, so a malformed one is still only dropped.
  if (load<u32>(e + EP_OUT, OUT_PARK_COUNT) >= parkLimit()) return driverBacklogged(shard, ep, e, f, w);
  const ds = deviceState(shard, dev);
  // Never attached (or so long ago that its tombstone is gone): no order left to keep.
  if (ds == 0) return refuse(shard, ep, w, !isEvent, R_UNVALIDATED_DEV_NUM);
  if (!isMine(shard, ds)) return toOtherShard(shard, ds, ep, f, w);
  return deviceAccept(shard, ds, ep, f, w, !isEvent);
}

/**
 * The driver's own output has a park limit's worth of frames it has not drained. While it
 * still drains, its ring waits (only its own traffic). Once it has drained nothing for a whole
 * timeout it is stalled: its requests fail (DRIVER_STALLED), in their place in each device's
 * order, its events and bus requests are dropped, so a stuck driver cannot hold the router.
 */
function driverBacklogged(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  if (!outStalled(shard, e + EP_OUT)) return false;
  // A transport request or event with a valid id (fromDriver checked it).
  if ((<u32>(w >> 8) & MSG_ID_EVENT_BIT) == 0) {
    const ds = deviceState(shard, <u32>(w >> 16) & 0xffff);
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
@inline function driverStalled(shard: usize, drv: u32): bool {
  const out = endpointAt(shard, drv) + EP_OUT;
  return load<u32>(out, OUT_PARK_COUNT) >= parkLimit() && outStalledSeenFrom(shard, out);
}

/** A driver's frame for a device another shard owns: through the shard-to-shard ring. */
function toOtherShard(shard: usize, ds: usize, ep: u32, f: usize, w: u64): bool {
  const xs = crossShardOut(shard, <u32>load<u16>(ds, DS_SHARD));
  if (!crossShardRoom(shard, xs) || !outEmit(shard, xs, w, f, <u32>(w >> 48), epTag(shard, ep, XS_TO_DEVICE), ep)) return false;
  faultMark(FP_XS_SENT);
  bump(shard + SH_C_XS_SENT);
  return true;
}

/** The device state of `dev` as a device link numbers it (its own numbering, if it has one), or 0. */
@inline function linkDevice(shard: usize, e: usize, dev: u32): usize {
  const busDevs = <usize>load<u32>(e, EP_BUS_DEVS);
  return busDevs == 0 ? deviceState(shard, dev) : <usize>load<u32>(busDevs + (<usize>dev << 2));
}

/**
 * VMSG_EVT_REQUEST_FAILED from a device link: a device-side bus adapter (a bridge to a bus that
 * cannot carry a request, or whose device took it and never answered) ends one request it
 * holds — router token @RF_TOKEN, msg_id and reason — as one transport failure towards its
 * driver, in order. Consumed by the router either way (counted as terminated, or dropped).
 */
function failedByDevice(shard: usize, ep: u32, e: usize, f: usize, w: u64): void {
  const size = <u32>(w >> 48);
  if (size != RF_SIZE) { drop(shard, ep, size < RF_SIZE ? R_PAYLOAD_TRUNCATED : R_PAYLOAD_LENGTH_MISMATCH); return; }
  const ds = linkDevice(shard, e, <u32>load<u16>(f, RF_DEVICE));
  if (ds == 0) { drop(shard, ep, R_UNVALIDATED_DEV_NUM); return; }
  if (<u32>load<u16>(ds, DS_ENDPOINT) != ep) { drop(shard, ep, R_SPOOFED_DEV_NUM); return; }
  const r = failRequest(shard, ds, <u32>load<u16>(f, RF_TOKEN), <u32>load<u8>(f, RF_MSG_ID), <u32>load<u8>(f, RF_REASON));
  if (r < 0) { drop(shard, ep, <u32>(-r)); return; }
  count(shard, ep, EC_TERMINATED);
}

/** A frame from a device endpoint. Returns false to leave it in the ring (backpressure). */
@inline function fromDevice(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  const type = <u32>w & 0xff;
  const id = <u32>(w >> 8) & 0xff;
  const dev = <u32>(w >> 16) & 0xffff;
  if (type & TYPE_BUS) {
    if (dev != 0) { drop(shard, ep, R_BUS_DEV_NUM_NONZERO); return true; }
    if ((type & TYPE_RESPONSE) == 0 && id == B_PING) return answerPing(shard, ep, f, w);
    if ((type & TYPE_RESPONSE) == 0 && id == VMSG_EVT_REQUEST_FAILED) { failedByDevice(shard, ep, e, f, w); return true; }
    return toControl(shard, ep, f, w); // EVENT_DEVICE of an external bus, answers to our own requests, impl-defined
  }
  let ds: usize;
  const busDevs = <usize>load<u32>(e, EP_BUS_DEVS);
  if (busDevs == 0) {
    ds = deviceState(shard, dev);
  } else {
    // A link with its own numbering: look the device up among this link's, and from here on
    // the frame carries the router's number (what its driver knows).
    ds = <usize>load<u32>(busDevs + (<usize>dev << 2));
    if (ds != 0) w = withDevNum(w, <u32>load<u16>(ds, DS_DEV_NUM));
  }
  if (ds == 0) { drop(shard, ep, R_UNVALIDATED_DEV_NUM); return true; }
  if (<u32>load<u16>(ds, DS_ENDPOINT) != ep) { drop(shard, ep, R_SPOOFED_DEV_NUM); return true; }
  if (type & TYPE_RESPONSE) {
    if (id & MSG_ID_EVENT_BIT) { drop(shard, ep, R_RESPONSE_TO_EVENT); return true; }
    const temp = shard + SH_TEMP;
    const r = matchResponse(shard, ds, f, w, temp);
    if (r == MATCH_DELIVER) {
      const ent = <usize>load<u32>(temp);
      const drv = <u32>load<u16>(ent, CE_DRIVER);
      if (!emitToEndpoint(shard, drv, withToken(w, <u32>load<u16>(ent, CE_DRV_TOKEN)), f, <u32>(w >> 48))) return false;
      headDelivered(shard, ds, ent);
      return true;
    }
    if (r == MATCH_HELD) return true;
    if (r == MATCH_NO_POOL) return false;
    drop(shard, ep, <u32>(-r));
    return true;
  }
  if ((id & MSG_ID_EVENT_BIT) == 0) { drop(shard, ep, R_WRONG_DIRECTION); return true; } // devices send no requests
  if ((id & MSG_ID_IMPL_BIT) == 0 && id != T_EVENT_CONFIG && id != T_EVENT_USED) {
    drop(shard, ep, id == T_EVENT_AVAIL ? R_WRONG_DIRECTION : R_UNSUPPORTED_MSG_ID);
    return true;
  }
  const bound = <u32>load<u16>(ds, DS_BOUND_DRIVER);
  if (bound == 0) {
    // A removed device's state is unbound at removal: its events are of an unvalidated number.
    drop(shard, ep, (<u32>load<u16>(ds, DS_FLAGS) & DSF_REMOVING) != 0 ? R_UNVALIDATED_DEV_NUM : R_NO_BOUND_DRIVER);
    return true;
  }
  if (!emitToEndpoint(shard, bound - 1, withToken(w, 0), f, <u32>(w >> 48))) return false;
  bump(ds + DS_C_EVENTS_OUT);
  return true;
}

/**
 * Bytes the frames of this walk claimed beyond the buffer they came in (dropped,
 * MSG_SIZE_GT_BUFFER): the walks add every frame's msg_size, and drainDone takes this back,
 * so a malformed frame counts at most its buffer while a valid one costs a single add.
 */
let gRxOverclaim: u32 = 0;

/**
 * One frame at slot `local` of a source (frame `f`, header `w`, `room` bytes of buffer): record
 * it for the capture, check its size, route it. False when it must stay in the ring
 * (backpressure; counted as a stall). Inlined into both walks below.
 */
@inline function takeFrame(shard: usize, ep: u32, e: usize, cur: usize, kind: u32, maxMsg: u32, local: u32, f: usize, w: u64, room: u32): bool {
  const size = <u32>(w >> 48);
  // Recorded before routing, so a capture lists a frame's arrival before what it caused;
  // once only, though a frame held back (backpressure) is looked at again later.
  if (captureCursor() != 0 && load<u32>(cur, CUR_CAPTURED) != local + 1) {
    captureFrame(shard, ep, CAPD_TO_ROUTER, f, size < 8 ? 8 : size > room ? room : size);
    store<u32>(cur, local + 1, CUR_CAPTURED);
  }
  let ok = true;
  if (size < 8) drop(shard, ep, R_MSG_SIZE_LT_HEADER);
  else if (size > room) { drop(shard, ep, R_MSG_SIZE_GT_BUFFER); gRxOverclaim += size - room; }
  else if (size > maxMsg) drop(shard, ep, R_MSG_SIZE_GT_BUS_MAX);
  else if (kind == EPK_DRIVER) ok = fromDriver(shard, ep, e, f, w);
  else if (kind == EPK_DEVICE) ok = fromDevice(shard, ep, e, f, w);
  if (!ok) {
    count(shard, ep, EC_STALLS);
    bump(shard + SH_C_STALLS);
  }
  return ok;
}

/** Take up to `budget` frames from endpoint `ep`'s ring. */
function drainEndpoint(shard: usize, ep: u32, budget: u32): u32 {
  const e = endpointAt(shard, ep);
  const cur = <usize>load<u32>(e, EP_IN_CURSOR);
  let avail = consumeAvailable(cur);
  if (avail == 0) return 0;
  // Packed rings take their own walk, out of line: any packed-ring arithmetic in this loop
  // measured 9-12 % off router-core on rings of one frame per slot.
  if (load<u32>(cur, CUR_MAX_UNITS) > 1) return drainPacked(shard, ep, e, cur, avail, budget);
  store<u32>(shard, 1, SH_BOUNDED);
  walkBegin(shard, ep, cur);
  if (avail > budget) avail = budget;
  const kind = <u32>load<u8>(e, EP_KIND);
  const maxMsg = <u32>load<u16>(e, EP_MAX_MSG);
  // The run of readable slots is walked with the index in a local; the cursor is written once.
  const slots = <usize>load<u32>(cur, CUR_SLOTS);
  const stride = load<u32>(cur, CUR_STRIDE);
  const cap = load<u32>(cur, CUR_CAP);
  let local = load<u32>(cur, CUR_LOCAL);
  let n: u32 = 0;
  let bytes: u32 = 0; // summed in a register, stored once per batch
  while (n < avail) {
    const f = slots + <usize>local * <usize>stride;
    const w = load<u64>(f);
    if (!takeFrame(shard, ep, e, cur, kind, maxMsg, local, f, w, stride)) break;
    bytes += <u32>(w >> 48);
    if (++local == cap) local = 0;
    n++;
    store<u32>(shard, n, SH_WALK_N);
    faultFrameDone(shard);
  }
  return drainDone(shard, ep, cur, local, n, n, bytes);
}

/** drainEndpoint for a packed ring: a frame takes frameUnits(msg_size) units. */
function drainPacked(shard: usize, ep: u32, e: usize, cur: usize, avail: u32, budget: u32): u32 {
  const kind = <u32>load<u8>(e, EP_KIND);
  const maxMsg = <u32>load<u16>(e, EP_MAX_MSG);
  const slots = <usize>load<u32>(cur, CUR_SLOTS);
  const stride = load<u32>(cur, CUR_STRIDE);
  const cap = load<u32>(cur, CUR_CAP);
  const maxUnits = load<u32>(cur, CUR_MAX_UNITS);
  let local = load<u32>(cur, CUR_LOCAL);
  let n: u32 = 0;
  let used: u32 = 0;
  let bytes: u32 = 0;
  store<u32>(shard, 1, SH_BOUNDED);
  walkBegin(shard, ep, cur);
  while (used < avail && n < budget) {
    const f = slots + <usize>local * <usize>stride;
    const w = load<u64>(f);
    const size = <u32>(w >> 48);
    // The units come from the size, as the producer counted them; a frame that claims more
    // than was published is cut short (and dropped below: bigger than its buffer).
    let units = frameUnits(size, maxUnits);
    if (units > avail - used) units = avail - used;
    const room = units * stride;
    if (!takeFrame(shard, ep, e, cur, kind, maxMsg, local, f, w, room)) break;
    bytes += size;
    local += units;
    if (local >= cap) local -= cap;
    used += units;
    n++;
    store<u32>(shard, used, SH_WALK_USED);
    store<u32>(shard, n, SH_WALK_N);
    faultFrameDone(shard);
  }
  return drainDone(shard, ep, cur, local, used, n, bytes);
}

/**
 * A walk of endpoint `ep`'s ring starts: what it routes is recorded frame by frame (SH_WALK_N,
 * SH_WALK_USED), because the ring's consumer index moves only at its end — a shard that dies
 * in between would otherwise route those frames a second time (recoverWalk).
 */
@inline function walkBegin(shard: usize, ep: u32, cur: usize): void {
  store<u32>(shard, ep, SH_WALK_EP);
  store<u32>(shard, 0, SH_WALK_N);
  store<u32>(shard, 0, SH_WALK_USED);
  store<u32>(shard, <u32>cur, SH_WALK_CUR);
}

/** After a walk that stopped at slot `local`: capture mark, free `used` slots, count `n` frames of `bytes`. */
@inline function drainDone(shard: usize, ep: u32, cur: usize, local: u32, used: u32, n: u32, bytes: u32): u32 {
  store<u32>(shard, 0, SH_BOUNDED);
  // Keep the capture mark only for a frame left in the ring (`local`); any other was consumed.
  const mark = load<u32>(cur, CUR_CAPTURED);
  if (mark != 0 && mark != local + 1) store<u32>(cur, 0, CUR_CAPTURED);
  // The freed slots are published later (markDirty): after the frames just routed, so the
  // consumer-index store does not make the outputs wait for this ring's line.
  consumeAdvance(cur, used);
  store<u32>(shard, 0, SH_WALK_CUR);
  markDirty(shard, cur);
  if (n != 0) {
    const c = epCounter(shard, ep, EC_RX);
    store<u64>(c, load<u64>(c) + n);
    const b = epCounter(shard, ep, EC_RX_BYTES);
    store<u64>(b, load<u64>(b) + (bytes - gRxOverclaim));
    gRxOverclaim = 0;
  }
  return n;
}

/**
 * A restarted shard, before it routes: the walk its predecessor died in (if any) ends as it
 * would have — the frames it routed leave the ring and are counted as taken; the frame it was
 * in the middle of, and those after, are taken again. Returns the frames recovered.
 */
export function recoverWalk(shard: usize): u32 {
  bindShard(shard);
  store<u32>(shard, 0, SH_BOUNDED);
  const cur = <usize>load<u32>(shard, SH_WALK_CUR);
  if (cur == 0) return 0;
  const ep = load<u32>(shard, SH_WALK_EP);
  const n = load<u32>(shard, SH_WALK_N);
  // Its frames are counted; their bytes are not (the walk kept its sum in a register).
  drainDone(shard, ep, cur, load<u32>(cur, CUR_LOCAL), load<u32>(cur, CUR_MAX_UNITS) > 1 ? load<u32>(shard, SH_WALK_USED) : n, n, 0);
  flushDirty(shard);
  return n;
}

/** Take up to `budget` frames another shard sent this one. */
function drainCrossShard(shard: usize, from: u32, budget: u32): u32 {
  const cur = <usize>load<u32>(<usize>load<u32>(shard, SH_XS_IN) + (<usize>from << 2));
  if (cur == 0) return 0;
  let n: u32 = 0;
  while (n < budget) {
    const slot = consumePeek(cur);
    if (slot == 0) break;
    const tag = <u32>load<u16>(slot, XT_KIND);
    const ep = <u32>load<u16>(slot, XT_EP);
    const f = slot + XT_SIZE;
    const w = load<u64>(f);
    let ok: bool;
    if (!epTagLive(shard, ep, tag)) {
      // The driver it came from, or the endpoint it goes to, detached meanwhile (maybe the id
      // has a new owner): neither forwarded nor delivered.
      drop(shard, ep, (tag & TAG_KIND) == XS_TO_DEVICE ? R_SOURCE_GONE : R_ENDPOINT_GONE);
      ok = true;
    } else if ((tag & TAG_KIND) == XS_TO_DEVICE) {
      const isRequest = (<u32>(w >> 8) & MSG_ID_EVENT_BIT) == 0;
      const ds = deviceState(shard, <u32>(w >> 16) & 0xffff);
      // The device may have gone (or moved) since the sending shard looked it up.
      if (ds == 0 || !isMine(shard, ds)) ok = refuse(shard, ep, w, isRequest, R_UNVALIDATED_DEV_NUM);
      else if (isRequest && driverStalled(shard, ep)) ok = refuseInOrder(shard, ds, ep, w, true, R_DRIVER_STALLED);
      else ok = deviceAccept(shard, ds, ep, f, w, isRequest);
    } else {
      ok = emitToEndpoint(shard, ep, w, f, <u32>(w >> 48));
    }
    if (!ok) { bump(shard + SH_C_STALLS); break; }
    consumeRelease(cur);
    faultXsDone(shard);
    n++;
  }
  cursorFlush(cur);
  return n;
}

/**
 * Route up to `budget` frames. Sources are visited round-robin, at most SH_SOURCE_BUDGET
 * frames each per visit, so one busy endpoint cannot starve the others. Returns frames taken
 * (0 = idle). Everything written is published before returning.
 */
export function routeSome(shard: usize, budget: u32): u32 {
  bindShard(shard);
  bump(shard + SH_C_LOOPS);
  if (load<u32>(shard, SH_DEV_LIST) != 0 || load<u32>(shard, SH_OUT_LIST) != 0) serviceParked(shard);
  const sources = <usize>load<u32>(shard, SH_SOURCES);
  const nsrc = load<u32>(shard, SH_NUM_SOURCES);
  const total = nsrc + load<u32>(shard, SH_NUM_SHARDS);
  const per = load<u32>(shard, SH_SOURCE_BUDGET);
  let rr = load<u32>(shard, SH_RR);
  let done: u32 = 0;
  while (done < budget) {
    let pass: u32 = 0;
    for (let k: u32 = 0; k < total && done + pass < budget; k++) {
      if (rr >= total) rr = 0;
      if (rr < nsrc) pass += drainEndpoint(shard, load<u32>(sources + (<usize>rr << 2)), per);
      else pass += drainCrossShard(shard, rr - nsrc, per);
      rr++;
    }
    done += pass;
    if (pass == 0) break;
    // A light pass (no source had a whole budget waiting): publish what it produced before
    // looking again, so a waiting consumer sees a lone frame one pass earlier (rtt). Under load
    // the batches publish themselves and the rest goes out at the end of the call.
    if (pass < per) flushDirty(shard);
  }
  store<u32>(shard, rr, SH_RR);
  flushDirty(shard);
  if (done != 0) store<u64>(shard + SH_C_FRAMES, load<u64>(shard + SH_C_FRAMES) + done);
  return done;
}
