// Driver SDK, bus side (docs/PROTOCOL.md §8 "Driver", §6 bus messages): one router driver link. Promise-based
// requests with the driver's own tokens and deadlines, the router's VMSG_EVT_REQUEST_FAILED turned
// into a TransportError, enumeration with GET_DEVICES windows, EVENT_DEVICE hotplug (a device that
// comes back is probed again), and the device events (EVENT_CONFIG, EVENT_USED — in-band or out of
// band) handed to the DriverDevice of their device number. Runs on its thread's event loop.
import { AsyncEndpoint, queueEventKey, type AsyncEndpointOptions, type EndpointCounters } from '../endpoint/async-endpoint.js';
import { OobDoorbell } from '../endpoint/oob-doorbell.js';
import { decode, encode, type Message, type Profile } from '../protocol/codec.js';
import {
  DEVICE_BUS_STATE_READY, DEVICE_BUS_STATE_REMOVED, HDR_MSG_ID, HDR_TYPE, T_EVENT_AVAIL, TYPE_BUS,
  TYPE_RESPONSE,
} from '../protocol/constants.js';
import { Reason, reasonName } from '../protocol/reasons.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { GuestMemory, type GuestMemoryDescriptor } from '../virtqueue/guest-memory.js';
import { DriverDevice, type DeviceInfo } from './driver-device.js';
import { RequestTracker, type TrackedRequest } from '../client/request-tracker.js';
import { walkGetDevices } from '../client/discovery.js';
import { failedDevice, failedMsgId, failedReason, failedToken, RF_SIZE, VMSG_EVT_REQUEST_FAILED } from '../client/request-failed.js';
import { devNumAt, tokenAt } from '../protocol/header.js';
import { DriverClosedError, RequestTimeoutError, TransportError } from './errors.js';

/** How often outstanding virtqueues are polled when no EVENT_USED came (events may be dropped, docs/PROTOCOL.md §7 rule 23). */
const USED_POLL_MS = 20;

export interface VirtioDriverOptions extends AsyncEndpointOptions {
  /** Guest memory this driver places its virtqueues and buffers in (shared with the devices). */
  memory: GuestMemory | GuestMemoryDescriptor;
  /** Payload layouts (default "rev1"). */
  profile?: Profile;
  /** Deadline of every request unless the call gives one. Default 5000 ms (longer than the router's timeout, so its TIMEOUT failure arrives first). */
  requestTimeoutMs?: number;
  /** Probe (GET_DEVICE_INFO) each device announced with EVENT_DEVICE READY. Default true. */
  autoProbe?: boolean;
}

export type HotplugEvent =
  | { dev: number; state: 'added'; info: DeviceInfo }
  | { dev: number; state: 'removed' }
  | { dev: number; state: 'probe-failed'; error: Error }
  /** READY as it came, when `autoProbe` is off (the listener probes if it wants to). */
  | { dev: number; state: 'ready' };

export interface DriverCounters extends EndpointCounters {
  requests: number;
  responses: number;
  transportFailures: number;
  deadlines: number;
  events: number;
  oobUsed: number;
  /** Completions found by the safety poll rather than announced by EVENT_USED. */
  polledUsed: number;
  drops: Record<string, number>;
}

interface Deadline {
  at: number;
  token: number;
  timeoutMs: number;
}

/** A binary min-heap of deadlines by time. */
class DeadlineHeap {
  private readonly items: Deadline[] = [];

  push(d: Deadline): void {
    const a = this.items;
    a.push(d);
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (a[up]!.at <= a[i]!.at) break;
      [a[up], a[i]] = [a[i]!, a[up]!];
      i = up;
    }
  }

  /** The earliest deadline if it is due at `now`, removed. */
  popDue(now: number): Deadline | undefined {
    const a = this.items;
    if (a.length === 0 || a[0]!.at > now) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.at < a[m]!.at) m = l;
        if (r < a.length && a[r]!.at < a[m]!.at) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

interface Pending extends TrackedRequest {
  deadline: Deadline;
  dev: number;
  msgId: number;
  bus: boolean;
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

export class VirtioDriver {
  readonly endpoint: AsyncEndpoint;
  readonly memory: GuestMemory;
  readonly profile: Profile;
  readonly requestTimeoutMs: number;
  private readonly autoProbe: boolean;
  private readonly pending = new RequestTracker<Pending>();
  /** Request deadlines, earliest first (calls may pass their own timeout). */
  private readonly deadlines = new DeadlineHeap();
  private readonly devices = new Map<number, DriverDevice>();
  private readonly oobDevices: { device: DriverDevice; bell: OobDoorbell }[] = [];
  private readonly listeners = new Set<(e: HotplugEvent) => void>();
  private readonly stats = { requests: 0, responses: 0, transportFailures: 0, deadlines: 0, events: 0, oobUsed: 0, polledUsed: 0 };
  private readonly drops: Record<string, number> = {};
  private lastUsedPoll = 0;
  private closing = false;
  private readonly loop: Promise<void>;

