// Bus messages the router terminates (docs/PROTOCOL.md §6, §7 rules 25–29): GET_DEVICES answered from the
// present-device bitmap (filtered by the driver's allow-list), PING echoed to whoever sent it.
import {
  RC_PRESENT_MAP, EP_ALLOW, EP_MAX_MSG, PS_FRAME, EC_TERMINATED, EC_GENERATED,
  R_GET_DEVICES_ALIGNMENT, R_PAYLOAD_TRUNCATED, R_PAYLOAD_LENGTH_MISMATCH,
} from './layout';
import { config, endpointAt, count, drop } from './context';
import { poolTake, poolGive } from './pool';
import { emitToEndpoint } from './emit';
import { makeHeader, TYPE_BUS, TYPE_RESPONSE, B_GET_DEVICES, B_PING, hdrToken, hdrMsgSize } from '../header';

/** GET_DEVICES and PING requests are exactly 12 bytes (docs/PROTOCOL.md §6); anything else is malformed: dropped. */
@inline function exactly12(shard: usize, ep: u32, w: u64): bool {
  const size = hdrMsgSize(w);
  if (size == 12) return true;
  drop(shard, ep, size < 12 ? R_PAYLOAD_TRUNCATED : R_PAYLOAD_LENGTH_MISMATCH);
  return false;
}

/** Byte `i` of the devices `ep` may see: present and (if it has one) on its allow-list. */
@inline function visibleByte(present: usize, allow: usize, i: u32): u32 {
  let b = <u32>load<u8>(present + <usize>i);
  if (allow != 0) b &= <u32>load<u8>(allow + <usize>i);
  return b;
}

/**
 * Answer GET_DEVICES {offset u16, count u16} from driver `ep`. Returns false to retry later
 * (pool empty). Misaligned windows are dropped: the responder MUST enforce multiples of 8
 * and there is no error reply (docs/PROTOCOL.md §9 item 15).
 */
export function answerGetDevices(shard: usize, ep: u32, frame: usize, w: u64): bool {
  if (!exactly12(shard, ep, w)) return true;
  const offset = <u32>load<u16>(frame, 8);
  let want = <u32>load<u16>(frame, 10);
  if ((offset & 7) != 0 || (want & 7) != 0) { drop(shard, ep, R_GET_DEVICES_ALIGNMENT); return true; }
  const e = endpointAt(shard, ep);
  const allow = <usize>load<u32>(e, EP_ALLOW);
  const present = <usize>load<u32>(config(shard), RC_PRESENT_MAP);
  // Largest window the driver's link carries: 14 + count/8 <= max size.
  const maxMsg = <u32>load<u16>(e, EP_MAX_MSG);
  const fit = maxMsg > 14 ? (maxMsg - 14) << 3 : 0;
  if (want > fit) want = fit;
  if (want > 65536 - offset) want = 65536 - offset;
  const ps = poolTake(shard);
  if (ps == 0) return false;
  const out = ps + PS_FRAME;
  const bytes = want >> 3;
  const first = offset >> 3;
  for (let i: u32 = 0; i < bytes; i++) store<u8>(out + 14 + <usize>i, <u8>visibleByte(present, allow, first + i));
  // next_offset: where the requester should continue, or 0. Windows with no visible device
  // are skipped in steps of the echoed count, so the walk keeps its window size (vector
  // scenario get_devices_walk: devices 0,2,5 in [0,64), next device 191 → next_offset 128).
  let next: u32 = 0;
  for (let i = first + bytes; i < 8192; i++) {
    if (visibleByte(present, allow, i) != 0) {
      const d = i << 3;
      next = want != 0 ? offset + ((d - offset) / want) * want : d;
      break;
    }
  }
  const respSize = 14 + bytes;
  store<u64>(out, makeHeader(TYPE_BUS | TYPE_RESPONSE, B_GET_DEVICES, 0, hdrToken(w), respSize));
  store<u16>(out, <u16>offset, 8);
  store<u16>(out, <u16>want, 10);
  store<u16>(out, <u16>next, 12);
  const ok = emitToEndpoint(shard, ep, load<u64>(out), out, respSize);
  poolGive(shard, ps);
  if (ok) {
    count(shard, ep, EC_TERMINATED);
    count(shard, ep, EC_GENERATED);
  }
  return ok;
}

/** Echo a PING request back to `ep` with the same token and data (docs/PROTOCOL.md §6, rule 28). */
export function answerPing(shard: usize, ep: u32, frame: usize, w: u64): bool {
  if (!exactly12(shard, ep, w)) return true;
  const hdr = makeHeader(TYPE_BUS | TYPE_RESPONSE, B_PING, 0, hdrToken(w), 12);
  if (!emitToEndpoint(shard, ep, hdr, frame, 12)) return false;
  count(shard, ep, EC_TERMINATED);
  count(shard, ep, EC_GENERATED);
  return true;
}
