// Control-plane operations a shard runs on its own tables, between routing steps, when its TS
// loop takes a command from the control ring (src/router/control.ts): attach/detach of
// endpoints and devices, hotplug events, deadline expiry.
import {
  SH_NUM_SOURCES, SH_SOURCES, SH_DEVICES, SH_NUM_DEVICES, SH_DEV_LIST, SH_RR,
  EP_KIND, EP_OUT, EP_ALLOW, EPK_DRIVER, DS_FLAGS, DSF_REMOVING, DS_PARK, DS_PARK_COUNT, DS_PARK_REFUSALS, DS_BOUND_DRIVER,
  PQ_LIST_NEXT, PS_AUX, PS_KIND, PS_FRAME, PSK_EVENT, PSK_REFUSAL, TAG_KIND, R_SOURCE_GONE, R_DEVICE_REMOVED, R_ENDPOINT_GONE, R_TIMEOUT, SH_OUT_LIST,
} from './layout';
import { hdrMsgId, hdrDevNum, hdrToken, hdrMsgSize } from '../header';
import { endpointAt, drop, flushDirty, bindShard, epTagLive } from './context';
import { parkedCount, parkedHead, parkedPop, parkListRemove, parkListPrune, parkedRemoveAux, parkedCountKind } from './parked';
import { outDiscardParked, outServiceAll } from './output';
import { emitFailure, emitEventDevice, emitToEndpoint } from './emit';
import { failWaiting, outstanding, releaseInOrder, forgetEntries } from './correlate';

/** Start reading endpoint `ep`'s ring. */
export function addSource(shard: usize, ep: u32): void {
  bindShard(shard);
  const n = load<u32>(shard, SH_NUM_SOURCES);
  store<u32>(<usize>load<u32>(shard, SH_SOURCES) + (<usize>n << 2), ep);
  store<u32>(shard, n + 1, SH_NUM_SOURCES);
}

/** Stop reading endpoint `ep`; frames parked for it are dropped (ENDPOINT_GONE). Returns how many. */
export function removeSource(shard: usize, ep: u32): u32 {
  bindShard(shard);
  const list = <usize>load<u32>(shard, SH_SOURCES);
  const n = load<u32>(shard, SH_NUM_SOURCES);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(list + (<usize>i << 2)) == ep) {
      // Keep the order of the others (round-robin fairness stays predictable).
      for (let j = i; j + 1 < n; j++) store<u32>(list + (<usize>j << 2), load<u32>(list + (<usize>(j + 1) << 2)));
      store<u32>(shard, n - 1, SH_NUM_SOURCES);
      store<u32>(shard, 0, SH_RR);
      break;
    }
  }
  const dropped = outDiscardParked(shard, endpointAt(shard, ep) + EP_OUT);
  for (let i: u32 = 0; i < dropped; i++) drop(shard, ep, R_ENDPOINT_GONE);
  outServiceAll(shard); // unlinks the emptied output
  flushDirty(shard);
  return dropped;
}

/**
 * A driver endpoint is detaching (EPF_CLOSING is set and its shard no longer reads it): drop
 * its frames parked before this shard's devices (SOURCE_GONE), wherever they sit in the queues,
 * unbind it from the devices whose events went to it, and close its correlation entries (a
 * waiting request fails, ENDPOINT_GONE; what was held for it is dropped as delivered). Run on every shard; what is still on
 * its way between shards is dropped on arrival (generation tags). Returns frames dropped.
 */
export function forgetDriver(shard: usize, ep: u32): u32 {
  bindShard(shard);
  const list = <usize>load<u32>(shard, SH_DEVICES);
  const n = load<u32>(shard, SH_NUM_DEVICES);
  let dropped: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const ds = <usize>load<u32>(list + (<usize>i << 2));
    if (parkedCount(ds + DS_PARK) != 0) {
      dropped += parkedRemoveAux(shard, ds + DS_PARK, ep);
      store<u32>(ds, parkedCountKind(shard, ds + DS_PARK, PSK_REFUSAL), DS_PARK_REFUSALS);
    }
    if (<u32>load<u16>(ds, DS_BOUND_DRIVER) == ep + 1) store<u16>(ds, 0, DS_BOUND_DRIVER);
    if (outstanding(ds) != 0) forgetEntries(shard, ds, ep, R_ENDPOINT_GONE);
  }
  for (let k: u32 = 0; k < dropped; k++) drop(shard, ep, R_SOURCE_GONE);
  parkListPrune(shard + SH_DEV_LIST);
  flushDirty(shard); // other drivers' answers released behind its closed entries
  return dropped;
}

/** Take ownership of a device state (already filled in by the control plane). */
export function addDevice(shard: usize, ds: usize): void {
  bindShard(shard);
  const n = load<u32>(shard, SH_NUM_DEVICES);
  store<u32>(<usize>load<u32>(shard, SH_DEVICES) + (<usize>n << 2), <u32>ds);
  store<u32>(shard, n + 1, SH_NUM_DEVICES);
}

/**
 * Remove a device: every request still waiting fails (DEVICE_REMOVED) in order, parked
 * requests fail too (refused ones with their own reason), parked events are dropped. The state
 * stays in the device table as a tombstone (DSF_REMOVING) until the control plane recycles it,
 * so a later request for the number is refused by this shard, after every outcome owed before
 * it. Returns the requests still unresolved (non-zero only if the pool ran dry; call again).
 */
