// Classification: what a frame a driver or device link sent is, by its header (bus or
// transport, request, response or event, msg_id, direction), and where it goes: answered by
// the router (bus messages it terminates), to the control plane, to a device (admission.ts),
// back to a driver (responses matched to their request, device events), or dropped with a reason.
import {
  SH_CTRL_OUT, SH_PARK_LIMIT, SH_C_CTRL, EP_BUS_DEVS, EP_OUT, EP_KIND, EP_FLAGS, EP_MAX_MSG, EP_SHARD, EPK_FREE, EPF_CLOSING, OUT_CURSOR,
  DS_HEAD_SEQ, DS_NEXT_SEQ, CE_STATE, CE_TOKEN, CES_WAITING,
  DS_DEV_NUM, DS_ENDPOINT, DS_BOUND_DRIVER, DS_BOUND_CURSOR, DS_FLAGS, DSF_REMOVING, DS_C_EVENTS_OUT, CE_DRIVER, CE_DRV_TOKEN, OUT_PARK_COUNT,
  EC_TO_CONTROL, EC_TERMINATED, R_UNSUPPORTED_MSG_ID, R_RESPONSE_TO_EVENT, R_WRONG_DIRECTION, R_BUS_DEV_NUM_NONZERO, R_UNVALIDATED_DEV_NUM,
  R_SPOOFED_DEV_NUM, R_NO_BOUND_DRIVER, R_UNSUPPORTED_BUS_MSG, R_PAYLOAD_TRUNCATED, R_PAYLOAD_LENGTH_MISMATCH,
  VMSG_EVT_REQUEST_FAILED, RF_DEVICE, RF_MSG_ID, RF_REASON, RF_TOKEN, RF_SIZE,
} from './layout';
import {
  TYPE_RESPONSE, TYPE_BUS, MSG_ID_EVENT_BIT, MSG_ID_IMPL_BIT, T_GET_DEVICE_INFO, T_GET_SHM,
  T_EVENT_AVAIL, T_EVENT_CONFIG, T_EVENT_USED, B_GET_DEVICES, B_PING, B_EVENT_DEVICE, withToken, withDevNum,
  hdrType, hdrMsgId, hdrDevNum, hdrMsgSize, hdrToken,
} from '../header';
import { deviceState, count, drop, bump, parkLimit, epTag, endpointAt, shardId } from './context';
import { producerIndex, produceNextSeen, produceFullSeen, cursorSlotAt } from '../ring/cursor';
import { outEmit, outStalled, outHasParked, outMarkBlocked, outWriteOwn } from './output';
import { emitToEndpoint, emitAnswer } from './emit';
import { matchResponse, matchedEntry, failRequest, headDelivered, entryOf, MATCH_DELIVER, MATCH_HELD, MATCH_NO_POOL } from './correlate';
import { answerGetDevices, answerPing } from './busmsg';
import { isMine, deviceAccept, refuse, driverBacklogged, toOtherShard } from './admission';

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
  if (!outEmit(shard, ctrl, w, f, hdrMsgSize(w), epTag(shard, ep, 0), ep)) return false;
  count(shard, ep, EC_TO_CONTROL);
  bump(shard + SH_C_CTRL);
  return true;
}

/** A frame from a driver endpoint. Returns false to leave it in the ring (backpressure). */
@inline export function fromDriver(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  const type = hdrType(w);
  const id = hdrMsgId(w);
  const dev = hdrDevNum(w);
  let isEvent = false;
  // The common frame, a standard transport request, passes every check below in one test.
  if ((type & (TYPE_BUS | TYPE_RESPONSE)) != 0 || id - T_GET_DEVICE_INFO > T_GET_SHM - T_GET_DEVICE_INFO) {
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
    isEvent = (id & MSG_ID_EVENT_BIT) != 0;
    if ((id & MSG_ID_IMPL_BIT) == 0) {
      if (!isEvent) {
        drop(shard, ep, R_UNSUPPORTED_MSG_ID); // unknown standard id: could only time out (PROTOCOL.md §9 item 6)
        return true;
      }
      if (id != T_EVENT_AVAIL) {
        drop(shard, ep, id == T_EVENT_CONFIG || id == T_EVENT_USED ? R_WRONG_DIRECTION : R_UNSUPPORTED_MSG_ID);
        return true;
      }
    }
  }
  // Answers it has not drained hold its own new traffic (never anyone else's): looked at once
  // the frame is known to be a well-formed request or event, so a malformed one is still only dropped.
  if (load<u32>(e + EP_OUT, OUT_PARK_COUNT) >= parkLimit()) return driverBacklogged(shard, ep, e, f, w);
  const ds = deviceState(shard, dev);
  // Never attached (or so long ago that its tombstone is gone): no order left to keep.
  if (ds == 0) return refuse(shard, ep, w, !isEvent, R_UNVALIDATED_DEV_NUM);
  if (!isMine(shard, ds)) return toOtherShard(shard, ds, ep, f, w);
  return deviceAccept(shard, ds, ep, e, f, w, !isEvent);
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
  const size = hdrMsgSize(w);
  if (size != RF_SIZE) { drop(shard, ep, size < RF_SIZE ? R_PAYLOAD_TRUNCATED : R_PAYLOAD_LENGTH_MISMATCH); return; }
  const ds = linkDevice(shard, e, <u32>load<u16>(f, RF_DEVICE));
  if (ds == 0) { drop(shard, ep, R_UNVALIDATED_DEV_NUM); return; }
  if (<u32>load<u16>(ds, DS_ENDPOINT) != ep) { drop(shard, ep, R_SPOOFED_DEV_NUM); return; }
  const r = failRequest(shard, ds, <u32>load<u16>(f, RF_TOKEN), <u32>load<u8>(f, RF_MSG_ID), <u32>load<u8>(f, RF_REASON));
  if (r < 0) { drop(shard, ep, <u32>(-r)); return; }
  count(shard, ep, EC_TERMINATED);
}

