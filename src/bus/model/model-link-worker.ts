// Worker-thread entry of a modelled link (src/bus/model/model-link.ts): moves frames between the
// endpoint's rings (slots = the model's queue, one frame per slot, published one by one) and the
// router's link, applying the model (src/bus/model/model-core.ts) on the way.
//
// Timing: a frame the endpoint publishes is taken from its ring only when its notification has
// landed (the head of the ring is seen, then waited for), so it keeps its slot meanwhile as on
// the real bus; with notifications per batch, what is in the ring when one lands is drained with
// it. Toward the endpoint, a frame needs a free slot when it is sent (ring occupancy plus frames
// still being notified) and becomes readable when its notification lands; with no slot the
// sender's full-queue policy runs with the model's timings. The notification cost is a delay on
// this thread's clock (performance.now), not a system call.
//
// One doorbell word wakes this thread: the router's link bell, which the endpoint's two rings
// also ring (they were built with it as this side's bell).
import { parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../endpoint/port.js';
import { NR_CONS_CURSOR, NR_CONS_INDEX, NR_PROD_CURSOR, NR_PROD_INDEX } from '../../ring/native.js';
import { DOORBELL_ASLEEP, DOORBELL_AWAKE } from '../../wait/doorbell.js';
import { HDR_MSG_SIZE } from '../../protocol/constants.js';
import { MC, ModelCore, type FailedRequest } from './model-core.js';
import { requestFailedFrame } from '../../protocol/request-failed.js';
import { Reason } from '../../protocol/reasons.js';
import type { BusModel } from './bus-model.js';
import type { LinkDescriptor } from '../../endpoint/link.js';

export interface ModelLinkWorkerData {
  model: BusModel;
  /** Which endpoint is on the modelled bus. */
  near: 'driver' | 'device';
  routerLink: LinkDescriptor;
  /** Endpoint → adapter ring and adapter → endpoint ring (in the router's memory). */
  nearTx: number;
  nearRx: number;
  module: WebAssembly.Module;
  /** Int32Array [stop]. */
  control: SharedArrayBuffer;
  /** Float64Array of MC_COUNT counters. */
  counters: SharedArrayBuffer;
}

/** Frames buffered from the router toward a blocked endpoint before the router is left to hold the rest. */
const MAX_WAITING = 4096;
/** Below this many µs to the next timed event, spin instead of sleeping (a futex wake-up costs ~50 µs). */
const SPIN_US = 300;
/** Frames per direction per pass: bounded work, both directions get turns. */
const BUDGET = 256;

function main(d: ModelLinkWorkerData): void {
  const far = new EndpointPort(d.routerLink, { spinBeforeSleep: 0 }, d.module);
  const w = far.wasm;
  const u8 = far.u8, dv = far.dv;
  const i32 = new Int32Array(d.routerLink.memory.buffer);
  const bellAt = d.routerLink.bell >>> 2;
  const control = new Int32Array(d.control);
  const counters = new Float64Array(d.counters);
  const core = new ModelCore(d.model, d.near, counters);
  const nearTxCons = d.nearTx + NR_CONS_CURSOR;
  const nearRxProd = d.nearRx + NR_PROD_CURSOR;
  const slots = d.model.slots;
  const cap = slots + 1;
  const clock = (): number => performance.now() * 1000;

  /** Frames being notified toward the endpoint (they hold a slot), in due order. */
  const toNear: { f: Uint8Array; due: number }[] = [];
  /** Frames waiting for a slot toward the endpoint (the sender's queue). */
  const waitingToNear: Uint8Array[] = [];
  /** Frames toward the router and when they may go. */
  const toFar: { f: Uint8Array; due: number }[] = [];
  let headDue = -1;

  const nearOccupancy = (): number => {
    const prod = dv.getUint32(d.nearRx + NR_PROD_INDEX, true);
    const cons = Atomics.load(i32, (d.nearRx + NR_CONS_INDEX) >>> 2);
    return (prod - cons + cap) % cap;
  };
  const copyAt = (a: number): Uint8Array => {
    const size = u8[a + HDR_MSG_SIZE]! | (u8[a + HDR_MSG_SIZE + 1]! << 8);
    return u8.slice(a, a + Math.max(8, size));
  };
  const sendDown = (f: Uint8Array, now: number): void => {
    if (core.requestsToNear) waitingToNear.push(f);
    else toFar.push({ f, due: core.toFarClock.due(now) });
  };

  // A request the bus gave up on (its sender got EBUSY/EIO/ENOSPC, or the model's response
  // timeout passed) was reported to that sender at once: it ends as one transport failure
  // towards its driver, in the device's order (the router's failedByDevice), never a silent
  // timeout. Reported as the device link, at once (no notification: the sender is on our side).
  const report = (r: FailedRequest, reason: number, now: number): void => {
    toFar.push({ f: requestFailedFrame(r.dev, r.msgId, r.token, reason), due: now });
    counters[MC.reported]!++;
  };

  while (Atomics.load(control, 0) === 0) {
    let now = clock();
    let progress = false;
    for (const r of core.expire(now)) report(r, Reason.TIMEOUT, now);

    // Endpoint → router: the head of the endpoint's ring crosses once its notification landed.
    let drained = 0;
    for (let n = 0; n < BUDGET; n++) {
      const a = w.ringPeek(nearTxCons);
      if (a === 0) break;
      if (headDue < 0) {
        const f = copyAt(a);
        counters[MC.takenFromNear]!++;
        if (core.wouldHold(f)) {
          // The window is full: the request never occupied the bus (the caller waits), so it leaves the ring now.
          core.fromNear(f, now);
          w.ringRelease(nearTxCons);
          drained++;
          progress = true;
          continue;
        }
        headDue = core.toFarClock.due(now, drained > 0);
      }
      if (headDue > now) break;
      const out = core.fromNear(copyAt(a), now);
      if (out !== null) toFar.push({ f: out, due: headDue });
      w.ringRelease(nearTxCons);
      headDue = -1;
      drained++;
      progress = true;
    }
    if (drained > 0) w.cursorFlush(nearTxCons);
    core.toFarClock.endBatch();

    // Router → endpoint: through the window into the sender's queue. A sender facing a full
    // queue is blocked (the kernel's send does not return): nothing more is taken from the
    // router meanwhile, which then holds its frames back as it would for a slow link.
    for (let n = 0; n < BUDGET && !core.nearSender.blocked && waitingToNear.length < MAX_WAITING; n++) {
      const f = far.recv();
      if (f === null) break;
      counters[MC.takenFromFar]!++;
      progress = true;
      const out = core.fromFar(f, now);
      if (out !== null) waitingToNear.push(out);
    }
    far.flushReceived();
    for (const f of core.released(now)) sendDown(f, now);

    // The sender puts frames into the endpoint's queue while there is a slot.
    let sentBatch = 0;
    while (waitingToNear.length > 0) {
      const s = core.nearSender;
      if (s.blocked && now < s.nextTry && !s.wakesOnRoom) break;
      if (nearOccupancy() + toNear.length < slots) {
        s.sent(now);
        toNear.push({ f: waitingToNear.shift()!, due: core.toNearClock.due(now, sentBatch > 0) });
        sentBatch++;
        progress = true;
        continue;
      }
      if (s.blocked && now < s.nextTry) break;
      if (s.full(now) === 'give-up') {
        const r = core.failedToNear(waitingToNear.shift()!);
        if (r !== null) report(r, Reason.BUS_QUEUE_FULL, now);
        progress = true;
        continue;
      }
      break;
    }
    core.toNearClock.endBatch();

    // Deliver what has landed.
    now = clock();
    let put = 0;
    while (toNear.length > 0 && toNear[0]!.due <= now) {
      const slot = w.ringReserve(nearRxProd);
      if (slot === 0) break;
      u8.set(toNear.shift()!.f, slot);
      w.ringCommit(nearRxProd);
      counters[MC.deliveredToNear]!++;
      put++;
    }
    if (put > 0) {
      w.cursorFlush(nearRxProd);
      progress = true;
    }
    let sent = 0;
    while (toFar.length > 0 && toFar[0]!.due <= now) {
      if (!far.send(toFar[0]!.f)) break;
      toFar.shift();
      counters[MC.deliveredToFar]!++;
      sent++;
    }
    if (sent > 0) {
      far.flush();
      progress = true;
    }
    counters[MC.pending] = toNear.length + waitingToNear.length + toFar.length + (headDue >= 0 ? 1 : 0) + counters[MC.heldNow]!;
    if (progress) continue;

    // Idle until the next timed event or a doorbell.
    let next = core.nextDeadline();
    if (headDue >= 0) next = Math.min(next, headDue);
    if (toNear.length > 0) next = Math.min(next, toNear[0]!.due);
    if (toFar.length > 0) next = Math.min(next, toFar[0]!.due);
    if (waitingToNear.length > 0 && core.nearSender.blocked) next = Math.min(next, core.nearSender.nextTry);
    const left = next - clock();
    if (left < SPIN_US) continue;
    Atomics.store(i32, bellAt, DOORBELL_ASLEEP);
    const roomWanted = waitingToNear.length > 0 && core.nearSender.wakesOnRoom && nearOccupancy() + toNear.length < slots;
    if ((headDue < 0 && w.ringPeek(nearTxCons) !== 0) || (far.peek() !== 0 && !core.nearSender.blocked) || roomWanted) {
      Atomics.store(i32, bellAt, DOORBELL_AWAKE);
      continue;
    }
    Atomics.wait(i32, bellAt, DOORBELL_ASLEEP, Math.min(100, Math.max(0, (left - SPIN_US / 2) / 1000)));
    Atomics.store(i32, bellAt, DOORBELL_AWAKE);
  }
  w.cursorFlush(nearTxCons);
  far.flush();
  far.flushReceived();
  parentPort?.postMessage({ type: 'stopped' });
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'routerLink' in workerData) main(workerData as ModelLinkWorkerData);