  constructor(link: LinkDescriptor, opts: VirtioDriverOptions) {
    if (link.kind !== 'driver') throw new TypeError(`VirtioDriver needs a driver link, got a ${link.kind} link`);
    const timeout = opts.requestTimeoutMs ?? 5000;
    if (!Number.isInteger(timeout) || timeout < 1) throw new RangeError(`requestTimeoutMs must be a positive integer, got ${timeout}`);
    this.endpoint = new AsyncEndpoint(link, opts);
    this.memory = opts.memory instanceof GuestMemory ? opts.memory : new GuestMemory(opts.memory);
    this.profile = opts.profile ?? 'rev1';
    this.requestTimeoutMs = timeout;
    this.autoProbe = opts.autoProbe ?? true;
    this.loop = this.endpoint.run(() => this.step(), () => this.hasWork(), () => this.closing);
  }

  get maxMessageSize(): number {
    return this.endpoint.maxMessageSize;
  }

  get counters(): DriverCounters {
    return { ...this.endpoint.counters, ...this.stats, drops: { ...this.drops } };
  }

  /** The DriverDevice for device number `dev` (made on first use). `oob`: its oob doorbell area, if any. */
  device(dev: number, opts: { oob?: number } = {}): DriverDevice {
    let d = this.devices.get(dev);
    if (d === undefined) {
      if (!Number.isInteger(dev) || dev < 0 || dev > 65535) throw new RangeError(`device number must be 0..65535, got ${dev}`);
      const oob = opts.oob === undefined ? undefined : new OobDoorbell(this.endpoint.link.memory.buffer as unknown as SharedArrayBuffer, opts.oob, 'driver');
      d = new DriverDevice(this, dev, oob);
      this.devices.set(dev, d);
      if (oob !== undefined) this.oobDevices.push({ device: d, bell: oob });
    } else if (opts.oob !== undefined && d.oobArea !== opts.oob) {
      throw new RangeError(`device ${dev} already has a DriverDevice with a different oob area`);
    }
    return d;
  }

