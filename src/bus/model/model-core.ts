// What a modelled bus does to frames, independent of how they are moved (the link adapter in a
// worker, src/bus/model/model-link-worker.ts; the driver-side channel wrapper,
// src/bus/model/model-channel.ts): the window of outstanding requests (per device, per bus or
// per endpoint), the largest frame, the tokens the bus puts in requests toward a device and
// takes back from its answers, the bus answers' token toward a driver, response timeouts, the
// notification clock (a calibrated delay per notification) and the sender's full-queue policy
// with the model's timings. All times are µs on one monotonic clock the caller passes in.
//
// "near" is the endpoint on the modelled bus (a driver or a device); "far" is the rest of the
// system (the router, or an external bus behind a channel). Requests flow near → far when the
// near endpoint is a driver, far → near when it is a device.
import type { BusModel, FullQueuePolicy } from '../../model/bus-model.js';
import { failedDevice, failedMsgId, failedToken, isRequestFailed } from '../../client/request-failed.js';
import { HDR_DEV_NUM, HDR_MSG_ID, HDR_SIZE, HDR_TOKEN, HDR_TYPE, MSG_ID_EVENT_BIT, TYPE_BUS, TYPE_RESPONSE } from '../../protocol/constants.js';
import { msgSizeAt } from '../../protocol/header.js';
import { RequestTracker, type TrackedRequest } from '../../client/request-tracker.js';


/** Counters of one modelled link: indices into a Float64Array (shared with the main thread by the link adapter). */
export const MC = {
  framesToNear: 0, framesToFar: 1, requests: 2, responses: 3, events: 4,
  notifications: 5, windowHeld: 6, windowWaitUs: 7, inFlightMax: 8,
  queueFull: 9, retries: 10, stallUs: 11, sendFailures: 12, timeouts: 13,
  tooLarge: 14, unknownToken: 15, lateResponses: 16, tokensRewritten: 17, heldNow: 18, inFlightNow: 19,
  // What the mover took and handed on (frame accounting: taken = handed on + dropped by the model's rules once idle).
  takenFromNear: 20, takenFromFar: 21, deliveredToNear: 22, deliveredToFar: 23,
  /** Frames inside the mover now (being notified, waiting for a slot or for the window). */
  pending: 24,
  /** Transport failure reports the link sent for requests the bus gave up on (also in deliveredToFar). */
  reported: 25,
} as const;
export const MC_COUNT = 26;

export type ModelCounters = { -readonly [K in keyof typeof MC]: number };

export function readCounters(c: Float64Array): ModelCounters {
  const out = {} as ModelCounters;
  for (const [k, i] of Object.entries(MC)) out[k as keyof typeof MC] = c[i]!;
  return out;
}

const u16 = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);
const put16 = (f: Uint8Array, at: number, v: number): void => { f[at] = v & 0xff; f[at + 1] = v >>> 8; };

/** Request (a response is expected): not a response, msg_id not in an event range. */
export function isRequest(f: Uint8Array): boolean {
  return (f[HDR_TYPE]! & TYPE_RESPONSE) === 0 && (f[HDR_MSG_ID]! & MSG_ID_EVENT_BIT) === 0;
}

/**
 * When a side's notifications land. `per: 'message'`: every frame needs its own notification and
 * they follow one another (a notification cannot start before the previous one ended);
 * `per: 'batch'`: frames handed over together share one.
 */
export class NotifyClock {
  private busyUntil = 0;
  private batchDue = -1;
  constructor(private readonly costUs: number, private readonly perBatch: boolean, private readonly counters: Float64Array) {}

  /** The time a frame handed over at `now` is visible to the receiver. `sameBatch`: part of the batch whose notification is already counted. */
  due(now: number, sameBatch = false): number {
    if (this.perBatch && sameBatch && this.batchDue >= 0) return this.batchDue;
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + this.costUs;
    this.batchDue = this.busyUntil;
    this.counters[MC.notifications]!++;
    return this.busyUntil;
  }

  /** A new batch starts (the sender published and notified). */
  endBatch(): void {
    this.batchDue = -1;
  }
}

/** A sender facing a full queue, with the model's timings: when to try again, when to give up. */
export class FullQueueSender {
  private since = -1;
  private tries = 0;
  private backoffMs = 0;
  /** Time of the next attempt while blocked. */
  nextTry = 0;
  constructor(private readonly policy: FullQueuePolicy, private readonly counters: Float64Array) {}

  get blocked(): boolean {
    return this.since >= 0;
  }

  /** The frame at the head got in: the stall (if any) ends. */
  sent(now: number): void {
    if (this.since >= 0) this.counters[MC.stallUs]! += now - this.since;
    this.since = -1;
    this.tries = 0;
  }

