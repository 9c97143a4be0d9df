// Gateway: the router side of a stream link whose far end is a device-side bus — typically
// another router serving a driver link (docs/ARCHITECTURE.md "Stream bus and gateway"). The far
// end's devices are discovered with GET_DEVICES and attached to the local router under local
// numbers (src/bus/remap.ts); its EVENT_DEVICE READY/REMOVED become local hotplug (so local
// drivers hear READY/REMOVED and see the devices in GET_DEVICES); transport frames are rewritten
// between remote and local device numbers and otherwise forwarded unchanged. Tokens need nothing:
// the local router stamps its own on requests towards us and the far end restores it on the
// answers (per-hop correlation). A dropped connection removes every remote device (in-flight
// requests fail with DEVICE_REMOVED, drivers hear REMOVED); the next connection discovers them again.
// A far end that keeps its socket open but stops answering (hung, stopped) is found by PINGs:
// no answer for PING_DEAD_PERIODS (ping-watch.ts) periods closes the connection like a drop.
// With a DeviceDirectory (cluster mode, src/cluster/), which remote devices to attach comes from
// the directory instead of GET_DEVICES and the far end's EVENT_DEVICE: the far end's router
// also lists devices it imported itself, which must not be imported twice.
import { EventEmitter } from 'node:events';
import type { Router } from '../router/router.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { EndpointPort } from '../endpoint/port.js';
import { decode, encode } from '../protocol/codec.js';
import { reasonName } from '../protocol/reasons.js';
import {
  TYPE_BUS, HDR_TYPE, HDR_DEV_NUM, HDR_TOKEN, HDR_MSG_ID, DEVICE_BUS_STATE_READY, DEVICE_BUS_STATE_REMOVED,
} from '../protocol/constants.js';
import { getDevicesRequest, walkGetDevices } from '../client/discovery.js';
import { RequestTracker, type TrackedRequest } from '../client/request-tracker.js';
import { openBridge, type FrameBridge } from './shard-bridge.js';
import { DeviceFilter } from './device-filter.js';
import { countDrop, type StreamConnection, type StreamCounters } from './stream-connection.js';
import { DeviceRemap } from './remap.js';
import { PingWatch } from './ping-watch.js';
import type { PeerHandler, DeviceMapping } from './peer-handler.js';
import type { BusModel } from '../model/bus-model.js';

/** Our own bus requests (GET_DEVICES) are given up after this long; the connection is then closed. */
export const BUS_REQUEST_TIMEOUT_MS = 5000;

/** One of our own bus requests (GET_DEVICES, PING) waiting for its answer. */
interface BusWait extends TrackedRequest {
  resolve(f: Uint8Array): void;
  reject(e: Error): void;
}

/** Keep-alive PING period when the link URI has no `ping=` (ms). */
export const DEFAULT_GATEWAY_PING_MS = 1000;

/**
 * Where a directory-driven gateway learns which remote devices to attach (instead of
 * GET_DEVICES and EVENT_DEVICE): `current()` the remote numbers now, `subscribe` a change hook.
 */
export interface DeviceDirectory {
  current(): Iterable<number>;
  subscribe(onChange: () => void): () => void;
  /**
   * The gateway hands over how to ask whether a local number belongs to the far end: from
   * just before it is attached (before drivers hear READY) until it is removed (after they
   * heard REMOVED); and its remote → local numbers, each listed from just before drivers hear
   * its READY until just before they hear its REMOVED. Returns the function that withdraws
   * them (the gateway closed).
   */
  bind?(owns: (local: number) => boolean, map: () => DeviceMapping[]): () => void;
}

/** A remote device reachable under a local number (emitted as 'remap' when the numbers differ). */
export interface RemapEvent {
  remote: number;
  local: number;
  peer: string;
}