  /** Listen to EVENT_DEVICE (after the automatic probe for "added"). Returns the unsubscribe function. */
  onHotplug(listener: (e: HotplugEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Send a transport request (`msg.dev_num` is the device; the token is the driver's) and resolve
   * with the decoded response, or reject with TransportError (router failure event),
   * RequestTimeoutError (own deadline) or DriverClosedError.
   */
  request(msg: Message, timeoutMs = this.requestTimeoutMs): Promise<Message> {
    return this.issue(msg, false, timeoutMs);
  }

  /** The device numbers present now, walking GET_DEVICES windows until next_offset is 0 (docs/PROTOCOL.md §6). */
  async enumerate(): Promise<number[]> {
    return walkGetDevices(this.maxMessageSize, async (offset, count) => {
      const r = await this.issue({ message: 'GET_DEVICES', response: false, dev_num: 0, token: 0, offset, count }, true, this.requestTimeoutMs);
      if (r.message !== 'GET_DEVICES' || !r.response) throw new Error('GET_DEVICES: unexpected reply');
      return encode(r);
    });
  }

  /** PING the bus: resolves when the echo comes back with the same data. */
  async ping(data = 0x766d7367): Promise<void> {
    const r = await this.issue({ message: 'PING', response: false, dev_num: 0, token: 0, data }, true, this.requestTimeoutMs);
    if (r.message !== 'PING' || r.data !== data) throw new Error(`PING echo mismatch: sent 0x${data.toString(16)}`);
  }

  /** Send EVENT_AVAIL for queue `q` of device `dev` (merged with one still waiting for room, if any). */
  notifyAvail(dev: number, q: number): void {
    const msg: Message = { message: 'EVENT_AVAIL', response: false, dev_num: dev, token: 0, vq_index: q, next_offset: 0 };
    this.endpoint.send(encode(msg), queueEventKey(dev, T_EVENT_AVAIL, q));
  }

  /** Stop: outstanding requests fail with DriverClosedError; the loop ends. */
  async close(): Promise<void> {
    this.closing = true;
    this.endpoint.wake();
    await this.loop;
    for (const p of [...this.pending.open()]) {
      this.pending.settle(p);
      p.reject(new DriverClosedError());
    }
    for (const d of this.devices.values()) d.closed();
  }

  // ------------------------------------------------------------ internals

  private issue(msg: Message, bus: boolean, timeoutMs: number): Promise<Message> {
    if (this.closing) return Promise.reject(new DriverClosedError());
    const token = this.pending.token();
    const frame = encode({ ...msg, token } as Message);
    if (frame.length > this.maxMessageSize) {
      return Promise.reject(new RangeError(`${msg.message} would be ${frame.length} bytes; the link carries at most ${this.maxMessageSize}`));
    }
    this.stats.requests++;
    return new Promise<Message>((resolve, reject) => {
      const deadline = { at: performance.now() + timeoutMs, token, timeoutMs };
      this.pending.add({ token, seq: 0, settled: false, deadline, dev: msg.dev_num, msgId: frame[HDR_MSG_ID]!, bus, resolve, reject });
      this.deadlines.push(deadline);
      this.endpoint.send(frame);
      this.endpoint.flush();
    });
  }

  private drop(reason: number): void {
    const name = reasonName(reason);
    this.drops[name] = (this.drops[name] ?? 0) + 1;
  }

  private hasWork(): boolean {
    if (this.closing || this.endpoint.readable()) return true;
    for (const { bell } of this.oobDevices) if (bell.pending()) return true;
    return false;
  }

  private step(): number {
    let work = this.endpoint.receive((f) => this.onFrame(f));
    for (const { device, bell } of this.oobDevices) {
      work += bell.take((q) => {
        this.stats.oobUsed++;
        device.usedSignalled(q);
      });
    }
    work += this.endpoint.flush();
    const now = performance.now();
    this.expire(now);
    if (now - this.lastUsedPoll > USED_POLL_MS) {
      this.lastUsedPoll = now;
      for (const d of this.devices.values()) this.stats.polledUsed += d.pollUsed();
    }
    return work;
  }

  private expire(now: number): void {
    for (let d = this.deadlines.popDue(now); d !== undefined; d = this.deadlines.popDue(now)) {
      const p = this.pending.get(d.token);
      // The token may have been answered (and even reused since): only the same request expires.
      if (p === undefined || p.deadline !== d) continue;
      this.pending.settle(p);
      this.stats.deadlines++;
      p.reject(new RequestTimeoutError(p.dev, p.msgId, d.timeoutMs));
    }
  }

  private onFrame(f: Uint8Array): void {
    const type = f[HDR_TYPE]!;
    const msgId = f[HDR_MSG_ID]!;
    const bus = (type & TYPE_BUS) !== 0;
    if ((type & TYPE_RESPONSE) !== 0) return this.onResponse(f, bus);
    if (bus && msgId === VMSG_EVT_REQUEST_FAILED) return this.onFailure(f);
    const r = decode(f, { profile: this.profile });
    if (!r.ok) return this.drop(r.reason);
    const msg = r.msg;
    if (bus) {
      if (msg.message === 'EVENT_DEVICE') return this.onDeviceEvent(msg.device_number, msg.device_bus_state);
      if (msg.message === 'PING' && !msg.response) {
        // Either side may start a PING; the responder echoes data and token (docs/PROTOCOL.md §6).
        this.endpoint.send(encode({ ...msg, response: true }));
        return;
      }
      return this.drop(Reason.UNSUPPORTED_BUS_MSG);
    }
    this.stats.events++;
    const device = this.devices.get(devNumAt(f, 0));
    if (device === undefined) return this.drop(Reason.UNVALIDATED_DEV_NUM);
    if (msg.message === 'EVENT_CONFIG') device.configEvent(msg);
    else if (msg.message === 'EVENT_USED') device.usedSignalled(msg.vq_index);
    else this.drop(Reason.WRONG_DIRECTION); // requests and EVENT_AVAIL go to devices
  }

  private onResponse(f: Uint8Array, bus: boolean): void {
    const p = this.pending.get(tokenAt(f, 0));
    if (p === undefined) return this.drop(Reason.UNMATCHED_RESPONSE);
    const dev = devNumAt(f, 0);
    // 2026 Linux: a response must match its request's kind, msg_id and dev_num; else it is not its answer.
    if (p.bus !== bus || p.msgId !== f[HDR_MSG_ID] || (!bus && p.dev !== dev)) return this.drop(Reason.REQUEST_RESPONSE_MISMATCH);
    const r = decode(f, { profile: this.profile });
    if (!r.ok) return this.drop(r.reason); // a malformed answer is no answer: the deadline ends the request
    this.pending.settle(p);
    this.stats.responses++;
    p.resolve(r.msg);
  }

  private onFailure(f: Uint8Array): void {
    if (f.length !== RF_SIZE) return this.drop(Reason.PAYLOAD_LENGTH_MISMATCH);
    const p = this.pending.get(failedToken(f, 0));
    if (p === undefined) return this.drop(Reason.UNMATCHED_RESPONSE);
    this.pending.settle(p);
    this.stats.transportFailures++;
    p.reject(new TransportError(failedReason(f, 0), failedDevice(f, 0), failedMsgId(f, 0)));
  }

  private onDeviceEvent(dev: number, state: number): void {
    const emit = (e: HotplugEvent): void => {
      for (const l of this.listeners) l(e);
    };
    if (state === DEVICE_BUS_STATE_REMOVED) {
      this.devices.get(dev)?.removed();
      emit({ dev, state: 'removed' });
      return;
    }
    if (state !== DEVICE_BUS_STATE_READY) return; // reserved and bus-specific states: tolerated, ignored
    this.devices.get(dev)?.readyAgain();
    if (!this.autoProbe) {
      emit({ dev, state: 'ready' });
      return;
    }
    // On READY the driver side queries the device (docs/PROTOCOL.md §7 rule 26): probe, then announce.
    this.device(dev).probe().then(
      (info) => emit({ dev, state: 'added', info }),
      (error: Error) => emit({ dev, state: 'probe-failed', error }),
    );
  }
}
