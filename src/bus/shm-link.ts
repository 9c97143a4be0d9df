// A router link over a shared-memory bus window (vmamp or SPSC, docs/BUSES.md §2, §3), whatever
// the layout: the router's shard reads and writes the window through two cursors in place
// (an endpoint with caller-supplied cursors, Router.attachExternal). This file does everything
// around that data path, on the main thread:
//   - doorbells: the owning shard reads and rings the socket itself (src/router/socket-bells.ts;
//     without the doorbell addon, the socket bridge both ways: src/bus/doorbell-socket.ts), or busy-poll; a
//     socket that connects after the link came up is adopted then (until it does, the shard
//     polls the window, so traffic flows from the start and no frame waits for it);
//   - device side (an external device-side bus, `--device-link`): GET_DEVICES discovery, device
//     numbers kept or remapped (src/bus/remap.ts), EVENT_DEVICE hotplug;
//   - liveness: the window state (vmamp queue heads), the doorbell socket closing, and PING
//     keep-alives the router sends as itself; a peer that stops answering is dead;
//   - going down: the link detaches (its devices are REMOVED, their requests in flight fail),
//     our side of the window says SHUTDOWN or PEER_DEAD, the window is unmapped, `down` settles.
// With a bus model (`model=` on the URI) the window is not read in place: the endpoint is attached
// through the model like an in-process one (router.attachDriver/attachDevice({ model })) and a
// bridge on the main thread copies frames between the window and the model's side
// (src/bus/window-bridge.ts); doorbells and polling then wake the bridge instead of the shard.
import type { Router, ExternalEndpoint, AttachedLink } from '../router/router.js';
import type { BusLink, LinkDown } from './bus-link.js';
import type { DoorbellSocket } from './doorbell-socket.js';
import type { DoorbellArrival } from './doorbell-arrival.js';
import { removeCreatedWindow, type ShmWindow } from './shm-window.js';
import { PingWatch } from './ping-watch.js';
import { tryBellAddon } from '../native/bell.js';
import { DeviceRemap } from './remap.js';
import { getDevicesRequest, isGetDevicesResponse, walkGetDevices } from '../client/discovery.js';
import { eventDeviceNumber, eventDeviceState, isEventDevice } from '../client/event-device.js';
import { checkDeadline, sleep, type OpenDeadline } from './open-deadline.js';
import { TYPE_BUS, TYPE_RESPONSE, B_PING, HDR_SIZE } from '../protocol/constants.js';
import { encodeHeader } from '../protocol/codec.js';
import { EndpointPort } from '../endpoint/port.js';
import { CursorConsumer, CursorProducer } from '../ring/cursor.js';
import { WindowBridge } from './window-bridge.js';
import type { BusModel } from '../model/bus-model.js';

// PING payload (docs/PROTOCOL.md §6): {data u32}.
const PING_DATA = HDR_SIZE;
const PING_SIZE = HDR_SIZE + 4;

/** One side of a window, brought up, as a bus adapter (src/bus/vmamp.ts, spsc.ts) hands it over. */
export interface WindowSide {
  readonly window: ShmWindow;
  /** Largest frame: the element or slot size. */
  readonly maxMessageSize: number;
  /**
   * Fill the router's two cursors: `inCursor` consumes what the peer sends,
   * `outCursor` produces towards the peer and rings the word at `outWake` (0 = nobody).
   */
  initCursors(inCursor: number, outCursor: number, outWake: number): void;
  /** The peer is known to be there already (vmamp after bring-up); else after its first answer. */
  readonly peerPresent: boolean;
  /** The window says the peer left (checked every few ms): why, or null while it is fine. */
  peerLeft(): LinkDown | null;
  /** Record in the window that our side stopped (vmamp: SHUTDOWN, or PEER_DEAD when we gave up on the peer). */
  markStopped(cause: LinkDown['cause']): void;
}

