// Frames towards an endpoint wherever it lives: its own shard writes its ring, any other shard
// sends the frame through the cross-shard ring to the owner. Also the frames the router makes
// itself (transport failures, EVENT_DEVICE).
import {
  EP_KIND, EP_SHARD, EP_FLAGS, EP_MAX_MSG, EP_OUT, EPK_FREE, EPF_CLOSING, EPF_FAILURE_EVENTS, SH_ID, SH_XS_OUT,
  OUT_SIZE, XS_TO_ENDPOINT, SH_SCRATCH, VMSG_EVT_REQUEST_FAILED, RF_DEVICE, RF_MSG_ID, RF_REASON, RF_TOKEN, RF_SIZE,
  EPK_DRIVER, EC_FAILURES, EC_GENERATED, R_ENDPOINT_GONE, R_MSG_SIZE_GT_LINK_MAX, R_ENDPOINT_STALLED, OUT_PARK_COUNT, SH_BOUNDED,
} from './layout';
import { endpointAt, count, drop, epTag, parkLimit, shardId } from './context';
import { outEmit, outEmitOwn } from './output';
import { makeHeader, TYPE_BUS, TYPE_RESPONSE, B_EVENT_DEVICE, hdrMsgId, hdrDevNum, hdrToken } from '../header';
import { ED_DEVICE, ED_STATE, ED_SIZE } from '../payload';

/** The output that carries frames to shard `to`. */
@inline export function crossShardOut(shard: usize, to: u32): usize {
  return <usize>load<u32>(shard, SH_XS_OUT) + <usize>to * OUT_SIZE;
}

/**
 * May one more frame be parked towards shard `to`? Frames taken from this shard's own
 * endpoint rings are bounded (beyond the bound the source is held back, so cross-shard traffic
 * cannot drain the pool). Frames made otherwise — while handling another shard's frames, or
 * outcomes released by a service pass, a deadline or a control command — are not: they are
 * bounded by the windows of requests already forwarded, and holding them back could leave
 * both shards waiting for each other (a deadlock the in-process fuzzer found).
 */
@inline export function crossShardRoom(shard: usize, out: usize): bool {
  return load<u32>(shard, SH_BOUNDED) == 0 || load<u32>(out, OUT_PARK_COUNT) < parkLimit();
}

/** Frames parked for one endpoint, in park limits, beyond which only answers are kept. */
export const OUT_BACKLOG_FACTOR: u32 = 4;

/** A transport response (bounded by the requests a driver had forwarded): never dropped for a backlog. */
@inline function isAnswer(hdr: u64): bool {
  return (<u32>hdr & (TYPE_BUS | TYPE_RESPONSE)) == TYPE_RESPONSE;
}

/**
 * Send a finished frame (header word `hdr`, body from `src`) to endpoint `ep`. Returns false
 * only when the frame could neither be written nor parked (pool empty): keep the source.
 * A frame for an endpoint that is gone or too small for it is dropped and counted (true).
 */
export function emitToEndpoint(shard: usize, ep: u32, hdr: u64, src: usize, size: u32): bool {
  const e = endpointAt(shard, ep);
  if (<u32>load<u8>(e, EP_KIND) == EPK_FREE || (<u32>load<u16>(e, EP_FLAGS) & EPF_CLOSING) != 0) {
    drop(shard, ep, R_ENDPOINT_GONE);
    return true;
  }
  if (size > <u32>load<u16>(e, EP_MAX_MSG)) {
    // A response the driver's link cannot carry still ends its request, as a transport failure
    // (one outcome per request, docs/PROTOCOL.md §7 rule 17) in its place in the per-device order.
    if ((<u32>hdr & (TYPE_BUS | TYPE_RESPONSE)) == TYPE_RESPONSE && <u32>load<u8>(e, EP_KIND) == EPK_DRIVER &&
      !emitFailure(shard, ep, hdrDevNum(hdr), hdrMsgId(hdr), R_MSG_SIZE_GT_LINK_MAX, hdrToken(hdr))) return false;
    drop(shard, ep, R_MSG_SIZE_GT_LINK_MAX);
    return true;
  }
  const owner = <u32>load<u8>(e, EP_SHARD);
  if (owner == load<u32>(shard, SH_ID)) {
    // A frame for an endpoint that does not drain never holds its source back: the source may
    // be a device link or another shard that others depend on (no head-of-line blocking).
    // It is parked; what can pile up is bounded — a driver past the park limit gets no new
    // requests taken (fromDriver), so its answers are bounded by the windows it already holds —
    // and past OUT_BACKLOG_FACTOR × the limit everything but an answer is dropped (counted).
    if (load<u32>(e + EP_OUT, OUT_PARK_COUNT) >= OUT_BACKLOG_FACTOR * parkLimit() && !isAnswer(hdr)) {
      drop(shard, ep, R_ENDPOINT_STALLED);
      return true;
    }
    return outEmit(shard, e + EP_OUT, hdr, src, size, 0, 0);
  }
  const xs = crossShardOut(shard, owner);
  if (!crossShardRoom(shard, xs)) return false;
  return outEmit(shard, xs, hdr, src, size, epTag(shard, ep, XS_TO_ENDPOINT), ep);
}