  /**
   * No room for the head frame at `now`: 'later' (nextTry says when) or 'give-up' (the frame
   * fails). A spinning or waiting sender tries again as soon as the consumer frees room (the
   * mover wakes on it; see wakesOnRoom), so its nextTry is only a safety net; a spinning sender
   * is not modelled as burning a core.
   */
  full(now: number): 'later' | 'give-up' {
    const p = this.policy;
    if (this.since < 0) {
      this.since = now;
      this.tries = 0;
      this.counters[MC.queueFull]!++;
      if (p.policy === 'wait') this.backoffMs = p.backoffMs[0];
    } else {
      this.tries++;
      this.counters[MC.retries]!++;
    }
    switch (p.policy) {
      case 'fail':
        return this.giveUp(now);
      case 'spin':
        this.nextTry = now + 1000;
        return 'later';
      case 'retry':
        if (p.retries > 0 && this.tries >= p.retries) return this.giveUp(now);
        this.nextTry = now + Math.max(20, p.intervalMs * 1000);
        return 'later';
      case 'wait':
        if (now - this.since >= p.timeoutMs * 1000) return this.giveUp(now);
        this.nextTry = now + Math.max(20, this.backoffMs * 1000);
        this.backoffMs = Math.min(p.backoffMs[1], Math.max(this.backoffMs * 2, 0.001));
        return 'later';
    }
  }

  /** A sender that is woken by the consumer freeing room (wait, spin) tries again at once; a timed retry does not. */
  get wakesOnRoom(): boolean {
    return this.policy.policy === 'wait' || this.policy.policy === 'spin';
  }

  private giveUp(now: number): 'give-up' {
    this.counters[MC.stallUs]! += now - this.since;
    this.counters[MC.sendFailures]!++;
    this.since = -1;
    this.tries = 0;
    return 'give-up';
  }
}

/** A device request the bus gave up on, as the router sent it (its token): what a failure report names. */
export interface FailedRequest {
  dev: number;
  msgId: number;
  token: number;
}

interface Exchange extends TrackedRequest {
  key: number;
  dev: number;
  bus: boolean;
  msgId: number;
  /** Token the requester (router or driver) used. */
  origToken: number;
  /** Token the request carries on the modelled bus. */
  token: number;
  deadline: number;
}

/** Window key of bus messages under scope "device" (they have their own slot). */
const BUS_KEY = -1;

export class ModelCore {
  readonly counters: Float64Array;
  /** Requests flow toward the near endpoint (it is a device). */
  readonly requestsToNear: boolean;
  readonly toNearClock: NotifyClock;
  readonly toFarClock: NotifyClock;
  /** The policy of the side the adapter plays when it sends into the near endpoint's queue. */
  readonly nearSender: FullQueueSender;
  private readonly inFlight = new Map<number, number>();
  private readonly held = new Map<number, { frame: Uint8Array; at: number }[]>();
  /** Exchanges in flight per device, in send order and, for token-checking buses, by bus token. */
  private readonly byDev = new Map<number, RequestTracker<Exchange>>();
  /** Every exchange in creation order: deadlines are monotonic, so only the head can expire first. */
  private readonly deadlines: Exchange[] = [];
  private deadlineHead = 0;
  private nextToken: number;
  private inFlightTotal = 0;

  constructor(readonly model: BusModel, readonly near: 'driver' | 'device', counters?: Float64Array) {
    this.counters = counters ?? new Float64Array(MC_COUNT);
    this.requestsToNear = near === 'device';
    const batch = model.notify.per === 'batch';
    const toDevice = model.notify.toDeviceUs, toDriver = model.notify.toDriverUs;
    this.toNearClock = new NotifyClock(near === 'device' ? toDevice : toDriver, batch, this.counters);
    this.toFarClock = new NotifyClock(near === 'device' ? toDriver : toDevice, batch, this.counters);
    // Sending into a device's queue we play the driver side, and the other way round.
    this.nearSender = new FullQueueSender(near === 'device' ? model.queueFull.driverSide : model.queueFull.deviceSide, this.counters);
    this.nextToken = model.tokens.start;
  }

  private key(f: Uint8Array): number {
    if (this.model.outstanding.scope !== 'device') return 0;
    return (f[HDR_TYPE]! & TYPE_BUS) !== 0 ? BUS_KEY : u16(f, HDR_DEV_NUM);
  }

  /** Frames larger than the model's maximum cannot cross: dropped and counted. */
  private fits(f: Uint8Array): boolean {
    const size = f.length >= HDR_SIZE ? msgSizeAt(f, 0) : f.length;
    if (size > this.model.maxFrame || f.length > this.model.maxFrame) {
      this.counters[MC.tooLarge]!++;
      return false;
    }
    return true;
  }