export interface ShmLinkStartOptions {
  pingMs: number;
  /** Where remap rule 3 starts (`remap_base=`; src/bus/remap.ts). */
  remapBase?: number | undefined;
  deadline: OpenDeadline;
  /** Where notable events go (remaps, hotplug); default: nowhere. */
  log?: (line: string) => void;
  /** A bus model between the router and the window (frames then copied by a bridge). */
  model?: BusModel | undefined;
}

/** How often the window state is looked at. */
const STATE_CHECK_MS = 20;
/** GET_DEVICES is sent again when unanswered for this long (the peer may still be starting). */
const DISCOVERY_RETRY_MS = 500;
const EVENT_DEVICE_READY = 1;
const EVENT_DEVICE_REMOVED = 2;

export class ShmBusLink implements BusLink {
  readonly down: Promise<LinkDown>;
  private resolveDown!: (d: LinkDown) => void;
  private stopping: Promise<void> | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopBridge: (() => void) | null = null;
  /** The shard rings the doorbell socket itself: which shard, and our descriptor for the socket. */
  private shardBell: { shard: number; fd: number } | null = null;
  /** The shard also reads the doorbell socket: what to call when it reports the socket closed. */
  private shardReads: ((why: string) => void) | null = null;
  /** The shard polls this link's window (no doorbell socket yet, or none configured). */
  private polling = true;
  private readonly cursors: number;
  private readonly wakeWord: number;
  /** The router's endpoint: the window itself (in place), or the model's in-process link. */
  private ext!: AttachedLink;
  /** In place: the shard that reads the window. */
  private shard = -1;
  /** With a bus model: what copies frames between the window and the model's side. */
  private bridge: WindowBridge | null = null;
  /** Bus device number → router device number. */
  private readonly numbers = new Map<number, number>();
  private readonly remap: DeviceRemap;
  private hotplug: Promise<void> = Promise.resolve();
  private contact: boolean;
  private readonly pingWatch: PingWatch;
  private discoveryWaiter: ((f: Uint8Array) => void) | null = null;
  private readonly log: (line: string) => void;
  /** PINGs sent / answered, control frames seen (diagnostics). */
  readonly counters = { pings: 0, pingAnswers: 0, controlFrames: 0 };

  private constructor(
    private readonly router: Router,
    readonly uri: string,
    readonly side: 'driver' | 'device',
    private readonly win: WindowSide,
    private readonly doorbell: DoorbellArrival | null,
    private readonly opts: ShmLinkStartOptions,
  ) {
    this.down = new Promise((r) => (this.resolveDown = r));
    this.contact = win.peerPresent;
    this.log = opts.log ?? (() => {});
    this.pingWatch = new PingWatch(opts.pingMs);
    this.remap = new DeviceRemap(router, opts.remapBase, `shm ${uri}`);
    const mem = router.mem;
    this.cursors = mem.alloc(128);
    // A bridged window is rung by the bridge itself: no wake word.
    this.wakeWord = doorbell === null || opts.model !== undefined ? 0 : mem.alloc(64);
    // AWAKE (0) until the socket is adopted: publishing then finds nobody to wake and moves on.
    if (this.wakeWord !== 0) Atomics.store(mem.i32, this.wakeWord >>> 2, 0);
  }

  /** Router numbers of the devices behind this link (device side). */
  get devices(): readonly number[] {
    return this.ext?.devices ?? [];
  }

  /** The doorbell socket: none configured, not connected yet (the window is polled), or connected. */
  get doorbellState(): 'none' | 'waiting' | 'connected' {
    if (this.doorbell === null) return 'none';
    return this.polling ? 'waiting' : 'connected';
  }

  /** What the start-up line adds: the bus model, and the copy it costs. */
  get detail(): string | undefined {
    const m = this.opts.model;
    return m === undefined ? undefined : `bus model ${m.name} (frames copied between the window and the model: lower throughput than the in-place window)`;
  }