/**
 * emitToEndpoint for a transport response (never dropped for a backlog), with the common case
 * inlined: a live endpoint of this shard whose link carries the frame. Anything else takes
 * emitToEndpoint's way.
 */
@inline export function emitAnswer(shard: usize, ep: u32, hdr: u64, src: usize, size: u32): bool {
  const e = endpointAt(shard, ep);
  // Nested rather than one || chain: the chain was compiled to flags materialised and tested again.
  if (<u32>load<u8>(e, EP_KIND) != EPK_FREE) {
    if ((<u32>load<u16>(e, EP_FLAGS) & EPF_CLOSING) == 0) {
      if (size <= <u32>load<u16>(e, EP_MAX_MSG)) {
        if (<u32>load<u8>(e, EP_SHARD) == shardId()) return outEmitOwn(shard, e + EP_OUT, hdr, src, size);
      }
    }
  }
  return emitToEndpoint(shard, ep, hdr, src, size);
}

/**
 * Report a request that ended without a response (docs/PROTOCOL.md §7 rule 17, 2026 text: one
 * transport-visible failure). Drivers that asked for it (in-process drivers always do) get the
 * implementation-defined bus event VMSG_EVT_REQUEST_FAILED; for the others the failure is
 * only counted. Returns false when it must be retried (pool empty).
 */
export function emitFailure(shard: usize, driver: u32, dev: u32, msgId: u32, reason: u32, driverToken: u32): bool {
  const e = endpointAt(shard, driver);
  if ((<u32>load<u16>(e, EP_FLAGS) & EPF_FAILURE_EVENTS) != 0) {
    const f = shard + SH_SCRATCH;
    store<u64>(f, makeHeader(TYPE_BUS, VMSG_EVT_REQUEST_FAILED, 0, 0, RF_SIZE));
    store<u16>(f, <u16>dev, RF_DEVICE);
    store<u8>(f, <u8>msgId, RF_MSG_ID);
    store<u8>(f, <u8>reason, RF_REASON);
    store<u16>(f, <u16>driverToken, RF_TOKEN);
    store<u16>(f, 0, RF_TOKEN + 2);
    if (!emitToEndpoint(shard, driver, load<u64>(f), f, RF_SIZE)) return false;
    count(shard, driver, EC_GENERATED);
  }
  count(shard, driver, EC_FAILURES);
  return true;
}

/** EVENT_DEVICE (docs/PROTOCOL.md §6) to one driver. */
export function emitEventDevice(shard: usize, driver: u32, dev: u32, state: u32): bool {
  const f = shard + SH_SCRATCH;
  store<u64>(f, makeHeader(TYPE_BUS, B_EVENT_DEVICE, 0, 0, ED_SIZE));
  store<u16>(f, <u16>dev, ED_DEVICE);
  store<u16>(f, <u16>state, ED_STATE);
  if (!emitToEndpoint(shard, driver, load<u64>(f), f, ED_SIZE)) return false;
  count(shard, driver, EC_GENERATED);
  return true;
}