export class GatewaySession implements PeerHandler {
  private desc: LinkDescriptor | undefined;
  /** The connection frame size `desc` was attached for (a bus model may have lowered its own). */
  private descFor = 0;
  private port: EndpointPort | undefined;
  private bridge: FrameBridge | undefined;
  /** Numbers the same on both sides: their frames pass the endpoint's shard unchanged (src/bus/shard-bridge.ts). */
  private filter: DeviceFilter | undefined;
  private conn: StreamConnection | undefined;
  /** Bumped per connection: hotplug work queued for an older connection is skipped. */
  private generation = 0;
  /** Its `toLocal` says which remote numbers are attached locally right now, and as what. */
  private readonly remap: DeviceRemap;
  /** How many remote numbers are attached now (the non-zero entries of remap.toLocal). */
  private presentCount = 0;
  /** Hotplug operations run one at a time, in arrival order. */
  private control: Promise<void> = Promise.resolve();
  private readonly waiting = new RequestTracker<BusWait>();
  private closed = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void) | undefined;
  private readonly unbind: (() => void) | undefined;
  /** Local numbers being removed (deactivated, drivers not yet told): still the far end's. */
  private readonly removing = new Set<number>();

  constructor(
    private readonly router: Router, private readonly counters: StreamCounters, private readonly events: EventEmitter,
    remapBase: number | undefined, private readonly pingMs = DEFAULT_GATEWAY_PING_MS, linkKey?: string, private readonly label?: string,
    private readonly directory?: DeviceDirectory, private readonly model?: BusModel, private readonly deviceWindow?: number,
  ) {
    this.remap = new DeviceRemap(router, remapBase, linkKey);
    this.unsubscribe = directory?.subscribe(() => {
      const gen = this.generation;
      if (this.conn !== undefined && !this.conn.isClosed) void this.enqueue(() => this.followDirectory(gen));
    });
    this.unbind = directory?.bind?.((local) => this.remap.toRemote[local] !== 0 || this.removing.has(local), () => this.deviceMap());
  }

  get devices(): number[] {
    return this.deviceMap().map((m) => m.local);
  }

  deviceMap(): DeviceMapping[] {
    // Read from the per-frame table rather than kept twice: no per-device Map (thousands of
    // devices in cluster mode); control-plane calls only, and the walk stops at the last one.
    const out: DeviceMapping[] = [];
    const t = this.remap.toLocal;
    for (let remote = 0; out.length < this.presentCount && remote < t.length; remote++) {
      if (t[remote] !== 0) out.push({ remote, local: t[remote]! - 1 });
    }
    return out;
  }

  private isPresent(remote: number): boolean {
    return this.remap.toLocal[remote] !== 0;
  }

  async up(conn: StreamConnection): Promise<void> {
    if (this.closed) {
      conn.end('link closed');
      return;
    }
    const gen = ++this.generation;
    this.conn = conn;
    if (this.desc !== undefined && this.descFor !== conn.maxMessageSize) {
      await this.router.detach(this.desc);
      this.desc = undefined;
    }
    if (this.desc === undefined) {
      // One device endpoint for the life of the link (a reconnect reuses it), sized to what the connection carries.
      const desc = await this.router.attachDevice({ maxMessageSize: conn.maxMessageSize, label: this.label, model: this.model });
      if (this.closed) {
        await this.router.detach(desc); // closed while attaching
        return;
      }
      this.desc = desc;
      this.descFor = conn.maxMessageSize;
      this.port = new EndpointPort(desc, { spinBeforeSleep: 0 });
    }
    if (gen !== this.generation || conn.isClosed) return;
    this.discardRing();
    this.filter ??= new DeviceFilter(this.router);
    // Frames of a device whose number is the same on both sides pass the shard as they are;
    // everything else (bus messages, remapped numbers) comes through these hooks.
    this.bridge = openBridge(this.router, this.desc!, this.port!, conn, this.counters, {
      hooks: {
        fromPeer: (f) => this.fromPeer(f, gen),
        fromRouter: (buf, at, size) => this.toPeer(buf, at, size),
      },
      filter: this.filter,
    });
    this.startKeepAlive(conn, gen);
    if (this.directory !== undefined) {
      await this.enqueue(() => this.followDirectory(gen));
      return;
    }
    try {
      await this.discover(conn, gen);
    } catch (e) {
      conn.end(`device discovery failed: ${(e as Error).message}`);
    }
  }

  /** PING the far end every `pingMs` (src/bus/ping-watch.ts); a dead verdict ends the connection. */
  private startKeepAlive(conn: StreamConnection, gen: number): void {
    clearInterval(this.keepAlive);
    if (this.pingMs <= 0) return;
    const watch = new PingWatch(this.pingMs);
    this.keepAlive = setInterval(() => {
      if (gen !== this.generation || conn.isClosed) return;
      const t = watch.tick(Date.now());
      if (t === null) return;
      if ('deadMs' in t) {
        clearInterval(this.keepAlive);
        countDrop(this.counters, 'PEER_SILENT');
        conn.end(`the far end answered no PING for ${t.deadMs} ms`);
        return;
      }
      const data = t.send;
      this.busRequest(conn, encode({ message: 'PING', response: false, dev_num: 0, token: 0, data })).then(
        (f) => {
          const got = decode(f);
          if (got.ok && got.msg.message === 'PING') watch.answered(got.msg.data);
        },
        () => {}, // unanswered: the watch's next ticks decide
      );
    }, this.pingMs);
    this.keepAlive.unref();
  }

  async down(_reason: string): Promise<void> {
    clearInterval(this.keepAlive);
    this.generation++;
    const stopped = this.bridge?.stop();
    this.bridge = undefined;
    this.conn = undefined;
    for (const w of [...this.waiting.open()]) {
      this.waiting.settle(w);
      w.reject(new Error('connection lost'));
    }
    await this.enqueue(async () => {
      for (const { remote } of this.deviceMap()) {
        await this.removeRemote(remote).catch((e: unknown) => {
          countDrop(this.counters, 'HOTPLUG_FAILED');
          this.events.emit('warning', `gateway: removing device ${remote}: ${(e as Error).message}`);
        });
      }
    });
    await stopped; // the shard no longer reads the ring
    this.discardRing();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    try {
      await this.down('closed');
    } finally {
      // Even when taking the connection down failed: a session left bound would stay in its
      // directory's map and ownership answers for good.
      this.unbind?.();
      const desc = this.desc;
      // No ring access after this point: detach frees the rings.
      this.desc = undefined;
      this.port = undefined;
      if (desc !== undefined) await this.router.detach(desc).catch(() => {});
      this.filter?.free();
      this.filter = undefined;
    }
  }

  /** Frames the router queued for a connection that is gone: their requests were failed by the removal. */
  private discardRing(): void {
    const port = this.port;
    if (port === undefined) return;
    let n = 0;
    while (port.peek() !== 0) {
      port.release();
      n++;
    }
    port.flushReceived();
    if (n > 0) countDrop(this.counters, 'LINK_DOWN', n);
  }

  // ------------------------------------------------------------------ per frame

  /** Peer → router: transport frames get their local number; bus frames are ours. */
  private fromPeer(f: Uint8Array, gen: number): Uint8Array | null {
    if ((f[HDR_TYPE]! & TYPE_BUS) !== 0) {
      this.busFromPeer(f, gen);
      return null;
    }
    const l = this.remap.toLocal[f[HDR_DEV_NUM]! | (f[HDR_DEV_NUM + 1]! << 8)]!;
    if (l === 0) {
      countDrop(this.counters, 'UNVALIDATED_DEV_NUM');
      return null;
    }
    f[HDR_DEV_NUM] = (l - 1) & 0xff;
    f[HDR_DEV_NUM + 1] = (l - 1) >>> 8;
    return f;
  }

  /** Router → peer: local number back to the remote one. */
  private toPeer(buf: Uint8Array, at: number, _size: number): boolean {
    if ((buf[at + HDR_TYPE]! & TYPE_BUS) !== 0) {
      countDrop(this.counters, 'UNSUPPORTED_BUS_MSG');
      return false;
    }
    const r = this.remap.toRemote[buf[at + HDR_DEV_NUM]! | (buf[at + HDR_DEV_NUM + 1]! << 8)]!;
    if (r === 0) {
      countDrop(this.counters, 'UNVALIDATED_DEV_NUM'); // removed while the frame was in the ring
      return false;
    }
    buf[at + HDR_DEV_NUM] = (r - 1) & 0xff;
    buf[at + HDR_DEV_NUM + 1] = (r - 1) >>> 8;
    return true;
  }

  /** A bus message of the far end (few: discovery answers, hotplug, PING), through the full codec. */
  private busFromPeer(f: Uint8Array, gen: number): void {
    const got = decode(f);
    if (!got.ok) {
      countDrop(this.counters, reasonName(got.reason));
      return;
    }
    const m = got.msg;
    if (m.response) {
      const w = this.waiting.get(m.token);
      if (w === undefined) countDrop(this.counters, 'UNMATCHED_RESPONSE');
      else {
        this.waiting.settle(w);
        w.resolve(f.slice());
      }
    } else if (m.message === 'PING') {
      // Either side may PING (docs/PROTOCOL.md §6): echo the data with the request's token.
      this.conn!.writer.append(encode({ message: 'PING', response: true, dev_num: 0, token: m.token, data: m.data }));
      this.conn!.flush();
    } else if (m.message === 'EVENT_DEVICE') {
      if (this.directory !== undefined) return; // the directory says which devices are ours to attach
      const dev = m.device_number;
      if (m.device_bus_state === DEVICE_BUS_STATE_READY) void this.enqueue(() => this.addRemote(dev, gen));
      else if (m.device_bus_state === DEVICE_BUS_STATE_REMOVED) void this.enqueue(() => this.removeRemote(dev));
      else countDrop(this.counters, 'UNSUPPORTED_DEVICE_BUS_STATE');
    } else {
      // GET_DEVICES asked of us, the far end's failure events (0xC1) and other implementation-defined messages.
      countDrop(this.counters, 'UNSUPPORTED_BUS_MSG');
    }
  }

  // ------------------------------------------------------------------ discovery and hotplug

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.control.then(op).catch((e: unknown) => {
      // The router closed under us, or is out of endpoints/devices: counted, the link goes on.
      countDrop(this.counters, 'HOTPLUG_FAILED');
      this.events.emit('warning', `gateway: ${(e as Error).message}`);
    });
    this.control = run;
    return run;
  }

  /** One of our own bus requests; resolves with the response (a copy). */
  private busRequest(conn: StreamConnection, frame: Uint8Array): Promise<Uint8Array> {
    const token = this.waiting.token();
    frame[HDR_TOKEN] = token & 0xff;
    frame[HDR_TOKEN + 1] = token >>> 8;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.settle(w);
        reject(new Error(`no answer to bus request 0x${frame[HDR_MSG_ID]!.toString(16)} within ${BUS_REQUEST_TIMEOUT_MS} ms`));
      }, BUS_REQUEST_TIMEOUT_MS);
      const w: BusWait = {
        token, seq: 0, settled: false,
        resolve: (f) => { clearTimeout(timer); resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.waiting.add(w);
      conn.writer.append(frame);
      conn.flush();
    });
  }

  /** Walk the far end's GET_DEVICES windows and attach every device found. */
  private async discover(conn: StreamConnection, gen: number): Promise<void> {
    const found = await walkGetDevices(conn.maxMessageSize, (offset, count) => this.busRequest(conn, getDevicesRequest(offset, count, 0)));
    await this.enqueue(async () => {
      for (const remote of found) await this.addRemote(remote, gen);
    });
  }

  /** Directory mode: attach what the directory lists and is not attached, remove what it no longer lists. */
  private async followDirectory(gen: number): Promise<void> {
    if (gen !== this.generation) return;
    const wanted = new Set(this.directory!.current());
    for (const { remote } of this.deviceMap()) if (!wanted.has(remote)) await this.removeRemote(remote);
    for (const remote of wanted) if (!this.isPresent(remote)) await this.addRemote(remote, gen);
  }

  private async addRemote(remote: number, gen: number): Promise<void> {
    if (gen !== this.generation || this.isPresent(remote) || this.desc === undefined) return;
    // Numbers another adapter of this router took while our addDevice was in progress.
    const taken = new Set<number>();
    for (let tries = 0; tries < 8; tries++) {
      const local = this.remap.claim(remote, (n) => this.router.hasDevice(n) || taken.has(n));
      if (local === undefined) throw new Error(`no free local device number for remote device ${remote}`);
      // Translation is on before the router validates `local`: a driver that hears READY may send at once.
      this.remap.activate(remote, local);
      if (remote === local) this.filter?.set(local, true);
      this.presentCount++;
      try {
        await this.router.addDevice(this.desc, local, local, this.deviceWindow === undefined ? {} : { window: this.deviceWindow });
      } catch (e) {
        this.presentCount--;
        this.filter?.set(local, false);
        this.remap.deactivate(remote);
        this.remap.release(local);
        // Another adapter of this router (not sharing our claims) took the number meanwhile: next rule.
        if (!/already attached/.test((e as Error).message)) throw e;
        taken.add(local);
        continue;
      }
      // Attached: the router's own table keeps the number taken from here on.
      this.remap.release(local);
      if (local !== remote) this.events.emit('remap', { remote, local, peer: this.conn?.remote ?? '' } satisfies RemapEvent);
      return;
    }
  }

  private async removeRemote(remote: number): Promise<void> {
    const local = this.remap.toLocal[remote]! - 1;
    if (local < 0) return;
    this.removing.add(local);
    this.filter?.set(local, false);
    this.remap.deactivate(remote);
    this.presentCount--;
    try {
      await this.router.removeDevice(local);
    } finally {
      this.removing.delete(local);
    }
  }
}