  /** The router endpoint id (stats). */
  get endpointId(): number {
    return this.ext.id;
  }

  /**
   * Attach the window to the router and start watching the peer; for a device-side bus, also
   * discover its devices. On failure everything is released and the error is thrown.
   */
  static async start(
    router: Router, uri: string, side: 'driver' | 'device', win: WindowSide, doorbell: DoorbellArrival | null, opts: ShmLinkStartOptions,
  ): Promise<ShmBusLink> {
    const link = new ShmBusLink(router, uri, side, win, doorbell, opts);
    try {
      await link.attach();
      if (side === 'device') await link.discover();
    } catch (e) {
      await link.stop({ cause: 'error', detail: (e as Error).message });
      throw e;
    }
    return link;
  }

  private async attach(): Promise<void> {
    const { router, win, doorbell } = this;
    const inCursor = this.cursors;
    const outCursor = this.cursors + 64;
    win.initCursors(inCursor, outCursor, this.wakeWord);
    this.polling = doorbell?.socket == null;
    const model = this.opts.model;
    if (model !== undefined) {
      const max = win.maxMessageSize;
      // As the API attaches a modelled endpoint; external drivers get no failure events (wire links never do).
      const desc = this.side === 'driver'
        ? await router.attachDriver({ maxMessageSize: max, failureEvents: false, label: this.uri, model })
        : await router.attachDevice({ maxMessageSize: max, label: this.uri, model, ownNumbering: true });
      this.ext = desc;
      this.bridge = new WindowBridge(new EndpointPort(desc, { spinBeforeSleep: 0 }), new CursorConsumer(router.mem, inCursor), new CursorProducer(router.mem, outCursor));
    } else {
      const ext: ExternalEndpoint = await router.attachExternal({
        kind: this.side, inCursor, outCursor, maxMessageSize: win.maxMessageSize, busyPoll: this.polling, ownNumbering: this.side === 'device', label: this.uri,
      });
      this.ext = ext;
      this.shard = ext.shard;
    }
    router.onControlFrame(this.ext, (f) => this.onControlFrame(f));
    doorbell?.onArrival((s) => this.adopt(s));
    const every = (ms: number, f: () => void): void => {
      const t = setInterval(f, ms);
      t.unref();
      this.timers.push(t);
    };
    every(STATE_CHECK_MS, () => {
      // First: a truncated window also reads as a peer that lost its magic, but this says why.
      if (win.window.lost()) {
        this.log(`${this.uri}: the window file shrank under us (a peer truncated it); its pages read as zeros now, taking the link down`);
        void this.stop({ cause: 'peer-dead', detail: 'the window file shrank under us (truncated by the peer)' });
        return;
      }
      const left = win.peerLeft();
      if (left !== null) void this.stop(left);
      else if (this.shardReads !== null && this.shardBell !== null && router.socketBells.closed(this.shardBell.shard, this.wakeWord)) {
        this.shardReads('the peer closed the doorbell socket');
      }
    });
    if (this.opts.pingMs > 0) every(this.opts.pingMs, () => this.keepAlive());
  }