  /**
   * A frame on its way across the requests' direction (a driver's request or event toward a
   * device). Returns the frame to send on (tokens already as the bus carries them), or null
   * when it is held by the window or dropped.
   */
  private downstream(f: Uint8Array, now: number): Uint8Array | null {
    if (!this.fits(f)) return null;
    if (!isRequest(f)) {
      this.counters[MC.events]!++;
      return f;
    }
    const key = this.key(f);
    const q = this.held.get(key);
    if ((q !== undefined && q.length > 0) || (this.inFlight.get(key) ?? 0) >= this.model.outstanding.limit) {
      // The window is full: the requester waits (the kernel transport blocks the caller).
      if (q === undefined) this.held.set(key, [{ frame: f, at: now }]);
      else q.push({ frame: f, at: now });
      this.counters[MC.windowHeld]!++;
      this.counters[MC.heldNow]!++;
      return null;
    }
    return this.open(f, key, now);
  }

  /** A driver's request that the window would hold now (near endpoint is a driver). */
  wouldHold(f: Uint8Array): boolean {
    if (this.requestsToNear || !isRequest(f)) return false;
    const key = this.key(f);
    const q = this.held.get(key);
    return (q !== undefined && q.length > 0) || (this.inFlight.get(key) ?? 0) >= this.model.outstanding.limit;
  }

