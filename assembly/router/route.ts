// The routing step (docs/PROTOCOL.md §7): take frames from this shard's sources in bounded,
// round-robin batches, each endpoint's ring walked once per visit (packed rings on a walk of
// their own), the walk recorded so a restarted shard neither loses nor repeats a frame, and
// frames from other shards drained from their rings. What a frame is and where it goes is
// classify.ts; whether its device takes it now, admission.ts. No valid frame is lost: when its
// destination cannot take it, it is parked, or left in its source ring (backpressure).
import {
  SH_NUM_SOURCES, SH_SOURCES, SH_RR, SH_XS_IN, SH_NUM_SHARDS, SH_SOURCE_BUDGET,
  SH_DEV_LIST, SH_OUT_LIST, SH_BOUNDED, SH_WALK_CUR, SH_WALK_EP, SH_WALK_N, SH_WALK_USED, SH_C_LOOPS, SH_C_FRAMES, SH_C_STALLS,
  EP_KIND, EP_MAX_MSG, EP_IN_CURSOR, EP_IN_DIRTY, EP_IN_CAPTURED, EPK_FREE, EPK_DRIVER, EPK_DEVICE, DS_PARK, PQ_LIST_NEXT, TAG_KIND, XT_KIND, XT_EP, XT_SIZE, XS_TO_DEVICE,
  EC_RX, EC_RX_BYTES, EC_STALLS, CAPD_TO_ROUTER, PS_AUX, PS_KIND, PS_FRAME,
  R_MSG_SIZE_LT_HEADER, R_MSG_SIZE_GT_BUFFER, R_MSG_SIZE_GT_BUS_MAX, R_ENDPOINT_GONE,
} from './layout';
import { HDR_SIZE, hdrMsgSize } from '../header';
import {
  cursorSlotAt, consumePeek, consumeRelease, consumeAvailable, consumeAdvance, cursorFlush, frameUnits,
  runStart, ringSlots, slotStride, ringCapacity, maxUnits, isPacked, slotAt, slotNext, slotAfter,
} from '../ring/cursor';
import { endpointAt, count, drop, bump, markDirty, flushDirty, epCounter, bindShard, captureCursor, epTagLive } from './context';
import { captureFrame } from './capture';
import { parkListPrune } from './parked';
import { outServiceAll } from './output';
import { emitToEndpoint } from './emit';
import { faultFrameDone, faultXsDone } from './faults';
import { fromDriver, fromDevice, answerNow } from './classify';
import { deviceDrainParked, acceptFromShard, requestNow } from './admission';
import { xsCreditOf, xsCreditDone, xsCreditDoneCount, xsCreditWake, xsWaiting, xsWaitingHead, xsWait, xsWaitingDone } from './xs-credit';

/**
 * Bytes the frames of this walk claimed beyond the buffer they came in (dropped,
 * MSG_SIZE_GT_BUFFER): the walks add every frame's msg_size, and drainDone takes this back,
 * so a malformed frame counts at most its buffer while a valid one costs a single add.
 */
let gRxOverclaim: u32 = 0;

/**
 * One frame at slot `local` of a source (frame `f`, header `w`, `room` bytes of buffer): record
 * it for the capture, check its size, route it. False when it must stay in the ring
 * (backpressure; counted as a stall). Inlined into takeSlot and takeOut (a freed endpoint's
 * walks) and into the out-of-line takeDriverSlot, takeDeviceSlot, takeDriverFrame and takeDeviceFrame.
 */