  /**
   * Take the doorbell socket into use, whenever it connects. Until now the shard polled the
   * window and the out cursor's wake word sat at AWAKE (nobody re-armed it, so publishing rang
   * nothing). Arm the bridge first, then ring once: frames published before the arming are in
   * the window when that byte arrives. Then stop polling and wake the shard once: it looks at
   * the window before it sleeps, so frames the peer published before it connected (without a
   * byte) are taken too. No frame is lost or left waiting across the switch.
   */
  private adopt(s: DoorbellSocket): void {
    if (this.stopping !== null) return;
    const { router, win } = this;
    const shard = this.shard;
    this.contact = true; // a connected socket is a present peer
    // A peer that shut down cleanly closes its socket too: the window says which it was.
    const onEnd = (why: string): void => void this.stop(win.peerLeft() ?? { cause: 'peer-dead', detail: why });
    if (this.bridge !== null) {
      this.polling = false;
      this.bridge.useSocket(s);
      s.onEnd(onEnd);
      this.log(`${this.uri}: doorbell socket connected`);
      return;
    }
    s.onRing(() => router.wakeShard(shard));
    // The shard writes the byte itself when it publishes for the peer (src/router/socket-bells.ts);
    // without the doorbell addon, or with its table full, the main thread bridges.
    const bell = tryBellAddon();
    const fd = bell !== null && s.fd >= 0 ? bell.dup(s.fd) : -1;
    if (fd >= 0 && router.socketBells.add(shard, this.wakeWord, fd)) {
      this.shardBell = { shard, fd };
      // The shard reads the peer's bytes too (it sleeps in poll(2) on them), so this thread no
      // longer wakes for them; it learns that the peer closed the socket from the shard
      // (the state check below). Bytes read here before this still wake the shard (onRing).
      if (s.stopReading()) this.shardReads = onEnd;
    } else {
      if (fd >= 0) bell!.close(fd);
      this.stopBridge = s.bridgeWakeups(router.mem.i32, this.wakeWord);
    }
    s.ring();
    if (this.polling) {
      this.polling = false;
      router.setExternalPolling(this.ext, false);
    }
    router.wakeShard(shard);
    s.onEnd(onEnd);
    this.log(`${this.uri}: doorbell socket connected`);
  }

  /** One keep-alive tick (src/bus/ping-watch.ts): a PING when none is out, or the verdict dead. */
  private keepAlive(): void {
    if (this.stopping !== null) return;
    const t = this.pingWatch.tick(Date.now());
    if (t === null) return;
    if ('deadMs' in t) {
      if (this.contact) void this.stop({ cause: 'peer-dead', detail: `no answer to a PING for ${t.deadMs} ms` });
      return;
    }
    const data = t.send;
    const f = encodeHeader({ type: TYPE_BUS, msg_id: B_PING, dev_num: 0, token: (data & 0xffff) || 1, msg_size: PING_SIZE }, new Uint8Array(PING_SIZE));
    new DataView(f.buffer).setUint32(PING_DATA, data, true);
    this.counters.pings++;
    this.router.sendAsRouter(this.ext, f).catch(() => {});
  }

  private onControlFrame(f: Uint8Array): void {
    this.counters.controlFrames++;
    if (f.length < PING_SIZE) return; // every bus message we act on has at least 4 payload bytes
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const type = f[0]!;
    const id = f[1]!;
    if (type === (TYPE_BUS | TYPE_RESPONSE) && id === B_PING) {
      if (this.pingWatch.answered(dv.getUint32(PING_DATA, true))) {
        this.contact = true;
        this.counters.pingAnswers++;
      }
      return;
    }
    if (this.side !== 'device') return;
    if (isGetDevicesResponse(f)) {
      this.contact = true;
      const w = this.discoveryWaiter;
      this.discoveryWaiter = null;
      w?.(f);
      return;
    }
    if (type === TYPE_BUS && isEventDevice(f, 0, f.length)) {
      const busNum = eventDeviceNumber(f, 0);
      const state = eventDeviceState(f, 0);
      this.hotplug = this.hotplug.then(() => this.busDeviceEvent(busNum, state)).catch((e: unknown) => {
        this.log(`${this.uri}: EVENT_DEVICE ${busNum} state ${state} not applied (${(e as Error).message})`);
      });
    }
  }