export function removeDevice(shard: usize, ds: usize): u32 {
  bindShard(shard);
  // From here on the state is a tombstone: requests for the number are refused in order
  // (admission.ts deviceAccept) and its events have no driver to go to.
  store<u16>(ds, <u16>(<u32>load<u16>(ds, DS_FLAGS) | DSF_REMOVING), DS_FLAGS);
  store<u16>(ds, 0, DS_BOUND_DRIVER);
  failWaiting(shard, ds, R_DEVICE_REMOVED, true);
  releaseInOrder(shard, ds);
  const q = ds + DS_PARK;
  while (parkedCount(q) != 0) {
    const ps = parkedHead(q);
    const w = load<u64>(ps + PS_FRAME);
    const drv = <u32>load<u16>(ps, PS_AUX);
    const tag = <u32>load<u16>(ps, PS_KIND);
    if (!epTagLive(shard, drv, tag)) {
      drop(shard, drv, R_SOURCE_GONE); // its driver is gone: nobody to tell
    } else {
      // A refused request keeps the reason it was refused for; a parked one fails as removed.
      const kind = tag & TAG_KIND;
      const reason = kind == PSK_REFUSAL ? load<u32>(ps + PS_FRAME, 8) : R_DEVICE_REMOVED;
      if (kind != PSK_EVENT) {
        if (!emitFailure(shard, drv, hdrDevNum(w), hdrMsgId(w), reason, hdrToken(w))) break;
      }
      drop(shard, drv, reason);
    }
    if ((tag & TAG_KIND) == PSK_REFUSAL) store<u32>(ds, load<u32>(ds, DS_PARK_REFUSALS) - 1, DS_PARK_REFUSALS);
    parkedPop(shard, q);
  }
  const left = outstanding(ds) + parkedCount(q);
  if (left == 0) {
    unlinkDevice(shard, ds);
  }
  flushDirty(shard);
  return left;
}

function unlinkDevice(shard: usize, ds: usize): void {
  const list = <usize>load<u32>(shard, SH_DEVICES);
  const n = load<u32>(shard, SH_NUM_DEVICES);
  for (let i: u32 = 0; i < n; i++) {
    if (<usize>load<u32>(list + (<usize>i << 2)) == ds) {
      store<u32>(list + (<usize>i << 2), load<u32>(list + (<usize>(n - 1) << 2)));
      store<u32>(shard, n - 1, SH_NUM_DEVICES);
      break;
    }
  }
  parkListRemove(shard + SH_DEV_LIST, ds + DS_PARK);
}

/**
 * EVENT_DEVICE {dev, state} to every driver this shard reads that may see `dev`
 * (docs/PROTOCOL.md §7 rule 26). Returns the drivers it could not reach now (pool empty; call again).
 */
export function emitDeviceEvent(shard: usize, dev: u32, state: u32): u32 {
  bindShard(shard);
  const list = <usize>load<u32>(shard, SH_SOURCES);
  const n = load<u32>(shard, SH_NUM_SOURCES);
  let failed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const ep = load<u32>(list + (<usize>i << 2));
    const e = endpointAt(shard, ep);
    if (<u32>load<u8>(e, EP_KIND) != EPK_DRIVER) continue;
    const allow = <usize>load<u32>(e, EP_ALLOW);
    if (allow != 0 && (<u32>load<u8>(allow + (<usize>dev >> 3)) & (1 << (dev & 7))) == 0) continue;
    if (!emitEventDevice(shard, ep, dev, state)) failed++;
  }
  flushDirty(shard);
  return failed;
}

/** Fail requests whose deadline passed and retry blocked in-order deliveries. Returns failures. */
export function expire(shard: usize): u32 {
  bindShard(shard);
  const list = <usize>load<u32>(shard, SH_DEVICES);
  const n = load<u32>(shard, SH_NUM_DEVICES);
  let failed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const ds = <usize>load<u32>(list + (<usize>i << 2));
    if (outstanding(ds) != 0) {
      failed += failWaiting(shard, ds, R_TIMEOUT, false);
      releaseInOrder(shard, ds);
    }
  }
  flushDirty(shard);
  return failed;
}


/** Fail every waiting request of every device this shard owns, with `reason` (worker restarted, router closing). */
export function failAll(shard: usize, reason: u32): u32 {
  bindShard(shard);
  const list = <usize>load<u32>(shard, SH_DEVICES);
  const n = load<u32>(shard, SH_NUM_DEVICES);
  let failed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) failed += failWaiting(shard, <usize>load<u32>(list + (<usize>i << 2)), reason, true);
  flushDirty(shard);
  return failed;
}

/** Work the shard still holds: requests awaiting an answer plus frames parked anywhere. */
export function pendingWork(shard: usize): u32 {
  bindShard(shard);
  const list = <usize>load<u32>(shard, SH_DEVICES);
  const n = load<u32>(shard, SH_NUM_DEVICES);
  let pending: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const ds = <usize>load<u32>(list + (<usize>i << 2));
    pending += outstanding(ds) + load<u32>(ds, DS_PARK_COUNT);
  }
  for (let q = <usize>load<u32>(shard, SH_OUT_LIST); q != 0; q = <usize>load<u32>(q, PQ_LIST_NEXT)) pending += parkedCount(q);
  return pending;
}

/**
 * Send a frame the control plane built (at `frame`, msg_size bytes) to endpoint `ep` as the
 * router: bus requests of its own to an external link (PING keep-alives, GET_DEVICES
 * discovery), written by the shard because only the shard produces into that ring. Returns 0
 * when written or parked, 1 when it must be retried (pool empty).
 */
export function emitFrame(shard: usize, ep: u32, frame: usize): u32 {
  bindShard(shard);
  const w = load<u64>(frame);
  const ok = emitToEndpoint(shard, ep, w, frame, hdrMsgSize(w));
  flushDirty(shard);
  return ok ? 0 : 1;
}
