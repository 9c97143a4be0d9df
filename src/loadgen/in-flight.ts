// The load engine's operations in flight: one RequestTracker per device and one for the bus
// messages (tokens, by-token lookup, per-device order), EVENT_AVAIL notifications waiting for
// their EVENT_USED per virtqueue, each device's session and free queues, and how an operation
// ends (answered, failed, expired) with its latency recorded.
import { RequestTracker, type TrackedRequest } from '../client/request-tracker.js';
import { DeviceSession } from './device-session.js';
import type { LoadMetrics } from './load-metrics.js';
import type { ProfileSpec } from './profiles.js';
import type { Step } from './requests.js';

export interface Pending extends TrackedRequest {
  step: Step;
  token: number;
  owner: DeviceLoad;
  fifo: RequestTracker<Pending> | undefined; // undefined: an EVENT_AVAIL (completed by EVENT_USED)
  intended: number;
  sentAt: number;
  measured: boolean;
  settled: boolean;
  /** Position in its fifo's send order. */
  seq: number;
  /** Last step of an init sequence: when its first step was due. */
  seqStart?: number;
}

/** One device under load (or, for bus-only profiles, the bus as device 0). */
export interface DeviceLoad {
  dev: number;
  session: DeviceSession;
  fifo: RequestTracker<Pending>;
  inFlight: number;
  /** EVENT_AVAIL in flight per virtqueue. */
  avails: Map<number, Pending[]>;
  freeQueues: number[];
  nextQueue: number;
  queues: number;
  /** A step built but refused by a full bus: sent before anything new. */
  retry: { step: Step; vq: number } | undefined;
  seqStart: number;
}

export class InFlight {
  /** Every device driven, in the order given. */
  readonly devices: DeviceLoad[];
  private readonly byDev: Map<number, DeviceLoad>;
  /** The bus messages (PING, GET_DEVICES): their own ordering domain. */
  readonly bus = new RequestTracker<Pending>();
  /** Operations in flight over all devices. */
  count = 0;

  /** `devices` empty: a bus-only profile (one pseudo-device 0 carries its sends). */
  constructor(devices: number[], profile: ProfileSpec, queues: number, private readonly metrics: LoadMetrics, private readonly timeoutMs: number) {
    const talksToDevices = devices.length > 0;
    this.devices = (talksToDevices ? devices : [0]).map((dev) => ({
      dev,
      session: new DeviceSession(dev, profile, metrics.counters),
      fifo: new RequestTracker<Pending>(),
      inFlight: 0,
      avails: new Map(),
      freeQueues: Array.from({ length: Math.min(queues, 65536) }, (_, i) => i),
      nextQueue: 0,
      queues,
      retry: undefined,
      seqStart: 0,
    }));
    this.byDev = new Map(talksToDevices ? this.devices.map((o) => [o.dev, o]) : []);
  }

  /** The device `dev` under load, if it is one. */
  device(dev: number): DeviceLoad | undefined {
    return this.byDev.get(dev);
  }

  /** Track `p`, just sent (its fifo's token is in its frame). */
  add(p: Pending): void {
    const o = p.owner, step = p.step;
    if (p.fifo !== undefined) p.fifo.add(p);
    else {
      let list = o.avails.get(step.value ?? 0);
      if (list === undefined) o.avails.set(step.value ?? 0, (list = []));
      list.push(p);
    }
    if (step.seqStep === 0) o.seqStart = p.intended;
    if (step.seqLast === true) p.seqStart = o.seqStart;
    o.inFlight++;
    this.count++;
  }

  /** End `p` at `now`; `ok` and measured: its latency is recorded. */
  settle(p: Pending, now: number, ok: boolean): void {
    const m = this.metrics;
    m.ended(now);
    if (p.fifo !== undefined) p.fifo.settle(p);
    else p.settled = true;
    p.owner.inFlight--;
    this.count--;
    if (!ok || !p.measured) return;
    m.record(p.step.op, p.owner.dev, now - p.intended, now);
  }

  /** EVENT_USED on queue `vq` of device `dev`: every notification in flight there is done. False: none was. */
  used(dev: number, vq: number, now: number): boolean {
    const o = this.byDev.get(dev);
    const list = o?.avails.get(vq);
    if (list === undefined || list.length === 0) return false;
    // One EVENT_USED answers every notification in flight on its queue: the bus may have
    // merged them (router EVENT_AVAIL coalescing).
    for (let i = 0; i < list.length; i++) this.settle(list[i]!, now, true);
    list.length = 0; // emptied in place: no array per EVENT_USED
    o!.freeQueues.push(vq);
    return true;
  }

  /** Operations unanswered for timeoutMs are timeouts; then the stall watch looks. */
  expire(now: number): void {
    const old = now - this.timeoutMs;
    this.expireTracker(this.bus, old, now);
    for (const o of this.devices) {
      this.expireTracker(o.fifo, old, now);
      for (const [vq, list] of o.avails) {
        while (list.length > 0 && list[0]!.sentAt < old) {
          const p = list.shift()!;
          this.metrics.timeouts++;
          this.metrics.error(now, 'timeout', `EVENT_AVAIL to device ${o.dev} queue ${vq} got no EVENT_USED within ${this.timeoutMs} ms`, 'timeout');
          this.settle(p, now, false);
          if (list.length === 0) o.freeQueues.push(vq);
        }
      }
    }
    this.metrics.watchStall(now, this.count);
  }

  private expireTracker(fifo: RequestTracker<Pending>, old: number, now: number): void {
    for (let p = fifo.first(); p !== undefined && p.sentAt < old; p = fifo.first()) {
      this.metrics.timeouts++;
      this.metrics.error(now, 'timeout', `${p.step.op} to ${p.fifo === this.bus ? 'the bus' : `device ${p.owner.dev}`} (token ${p.token}) unanswered after ${this.timeoutMs} ms`, 'timeout');
      this.settle(p, now, false);
    }
  }
}