  /** GET_DEVICES over the link until every device is known, then attach them (numbers kept or remapped). */
  private async discover(): Promise<void> {
    const request = async (offset: number, count: number): Promise<Uint8Array> => {
      for (;;) {
        const answer = new Promise<Uint8Array | null>((resolve) => {
          const timer = setTimeout(() => resolve(null), DISCOVERY_RETRY_MS);
          this.discoveryWaiter = (f) => {
            clearTimeout(timer);
            resolve(f);
          };
        });
        await this.router.sendAsRouter(this.ext, getDevicesRequest(offset, count, 1));
        const f = await answer;
        if (this.stopping !== null) throw new Error('the link went down during discovery');
        if (f !== null) return f;
        checkDeadline(this.opts.deadline, `a GET_DEVICES answer from ${this.uri}`);
        await sleep(1);
      }
    };
    const found = await walkGetDevices(this.win.maxMessageSize, request);
    for (const busNum of found) await this.addBusDevice(busNum);
    this.log(`${this.uri}: ${found.length} device(s): ${found.map((b) => (this.numbers.get(b) === b ? `${b}` : `${b}→${this.numbers.get(b)}`)).join(', ') || 'none'}`);
  }

  private async addBusDevice(busNum: number): Promise<void> {
    if (this.numbers.has(busNum)) return;
    const dev = this.remap.claim(busNum, (n) => this.router.hasDevice(n));
    if (dev === undefined) throw new RangeError('no free device number left on this router (65536 in use)');
    try {
      await this.router.addDevice(this.ext, dev, busNum);
    } finally {
      this.remap.release(dev); // attached (the router's own table guards it now) or refused
    }
    this.numbers.set(busNum, dev);
    if (dev !== busNum) this.log(`${this.uri}: device ${busNum} is device ${dev} on this router (remapped: ${busNum} was taken)`);
  }

  private async busDeviceEvent(busNum: number, state: number): Promise<void> {
    if (this.stopping !== null) return;
    if (state === EVENT_DEVICE_READY) {
      await this.addBusDevice(busNum);
      this.log(`${this.uri}: device ${busNum} READY`);
    } else if (state === EVENT_DEVICE_REMOVED) {
      const dev = this.numbers.get(busNum);
      if (dev === undefined) return;
      this.numbers.delete(busNum);
      await this.router.removeDevice(dev);
      this.log(`${this.uri}: device ${busNum} REMOVED`);
    }
  }

  /** Take the link down once (any cause); resolves when everything is released. */
  private stop(why: LinkDown): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.stopBridge?.();
      this.bridge?.stop();
      // The shard stops ringing now; our descriptor is closed once it acknowledged detach below.
      if (this.shardBell !== null) this.router.socketBells.remove(this.shardBell.shard, this.wakeWord);
      this.doorbell?.socket?.onRing(null);
      const w = this.discoveryWaiter;
      this.discoveryWaiter = null;
      w?.(new Uint8Array(0));
      const { router } = this;
      if (this.ext !== undefined) {
        router.onControlFrame(this.ext, null);
        await this.hotplug;
        // After detach no shard touches the window: its devices are REMOVED (requests in flight
        // fail towards their drivers) and the endpoint reads nothing more.
        if (!router.isClosed) {
          try {
            await router.detach(this.ext);
          } catch (e) {
            if (!router.isClosed) process.emitWarning(`vmsg-router: detaching ${this.uri} failed: ${(e as Error).message}`);
          }
        }
      }
      this.win.markStopped(why.cause);
      // Closed by us for good: a window we built goes away with the link. After a peer left it
      // stays (the next open rebuilds it in place, where the next peer looks).
      this.win.window.close(why.cause === 'closed');
      if (this.shardBell !== null) {
        tryBellAddon()?.close(this.shardBell.fd);
        this.shardBell = null;
      }
      router.mem.free(this.cursors, 128);
      if (this.wakeWord !== 0) router.mem.free(this.wakeWord, 64);
      await this.doorbell?.close();
      this.resolveDown(why); // `down` says why; its holder reports it (vmsg route does, once)
    })();
    return this.stopping;
  }

  async close(): Promise<void> {
    await this.stop({ cause: 'closed', detail: 'closed by us' });
    // Closed for good: a window we built goes, also when the link was already down because the
    // peer left (that stop kept it for the next peer).
    removeCreatedWindow(this.win.window);
  }
}