  /** Start an exchange for request `f` (room in its window) and stamp the bus's token on it. */
  private open(f: Uint8Array, key: number, now: number): Uint8Array {
    const n = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, n);
    this.inFlightTotal++;
    this.counters[MC.inFlightNow] = this.inFlightTotal;
    if (this.inFlightTotal > this.counters[MC.inFlightMax]!) this.counters[MC.inFlightMax] = this.inFlightTotal;
    this.counters[MC.requests]!++;
    const bus = (f[HDR_TYPE]! & TYPE_BUS) !== 0;
    const dev = bus ? 0 : u16(f, HDR_DEV_NUM);
    const origToken = u16(f, HDR_TOKEN);
    let busToken = origToken;
    // Tokens are the bus's business toward a device only: a driver's tokens reach the router, which owns them.
    if (this.requestsToNear) {
      const t = this.model.tokens;
      busToken = t.requests === 'fixed' ? t.value : t.requests === 'none' ? 0 : t.requests === 'echo' ? origToken : this.takeToken(dev);
      if (busToken !== origToken) {
        put16(f, HDR_TOKEN, busToken);
        this.counters[MC.tokensRewritten]!++;
      }
    }
    const x: Exchange = { key, dev, bus, msgId: f[HDR_MSG_ID]!, origToken, token: busToken, deadline: now + this.model.timeouts.responseMs * 1000, seq: 0, settled: false };
    let flying = this.byDev.get(dev);
    if (flying === undefined) this.byDev.set(dev, (flying = new RequestTracker<Exchange>(this.tokenChecked)));
    flying.add(x);
    this.deadlines.push(x);
    return f;
  }

  /** The bus checks tokens of answers from a device (it keys exchanges by them). */
  private get tokenChecked(): boolean {
    const r = this.model.tokens.requests;
    return this.requestsToNear && (r === 'counter' || r === 'echo');
  }

  /** The per-endpoint counter: from `start`, skipping tokens still in flight for this device and, on wrap, 0 and 1. */
  private takeToken(dev: number): number {
    for (let i = 0; i < 65536; i++) {
      const t = this.nextToken;
      this.nextToken = t >= 0xffff ? this.model.tokens.start : t + 1;
      if (this.byDev.get(dev)?.get(t) === undefined) return t;
    }
    return this.nextToken;
  }

  /** Close exchange `x` (answered, failed or timed out): its window slot is free. */
  private close(x: Exchange): void {
    this.byDev.get(x.dev)!.settle(x);
    const n = this.inFlight.get(x.key)! - 1;
    if (n === 0) this.inFlight.delete(x.key);
    else this.inFlight.set(x.key, n);
    this.inFlightTotal--;
    this.counters[MC.inFlightNow] = this.inFlightTotal;
  }

  /** A frame against the requests' direction (a device's answer or event). Null: dropped. */
  private upstream(f: Uint8Array): Uint8Array | null {
    if (!this.fits(f)) return null;
    const type = f[HDR_TYPE]!;
    if ((type & TYPE_RESPONSE) === 0) {
      // The router's failure report ends the driver's request like an answer would.
      if (!this.requestsToNear && isRequestFailed(f, 0, f.length)) {
        const msgId = failedMsgId(f, 0), token = failedToken(f, 0);
        const x = this.byDev.get(failedDevice(f, 0))?.find((e) => !e.bus && e.msgId === msgId && e.origToken === token);
        if (x !== undefined) this.close(x);
      }
      this.counters[MC.events]!++;
      return f;
    }
    const bus = (type & TYPE_BUS) !== 0;
    const dev = bus ? 0 : u16(f, HDR_DEV_NUM);
    const token = u16(f, HDR_TOKEN);
    let x: Exchange | undefined;
    if (this.tokenChecked) {
      x = this.byDev.get(dev)?.get(token);
      if (x === undefined) {
        this.counters[MC.unknownToken]!++;
        return null;
      }
    } else {
      // Matched like the AMP bus does: the oldest open request of that device with this msg_id.
      x = this.byDev.get(dev)?.find((e) => e.bus === bus && e.msgId === f[HDR_MSG_ID]);
      if (x === undefined) {
        this.counters[MC.lateResponses]!++;
        return null;
      }
    }
    this.close(x);
    this.counters[MC.responses]!++;
    if (this.requestsToNear) put16(f, HDR_TOKEN, x.origToken);
    else if (bus && this.model.tokens.busResponses === 'zero') put16(f, HDR_TOKEN, 0);
    return f;
  }

  /** A frame from the near endpoint, about to cross toward far. Null: held or dropped. */
  fromNear(f: Uint8Array, now: number): Uint8Array | null {
    const out = this.requestsToNear ? this.upstream(f) : this.downstream(f, now);
    if (out !== null) this.counters[MC.framesToFar]!++;
    return out;
  }

  /** A frame from far, about to cross toward the near endpoint. Null: held or dropped. */
  fromFar(f: Uint8Array, now: number): Uint8Array | null {
    const out = this.requestsToNear ? this.downstream(f, now) : this.upstream(f);
    if (out !== null) this.counters[MC.framesToNear]!++;
    return out;
  }

  /**
   * Undo the count of a frame that crossed no further (its send failed). A request that never
   * reached the device frees its window slot, and the sender was told at once (the bus returned
   * the error): returns the request as its requester knows it, for a transport failure report.
   */
  failedToNear(f: Uint8Array): FailedRequest | null {
    this.counters[MC.framesToNear]!--;
    if (!this.requestsToNear || !isRequest(f)) return null;
    const dev = (f[HDR_TYPE]! & TYPE_BUS) !== 0 ? 0 : u16(f, HDR_DEV_NUM);
    const x = this.byDev.get(dev)?.find((e) => e.token === u16(f, HDR_TOKEN) && e.msgId === f[HDR_MSG_ID]);
    if (x === undefined) return null;
    this.close(x);
    return x.bus ? null : { dev: x.dev, msgId: x.msgId, token: x.origToken };
  }

  /**
   * Held requests whose window has room now (in order per window), with their exchange opened:
   * they cross in the requests' direction from now on.
   */
  released(now: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.counters[MC.heldNow] === 0) return out;
    for (const [key, q] of this.held) {
      while (q.length > 0 && (this.inFlight.get(key) ?? 0) < this.model.outstanding.limit) {
        const h = q.shift()!;
        this.counters[MC.heldNow]!--;
        this.counters[MC.windowWaitUs]! += now - h.at;
        out.push(this.open(h.frame, key, now));
        if (this.requestsToNear) this.counters[MC.framesToNear]!++;
        else this.counters[MC.framesToFar]!++;
      }
      if (q.length === 0) this.held.delete(key);
    }
    return out;
  }

  /**
   * Give up requests unanswered past the model's response timeout; their late answers are
   * dropped. Returns the device requests given up (as their requester knows them): the bus told
   * its caller, so the link reports each as a transport failure.
   */
  expire(now: number): FailedRequest[] {
    const d = this.deadlines;
    const out: FailedRequest[] = [];
    while (this.deadlineHead < d.length) {
      const x = d[this.deadlineHead]!;
      if (!x.settled) {
        if (x.deadline > now) break;
        this.close(x);
        this.counters[MC.timeouts]!++;
        if (this.requestsToNear && !x.bus) out.push({ dev: x.dev, msgId: x.msgId, token: x.origToken });
      }
      this.deadlineHead++;
    }
    if (this.deadlineHead > 4096 && this.deadlineHead * 2 > d.length) {
      d.splice(0, this.deadlineHead);
      this.deadlineHead = 0;
    }
    return out;
  }

  /** The earliest open deadline (µs), or Infinity. */
  nextDeadline(): number {
    for (let i = this.deadlineHead; i < this.deadlines.length; i++) if (!this.deadlines[i]!.settled) return this.deadlines[i]!.deadline;
    return Infinity;
  }
}