@inline function takeFrame(shard: usize, ep: u32, e: usize, cur: usize, kind: u32, maxMsg: u32, local: u32, f: usize, w: u64, room: u32): bool {
  const size = hdrMsgSize(w);
  // Recorded before routing, so a capture lists a frame's arrival before what it caused.
  if (captureCursor() != 0) captureArrival(shard, ep, e, local, f, size, room);
  let ok = true;
  if (size < HDR_SIZE) drop(shard, ep, R_MSG_SIZE_LT_HEADER);
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

/**
 * A walk's common frame, without a call: a driver's standard request (requestNow) or a device's
 * answer in order (answerNow); true when taken. Any other frame of those walks takes the whole
 * way, out of line (takeOut): with the rare paths' calls inlined into the walk, the common path
 * kept its values in stack slots (a call saves every live register). A size takeFrame drops
 * fails `size - HDR_SIZE < fit` (sizeFit), and so does every frame while capturing (`fit` is 0
 * then: walkMax): the whole way, where those are handled. `kind` is a constant in each walk.
 */
@inline function takeNow(shard: usize, ep: u32, e: usize, kind: u32, f: usize, w: u64, fit: u32): bool {
  if (hdrMsgSize(w) - HDR_SIZE >= fit) return false;
  if (kind == EPK_DRIVER) return requestNow(shard, ep, e, f, w);
  if (kind == EPK_DEVICE) return answerNow(shard, ep, e, f, w);
  return false;
}

/** The frames takeNow did not take: the whole way (out of line for the two kinds it serves). */
@inline function takeOut(shard: usize, ep: u32, e: usize, cur: usize, kind: u32, maxMsg: u32, local: u32, f: usize, w: u64, room: u32): bool {
  if (kind == EPK_DRIVER) return takeDriverFrame(shard, ep, e, cur, maxMsg, local, f, w, room);
  if (kind == EPK_DEVICE) return takeDeviceFrame(shard, ep, e, cur, maxMsg, local, f, w, room);
  return takeFrame(shard, ep, e, cur, kind, maxMsg, local, f, w, room);
}

/**
 * The sizes takeFrame routes, HDR_SIZE..min(room, maxMsg), as one unsigned test for takeNow:
 * `size - HDR_SIZE < fit` (a size under HDR_SIZE wraps to a large number). 0 when none fits.
 */
@inline function sizeFit(room: u32, maxMsg: u32): u32 {
  const most = room < maxMsg ? room : maxMsg;
  return most < HDR_SIZE ? 0 : most - HDR_SIZE + 1;
}

/**
 * The bound takeNow tests a walk's frames with: the source's max size, or 0 while capturing
 * (routeSome captures for a whole call, bindShard), so that one test per frame sends every
 * frame the whole way then.
 */
@inline function walkMax(maxMsg: u32): u32 {
  return captureCursor() != 0 ? 0 : maxMsg;
}

/**
 * takeNow's bound for the slot walk under way (sizeFit of the slot and walkMax), set once per
 * walk. A global, so each frame compares with it in place: as a local TurboFan recomputed it
 * inside the loop (a register short), and as a parameter the walk measured slower.
 */
let gWalkFit: u32 = 0;

/** What takeSlot returns for a frame that stays in its ring (backpressure); any other value is the frame's msg_size. */
const TAKE_STALL: u32 = 0xffffffff;

/**
 * takeFrame of the frame at slot `local` of a slot ring, for the slot walk: it reads the frame,
 * the slot size and the source's max size itself, so that nothing of the frame (its address,
 * header, size) is live where takeNow's outcome joins this path: the walk's common frame then
 * keeps them in registers instead of loading them back at the join. What it routes, counts and
 * captures is what it read here (takeNow only looked). Its msg_size as routed, or TAKE_STALL.
 */
@inline function takeSlot(shard: usize, ep: u32, e: usize, cur: usize, kind: u32, local: u32): u32 {
  const f = cursorSlotAt(cur, local);
  const w = load<u64>(f);
  if (!takeFrame(shard, ep, e, cur, kind, <u32>load<u16>(e, EP_MAX_MSG), local, f, w, slotStride(cur))) return TAKE_STALL;
  return hdrMsgSize(w);
}

/** The frames of a slot walk takeNow did not take: takeSlot (out of line for the two kinds takeNow serves). */
@inline function takeOutSlot(shard: usize, ep: u32, e: usize, cur: usize, kind: u32, local: u32): u32 {
  if (kind == EPK_DRIVER) return takeDriverSlot(shard, ep, e, cur, local);
  if (kind == EPK_DEVICE) return takeDeviceSlot(shard, ep, e, cur, local);
  return takeSlot(shard, ep, e, cur, kind, local);
}

/** takeSlot of a driver's frame, out of line: what requestNow did not forward. */
function takeDriverSlot(shard: usize, ep: u32, e: usize, cur: usize, local: u32): u32 {
  return takeSlot(shard, ep, e, cur, EPK_DRIVER, local);
}

/** takeSlot of a device's frame, out of line: what answerNow did not deliver. */
function takeDeviceSlot(shard: usize, ep: u32, e: usize, cur: usize, local: u32): u32 {
  return takeSlot(shard, ep, e, cur, EPK_DEVICE, local);
}

/** takeFrame of a driver's frame, out of line: what requestNow did not forward. */
function takeDriverFrame(shard: usize, ep: u32, e: usize, cur: usize, maxMsg: u32, local: u32, f: usize, w: u64, room: u32): bool {
  return takeFrame(shard, ep, e, cur, EPK_DRIVER, maxMsg, local, f, w, room);
}

/** takeFrame of a device's frame, out of line: what answerNow did not deliver. */
function takeDeviceFrame(shard: usize, ep: u32, e: usize, cur: usize, maxMsg: u32, local: u32, f: usize, w: u64, room: u32): bool {
  return takeFrame(shard, ep, e, cur, EPK_DEVICE, maxMsg, local, f, w, room);
}

/** A frame at slot `local` of endpoint `ep` (entry `e`) reaches the capture, once only, though a frame held back (backpressure) is looked at again later. Out of line: one test per frame when not capturing. */
function captureArrival(shard: usize, ep: u32, e: usize, local: u32, f: usize, size: u32, room: u32): void {
  if (load<u32>(e, EP_IN_CAPTURED) == local + 1) return;
  captureFrame(shard, ep, CAPD_TO_ROUTER, f, size < HDR_SIZE ? HDR_SIZE : size > room ? room : size);
  store<u32>(e, local + 1, EP_IN_CAPTURED);
}

/** Take up to `budget` frames from endpoint `ep`'s ring. */
function drainEndpoint(shard: usize, ep: u32, budget: u32): u32 {
  const e = endpointAt(shard, ep);
  const cur = <usize>load<u32>(e, EP_IN_CURSOR);
  let avail = consumeAvailable(cur);
  if (avail == 0) return 0;
  const kind = <u32>load<u8>(e, EP_KIND);
  // One walk per endpoint kind and ring shape, each with only its own classification inlined:
  // a single loop holding both fromDriver and fromDevice kept the header word and the walk's
  // state in stack slots. Packed rings walk out of line too: any packed-ring arithmetic in the
  // one-frame-per-slot loop measured 9-12 % off router-core.
  if (isPacked(cur)) {
    if (kind == EPK_DRIVER) return drainPackedDriver(shard, ep, e, cur, avail, budget);
    if (kind == EPK_DEVICE) return drainPackedDevice(shard, ep, e, cur, avail, budget);
    return drainPackedOther(shard, ep, e, cur, avail, budget);
  }
  if (avail > budget) avail = budget;
  if (kind == EPK_DRIVER) return drainDriver(shard, ep, e, cur, avail);
  if (kind == EPK_DEVICE) return drainDevice(shard, ep, e, cur, avail);
  return drainOther(shard, ep, e, cur, avail);
}

function drainDriver(shard: usize, ep: u32, e: usize, cur: usize, avail: u32): u32 {
  return walkSlots(shard, ep, e, cur, avail, EPK_DRIVER);
}
function drainDevice(shard: usize, ep: u32, e: usize, cur: usize, avail: u32): u32 {
  return walkSlots(shard, ep, e, cur, avail, EPK_DEVICE);
}
/** A source of neither kind (its endpoint just freed): its frames are checked, counted and consumed unrouted. */
function drainOther(shard: usize, ep: u32, e: usize, cur: usize, avail: u32): u32 {
  return walkSlots(shard, ep, e, cur, avail, EPK_FREE);
}

/** Walk `avail` frames of a ring of one frame per slot; `kind` is a constant in each caller above. */
@inline function walkSlots(shard: usize, ep: u32, e: usize, cur: usize, avail: u32, kind: u32): u32 {
  store<u32>(shard, 1, SH_BOUNDED);
  walkBegin(shard, ep, cur);
  const maxMsg = <u32>load<u16>(e, EP_MAX_MSG);
  // The run of readable slots is walked with the index in a local; the cursor is written once.
  const slots = ringSlots(cur);
  const stride = slotStride(cur);
  const cap = ringCapacity(cur);
  let local = runStart(cur);
  gWalkFit = sizeFit(stride, walkMax(maxMsg));
  let n: u32 = 0;
  let bytes: u32 = 0; // summed in a register, stored once per batch
  while (n < avail) {
    const f = slotAt(slots, stride, local);
    const w = load<u64>(f);
    // The common frame has a back edge of its own: joined with the out-of-line call's result
    // it took moves and jumps to merge the two.
    if (takeNow(shard, ep, e, kind, f, w, gWalkFit)) {
      bytes += hdrMsgSize(w);
      local = slotNext(local, cap);
      n++;
      store<u32>(shard, n, SH_WALK_N);
      faultFrameDone(shard);
      continue;
    }
    const took = takeOutSlot(shard, ep, e, cur, kind, local);
    if (took == TAKE_STALL) break;
    bytes += took;
    local = slotNext(local, cap);
    n++;
    store<u32>(shard, n, SH_WALK_N);
    faultFrameDone(shard);
  }
  return drainDone(shard, ep, e, cur, local, n, n, bytes);
}

function drainPackedDriver(shard: usize, ep: u32, e: usize, cur: usize, avail: u32, budget: u32): u32 {
  return walkPacked(shard, ep, e, cur, avail, budget, EPK_DRIVER);
}
function drainPackedDevice(shard: usize, ep: u32, e: usize, cur: usize, avail: u32, budget: u32): u32 {
  return walkPacked(shard, ep, e, cur, avail, budget, EPK_DEVICE);
}
function drainPackedOther(shard: usize, ep: u32, e: usize, cur: usize, avail: u32, budget: u32): u32 {
  return walkPacked(shard, ep, e, cur, avail, budget, EPK_FREE);
}

/** walkSlots for a packed ring: a frame takes frameUnits(msg_size) units. */
@inline function walkPacked(shard: usize, ep: u32, e: usize, cur: usize, avail: u32, budget: u32, kind: u32): u32 {
  const maxMsg = <u32>load<u16>(e, EP_MAX_MSG);
  const fitMax = walkMax(maxMsg);
  const slots = ringSlots(cur);
  const stride = slotStride(cur);
  const cap = ringCapacity(cur);
  const most = maxUnits(cur);
  let local = runStart(cur);
  let n: u32 = 0;
  let used: u32 = 0;
  let bytes: u32 = 0;
  store<u32>(shard, 1, SH_BOUNDED);
  walkBegin(shard, ep, cur);
  while (used < avail && n < budget) {
    const f = slotAt(slots, stride, local);
    const w = load<u64>(f);
    const size = hdrMsgSize(w);
    // The units come from the size, as the producer counted them; a frame that claims more
    // than was published is cut short (and dropped below: bigger than its buffer).
    let units = frameUnits(size, most);
    if (units > avail - used) units = avail - used;
    const room = units * stride;
    // The common frame's own back edge, as in drainOther.
    if (takeNow(shard, ep, e, kind, f, w, sizeFit(room, fitMax))) {
      bytes += size;
      local = slotAfter(local, units, cap);
      used += units;
      n++;
      store<u32>(shard, used, SH_WALK_USED);
      store<u32>(shard, n, SH_WALK_N);
      faultFrameDone(shard);
      continue;
    }
    if (!takeOut(shard, ep, e, cur, kind, maxMsg, local, f, w, room)) break;
    bytes += size;
    local = slotAfter(local, units, cap);
    used += units;
    n++;
    store<u32>(shard, used, SH_WALK_USED);
    store<u32>(shard, n, SH_WALK_N);
    faultFrameDone(shard);
  }
  return drainDone(shard, ep, e, cur, local, used, n, bytes);
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

/** After a walk of endpoint `ep` (entry `e`) that stopped at slot `local`: capture mark, free `used` slots, count `n` frames of `bytes`. */
@inline function drainDone(shard: usize, ep: u32, e: usize, cur: usize, local: u32, used: u32, n: u32, bytes: u32): u32 {
  store<u32>(shard, 0, SH_BOUNDED);
  // Keep the capture mark only for a frame left in the ring (`local`); any other was consumed.
  const mark = load<u32>(e, EP_IN_CAPTURED);
  if (mark != 0 && mark != local + 1) store<u32>(e, 0, EP_IN_CAPTURED);
  // The freed slots are published later (markDirty): after the frames just routed, so the
  // consumer-index store does not make the outputs wait for this ring's line.
  consumeAdvance(cur, used);
  store<u32>(shard, 0, SH_WALK_CUR);
  markDirty(shard, cur, e, EP_IN_DIRTY);
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
  drainDone(shard, ep, endpointAt(shard, ep), cur, runStart(cur), isPacked(cur) ? load<u32>(shard, SH_WALK_USED) : n, n, 0);
  flushDirty(shard);
  return n;
}

/** Accept what waits from shard `from` (xs-credit.ts), in order, up to `budget` frames; stops at the first that must wait on. */
function drainXsWaiting(shard: usize, xq: usize, budget: u32): void {
  for (let n: u32 = 0; n < budget && xsWaiting(xq) != 0; n++) {
    const ps = xsWaitingHead(xq);
    const f = ps + PS_FRAME;
    if (!acceptFromShard(shard, <u32>load<u16>(ps, PS_AUX), <u32>load<u16>(ps, PS_KIND), f, load<u64>(f))) break;
    xsWaitingDone(shard, xq);
    faultXsDone(shard);
  }
}

/** Take up to `budget` frames another shard sent this one. */
function drainCrossShard(shard: usize, from: u32, budget: u32): u32 {
  const cur = <usize>load<u32>(<usize>load<u32>(shard, SH_XS_IN) + (<usize>from << 2));
  if (cur == 0) return 0;
  // Frames for devices that could not be accepted when they came go first (they are older).
  const xq = xsCreditOf(shard, from);
  const doneBefore = xsCreditDoneCount(xq);
  if (xsWaiting(xq) != 0) drainXsWaiting(shard, xq, budget);
  let n: u32 = 0;
  while (n < budget) {
    const slot = consumePeek(cur);
    if (slot == 0) break;
    const tag = <u32>load<u16>(slot, XT_KIND);
    const ep = <u32>load<u16>(slot, XT_EP);
    const f = slot + XT_SIZE;
    const w = load<u64>(f);
    let ok: bool;
    if ((tag & TAG_KIND) == XS_TO_DEVICE) {
      // Never left at the head of the ring, where it would hold back the answers behind it: what
      // cannot be accepted now (or must stay behind older waiting ones) waits apart, in order.
      if (xsWaiting(xq) == 0 && acceptFromShard(shard, ep, tag, f, w)) { xsCreditDone(xq); ok = true; }
      else ok = xsWait(shard, xq, slot);
    } else if (!epTagLive(shard, ep, tag)) {
      // The endpoint it goes to detached meanwhile (maybe the id has a new owner): not delivered.
      drop(shard, ep, R_ENDPOINT_GONE);
      ok = true;
    } else {
      ok = emitToEndpoint(shard, ep, w, f, hdrMsgSize(w));
    }
    if (!ok) { bump(shard + SH_C_STALLS); break; }
    consumeRelease(cur);
    faultXsDone(shard);
    n++;
  }
  cursorFlush(cur);
  xsCreditWake(shard, xq, cur, doneBefore);
  return n;
}

/** Retry everything parked: outputs first (they free ring room for nobody else), then devices. */
export function serviceParked(shard: usize): void {
  bindShard(shard);
  outServiceAll(shard);
  for (let q = <usize>load<u32>(shard, SH_DEV_LIST); q != 0; q = <usize>load<u32>(q, PQ_LIST_NEXT)) deviceDrainParked(shard, q - DS_PARK);
  parkListPrune(shard + SH_DEV_LIST);
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