/**
 * The common frame of a device walk, the answer to its device's oldest open request, for a
 * live driver of this shard whose ring has room as last seen, delivered without a call: true
 * when delivered. Every test reads and changes nothing, so on false the frame goes the whole
 * way (fromDevice) and meets the same tests again, each with its own outcome. The head entry's
 * token equal to the answer's is matchResponse's MATCH_DELIVER: tokens and sequences advance
 * together, so within the window only the head's sequence has that token.
 */
@inline export function answerNow(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  // One `if` per test: an || chain became a flag in a register, set, then tested again.
  if ((hdrType(w) & (TYPE_BUS | TYPE_RESPONSE)) != TYPE_RESPONSE) return false;
  if ((hdrMsgId(w) & MSG_ID_EVENT_BIT) != 0) return false;
  if (load<u32>(e, EP_BUS_DEVS) != 0) return false;
  const ds = deviceState(shard, hdrDevNum(w));
  if (ds == 0) return false;
  if (<u32>load<u16>(ds, DS_ENDPOINT) != ep) return false;
  const head = load<u32>(ds, DS_HEAD_SEQ);
  if (head == load<u32>(ds, DS_NEXT_SEQ)) return false;
  const ent = entryOf(ds, head);
  // State and msg_id in one 16-bit load, then the token. No entry holds token 0 (the events'):
  // a device state's first token is never 0 (RouterTables.newDeviceState), and the count skips it.
  if (<u32>load<u16>(ent, CE_STATE) != (CES_WAITING | (hdrMsgId(w) << 8))) return false;
  if (<u32>load<u16>(ent, CE_TOKEN) != hdrToken(w)) return false;
  const drv = <u32>load<u16>(ent, CE_DRIVER);
  const de = endpointAt(shard, drv);
  const size = hdrMsgSize(w);
  if (<u32>load<u8>(de, EP_KIND) == EPK_FREE) return false;
  if ((<u32>load<u16>(de, EP_FLAGS) & EPF_CLOSING) != 0) return false;
  if (size > <u32>load<u16>(de, EP_MAX_MSG)) return false;
  if (<u32>load<u8>(de, EP_SHARD) != shardId()) return false;
  const out = de + EP_OUT;
  if (outHasParked(out)) return false;
  // The driver that sent the device's last request (the usual one): its cursor is in the state.
  if (drv + 1 != <u32>load<u16>(ds, DS_BOUND_DRIVER)) return false;
  const cur = <usize>load<u32>(ds, DS_BOUND_CURSOR);
  const local = producerIndex(cur);
  const next = produceNextSeen(cur, local, size);
  if (produceFullSeen(cur, next)) return false;
  outMarkBlocked(shard, out, false);
  outWriteOwn(shard, out, cur, cursorSlotAt(cur, local), withToken(w, <u32>load<u16>(ent, CE_DRV_TOKEN)), f, size, false, true, next);
  headDelivered(shard, ds, ent);
  return true;
}

/** A frame from a device endpoint. Returns false to leave it in the ring (backpressure). */
@inline export function fromDevice(shard: usize, ep: u32, e: usize, f: usize, w: u64): bool {
  const type = hdrType(w);
  const id = hdrMsgId(w);
  const dev = hdrDevNum(w);
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
    const r = matchResponse(shard, ds, f, w);
    if (r == MATCH_DELIVER) {
      const ent = matchedEntry();
      const drv = <u32>load<u16>(ent, CE_DRIVER);
      if (!emitAnswer(shard, drv, withToken(w, <u32>load<u16>(ent, CE_DRV_TOKEN)), f, hdrMsgSize(w))) return false;
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
  if (!emitToEndpoint(shard, bound - 1, withToken(w, 0), f, hdrMsgSize(w))) return false;
  bump(ds + DS_C_EVENTS_OUT);
  return true;
}
