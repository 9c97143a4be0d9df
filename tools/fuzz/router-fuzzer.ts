// Router fuzzing harness: one real Router (real shard worker threads, shared memory) with
// driver and device links whose far ends this thread plays — some as well-behaved but careless
// endpoints that send fuzzed frames and answer requests right, late, twice, with the wrong
// token or id, too large, for a device they do not serve, or never; one as a hostile peer
// that writes its ring indices out of range or races them ahead; two whose rings a worker
// thread fills with torn writes (index published before the payload, bytes rewritten while the
// router reads). After each case it waits until the router is quiescent and checks:
//   - the router neither crashed nor hung (no shard restart, quiescent within a deadline),
//   - it wrote nothing outside its rings and tables (guard canaries around every link's
//     allocations, ring headers intact),
//   - every frame it delivered passes the router checks of src/protocol/validate.ts for its
//     direction, link size and the devices the link may see; requests carry a router token,
//   - every request a well-behaved driver sent got exactly one response or transport failure,
//     and nothing else came back,
//   - every frame is accounted for (src/router/accounting.ts, and per link: taken = sent,
//     written = received).
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import fc from 'fast-check';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import type { RouterStats } from '../../src/router/stats.js';
import { checkAccounting, accountingViolations } from '../../src/router/accounting.js';
import { validateRouter } from '../../src/protocol/validate.js';
import { reasonName } from '../../src/protocol/reasons.js';
import { failedDevice, failedMsgId, failedReason, failedToken, isRequestFailed } from '../../src/client/request-failed.js';
import { frameSize, msgSizeAt } from '../../src/protocol/header.js';
import { NR_PROD_INDEX, NR_CONS_INDEX, NR_PROD_CURSOR, NR_CONS_CURSOR, NR_CAPACITY, NR_FRAME_UNITS, NR_SLOT_SIZE, checkNativeRing } from '../../src/ring/native.js';
import { CUR_LOCAL, CUR_FAULTS } from '../../src/ring/cursor.js';
import { packageRoot } from '../../src/util/paths.js';
import { fuzzFrame, loadVectorFrames } from './frames.js';
import { Prng } from './prng.js';
import type { TornWriterData } from './torn-writer.js';
import { eventDeviceNumber, isEventDevice } from '../../src/client/event-device.js';

type Role = 'fuzz' | 'hostile' | 'torn';

interface LinkSpec {
  name: string;
  kind: 'driver' | 'device';
  shard: number;
  role: Role;
  devices?: number[];
  allow?: number[];
  maxMessageSize?: number;
}

/**
 * The fuzzed topology. Device 9 is allowed to drv1 but never attached; drv1's link (64 B) is
 * smaller than dev0's (264 B) and dev1's (48 B) smaller than drv0's: the size limits per link
 * are part of what is fuzzed. Two shards when the machine has two cores (cross-shard paths).
 */
const LINKS: LinkSpec[] = [
  { name: 'drv0', kind: 'driver', shard: 0, role: 'fuzz' },
  { name: 'drv1', kind: 'driver', shard: 1, role: 'fuzz', allow: [1, 3, 9], maxMessageSize: 64 },
  { name: 'dev0', kind: 'device', shard: 0, role: 'fuzz', devices: [1, 2] },
  { name: 'dev1', kind: 'device', shard: 1, role: 'fuzz', devices: [3], maxMessageSize: 48 },
  { name: 'hostile', kind: 'driver', shard: 0, role: 'hostile' },
  { name: 'tornDrv', kind: 'driver', shard: 1, role: 'torn' },
  { name: 'tornDev', kind: 'device', shard: 0, role: 'torn', devices: [4] },
];

const CANARY_BYTES = 256;
/** How long a case may take to become quiescent before it counts as a hang. */
const SETTLE_LIMIT_MS = 20_000;

interface LinkState {
  spec: LinkSpec;
  link: LinkDescriptor;
  port: EndpointPort;
  maxSize: number;
  /** Frames put into the endpoint → router ring (known for fuzz and torn links). */
  sent: number;
  /** Frames read from the router → endpoint ring. */
  received: number;
  /** Device numbers whose transport frames the link may see. */
  visible: Set<number>;
  /** Drivers: requests sent and not yet answered, by "dev:msg_id:token". */
  open: Map<string, number>;
}

export type FuzzStep =
  | { op: 'send'; link: number; frame: Uint8Array }
  | { op: 'pump' }
  | { op: 'prod-index'; value: number }
  | { op: 'cons-index'; value: number };

export interface FuzzCase {
  /** Seeds the endpoints' choices (how and whether devices answer). */
  seed: number;
  steps: FuzzStep[];
  /** Frames the torn writers publish into tornDrv's and tornDev's rings during the case. */
  torn?: { driverFrames: number; deviceFrames: number };
}

export interface FuzzTally {
  cases: number;
  framesSent: number;
  tornFrames: number;
  hostileIndexWrites: number;
  hostileOutOfRange: number;
  framesDelivered: number;
  /** Transport failures the well-behaved drivers received, by reason. */
  failuresByReason: Record<string, number>;
}

const GET_DEVICE_INFO = 0x02;
const GET_SHM = 0x0c;

/** Would the router treat the (zero-padded) header `h` on a link of `maxSize` as a transport request? */
function routerSeesRequest(h: Uint8Array, maxSize: number): boolean {
  const size = msgSizeAt(h, 0);
  if (size < 8 || size > maxSize) return false;
  const type = h[0]!, id = h[1]!;
  if ((type & 3) !== 0 || (id & 0x40) !== 0) return false;
  return (id & 0x80) !== 0 || (id >= GET_DEVICE_INFO && id <= GET_SHM);
}

const keyOf = (dev: number, id: number, token: number): string => `${dev}:${id}:${token}`;

export interface RouterFuzzerOptions {
  /** Request timeout of the fuzzed router (short, so unanswered requests settle fast). */
  timeoutMs?: number;
}

export class RouterFuzzer {
  readonly tally: FuzzTally = {
    cases: 0, framesSent: 0, tornFrames: 0, hostileIndexWrites: 0, hostileOutOfRange: 0, framesDelivered: 0, failuresByReason: {},
  };
  private readonly links: LinkState[] = [];
  private readonly canaries: number[] = [];
  private readonly vectors = loadVectorFrames();
  private violations: string[] = [];
  private rnd = new Prng(1);
  /** Answers a device holds back, sent at a later pump. */
  private delayed: { link: LinkState; frame: Uint8Array }[] = [];

  private constructor(readonly router: Router) {}

  static async create(opts: RouterFuzzerOptions = {}): Promise<RouterFuzzer> {
    const shards = Math.min(2, availableParallelism());
    // Small rings, windows and park bounds so backpressure, parking, DEVICE_BUSY and the pool
    // limits are reached by short cases.
    const router = await Router.create({
      shards, timeoutMs: opts.timeoutMs ?? 150, window: 4, parkLimit: 8, ringCapacity: 16, ringBatch: 4,
      poolSlots: 512, sourceBudget: 8, spinBeforeSleep: 100, memoryBytes: 64 * 1024 * 1024,
    });
    const f = new RouterFuzzer(router);
    f.addCanary();
    for (const spec of LINKS) {
      const shard = Math.min(spec.shard, shards - 1);
      const link = spec.kind === 'driver'
        ? await router.attachDriver({ shard, ...(spec.allow ? { allow: spec.allow } : {}), ...(spec.maxMessageSize ? { maxMessageSize: spec.maxMessageSize } : {}) })
        : await router.attachDevice({ shard, devices: spec.devices ?? [], ...(spec.maxMessageSize ? { maxMessageSize: spec.maxMessageSize } : {}) });
      f.addCanary();
      f.links.push({
        spec, link, port: new EndpointPort(link, { spinBeforeSleep: 0 }), maxSize: link.maxMessageSize, sent: 0, received: 0,
        visible: new Set(), open: new Map(),
      });
    }
    const all = LINKS.flatMap((l) => l.devices ?? []);
    for (const l of f.links) {
      for (const d of l.spec.kind === 'device' ? l.spec.devices ?? [] : all) if (!l.spec.allow || l.spec.allow.includes(d)) l.visible.add(d);
    }
    await f.settle(); // the EVENT_DEVICE READY announcements
    f.violations = [];
    return f;
  }

  /** Links the well-behaved fuzz endpoints use (indices for FuzzStep.link). */
  fuzzLinks(): number[] {
    return this.links.flatMap((l, i) => (l.spec.role === 'fuzz' ? [i] : []));
  }

  private linkNamed(name: string): LinkState {
    return this.links.find((l) => l.spec.name === name)!;
  }

  // ------------------------------------------------------------------ arbitraries

  private sendStep(links: number[]): fc.Arbitrary<FuzzStep> {
    return fc.constantFrom(...links).chain((i) => {
      const l = this.links[i]!;
      // Every attached device (allowed or not), one allowed but never attached (9), and two
      // nobody serves (0, 5).
      const shape = { devices: [1, 2, 3, 4, 9, 0, 5], maxSize: l.maxSize };
      return fuzzFrame(shape, this.vectors).map((frame): FuzzStep => ({ op: 'send', link: i, frame }));
    });
  }

  /** Random and mutated frames on every well-behaved link, with pumps in between. */
  framesCase(maxSteps = 60): fc.Arbitrary<FuzzCase> {
    const step = fc.oneof({ weight: 10, arbitrary: this.sendStep(this.fuzzLinks()) }, { weight: 1, arbitrary: fc.constant<FuzzStep>({ op: 'pump' }) });
    return fc.record({ seed: fc.nat(), steps: fc.array(step, { minLength: 1, maxLength: maxSteps, size: 'max' }) });
  }

  /** The hostile driver writes its ring indices (in range, racing ahead, out of range) between frames. */
  hostileCase(maxSteps = 40): fc.Arbitrary<FuzzCase> {
    const h = this.links.findIndex((l) => l.spec.role === 'hostile');
    const cap = this.ringCapacity();
    const index = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: cap - 1 }) },
      { weight: 2, arbitrary: fc.constantFrom(cap, cap + 1, 0x7fffffff, 0x80000000, 0xffffffff) },
      { weight: 1, arbitrary: fc.nat() },
    );
    const step = fc.oneof(
      { weight: 4, arbitrary: this.sendStep([h]) },
      { weight: 2, arbitrary: this.sendStep(this.fuzzLinks()) },
      { weight: 2, arbitrary: index.map((value): FuzzStep => ({ op: 'prod-index', value })) },
      { weight: 2, arbitrary: index.map((value): FuzzStep => ({ op: 'cons-index', value })) },
      { weight: 1, arbitrary: fc.constant<FuzzStep>({ op: 'pump' }) },
    );
    return fc.record({ seed: fc.nat(), steps: fc.array(step, { minLength: 1, maxLength: maxSteps }) });
  }

  /** Torn writes into tornDrv's and tornDev's rings from a worker thread, with fuzz traffic alongside. */
  tornCase(maxFrames = 300): fc.Arbitrary<FuzzCase> {
    return fc.record({
      seed: fc.nat(),
      steps: fc.array(this.sendStep(this.fuzzLinks()), { maxLength: 10 }),
      torn: fc.record({ driverFrames: fc.integer({ min: 1, max: maxFrames }), deviceFrames: fc.integer({ min: 1, max: maxFrames }) }),
    });
  }

  private ringCapacity(): number {
    return this.router.mem.u32[(this.links[0]!.link.toRouter + NR_CAPACITY) >>> 2]!;
  }

  // ------------------------------------------------------------------ running a case

  /** Run one case to quiescence; returns what it found wrong (empty = every property held). */
  async runCase(c: FuzzCase): Promise<string[]> {
    this.violations = [];
    this.rnd = new Prng(c.seed);
    this.tally.cases++;
    const torn = c.torn !== undefined ? this.startTornWriters(c.seed, c.torn) : Promise.resolve();
    let hostileTouched = false;
    for (const s of c.steps) {
      if (s.op === 'send') await this.send(this.links[s.link]!, s.frame);
      else if (s.op === 'pump') this.pump();
      else {
        hostileTouched = true;
        await this.hostileIndex(s.op, s.value);
      }
    }
    await torn;
    if (hostileTouched) this.repairHostile();
    await this.settle();
    this.checkAll();
    return this.violations;
  }

  /** Zero-pad the slot, copy the frame as EndpointPort.send would (msg_size bytes when sane), commit. */
  private async send(l: LinkState, frame: Uint8Array): Promise<void> {
    const { port } = l;
    let slot = port.reserve();
    // The router may hold a source back for a while (a device queue full of requests that
    // only time out, an endpoint not yet counted as stalled); for SETTLE_LIMIT_MS it is a hang.
    const deadline = Date.now() + SETTLE_LIMIT_MS;
    for (let tries = 0; slot === 0; tries++) {
      if (Date.now() > deadline) {
        const st = this.router.stats();
        this.violations.push(`${l.spec.name}: ring stayed full for ${SETTLE_LIMIT_MS} ms (router not draining): ` +
          `${st.totals.inFlight} in flight, ${st.totals.parkedNow} parked, pools ${st.shards.map((s) => s.poolFree).join('/')}`);
        return;
      }
      // A hostile peer can wedge only itself: with its published index no longer its own
      // (the router consumed up to the value it wrote), its port may see a full ring that the
      // router sees empty. After a while it publishes its true indices again.
      if (l.spec.role === 'hostile' && tries === 1000) this.repairHostile();
      port.flush();
      this.pump();
      if ((tries & 63) === 63) await new Promise((r) => setTimeout(r, 1));
      slot = port.reserve();
    }
    const size = frameSize(frame);
    const n = size >= 8 && size <= frame.length ? size : frame.length;
    const stride = this.router.mem.u32[(l.link.toRouter + NR_SLOT_SIZE) >>> 2]!;
    port.u8.fill(0, slot, slot + stride);
    port.u8.set(frame.subarray(0, n), slot);
    if (l.spec.role === 'fuzz' && l.spec.kind === 'driver') {
      const h = port.u8.subarray(slot, slot + 8);
      if (routerSeesRequest(h, l.maxSize)) {
        const k = keyOf(h[2]! | (h[3]! << 8), h[1]!, h[4]! | (h[5]! << 8));
        l.open.set(k, (l.open.get(k) ?? 0) + 1);
      }
    }
    port.commit();
    l.sent++;
    this.tally.framesSent++;
    if (this.rnd.chance(0.3)) port.flush();
  }

  /** Let every endpoint this thread plays read what the router wrote, answer, and publish. */
  pump(): number {
    let n = 0;
    for (const l of this.links) {
      const { port } = l;
      for (let f = port.peek(); f !== 0; f = port.peek()) {
        const size = port.u8[f + 6]! | (port.u8[f + 7]! << 8);
        const frame = port.u8.slice(f, f + Math.min(Math.max(size, 8), l.maxSize));
        port.release();
        l.received++;
        this.tally.framesDelivered++;
        n++;
        if (l.spec.role !== 'hostile') this.checkDelivered(l, frame, size);
        if (l.spec.role === 'fuzz' && l.spec.kind === 'device') this.answer(l, frame);
      }
      port.flushReceived();
    }
    if (this.delayed.length > 0 && this.rnd.chance(0.3)) this.releaseDelayed();
    for (const l of this.links) if (l.spec.role === 'fuzz') l.port.flush();
    return n;
  }

  private releaseDelayed(): void {
    const later = this.delayed.splice(0).reverse(); // out of order on purpose
    for (const d of later) this.sendNow(d.link, d.frame);
  }

  /** Write a frame the endpoint makes itself (answers, events); counts as sent. */
  private sendNow(l: LinkState, frame: Uint8Array): void {
    if (!l.port.send(frame)) { this.delayed.push({ link: l, frame }); return; }
    l.sent++;
  }

  /** The router checks of src/protocol/validate.ts, for what this link may receive. */
  private checkDelivered(l: LinkState, f: Uint8Array, size: number): void {
    const where = `${l.spec.name} received ${Buffer.from(f).toString('hex')}`;
    if (size < 8 || size > l.maxSize) { this.violations.push(`${where}: msg_size ${size} outside 8..${l.maxSize}`); return; }
    const v = validateRouter(f, { direction: l.spec.kind === 'device' ? 'driver_to_device' : 'device_to_driver', busMaxSize: l.maxSize, knownDevices: l.visible });
    if (!v.ok) { this.violations.push(`${where}: invalid (${reasonName(v.reason)}: ${v.detail})`); return; }
    const { type, msg_id: id, dev_num: dev, token } = v.header;
    const bus = (type & 2) !== 0;
    if (l.spec.kind === 'device') {
      // Devices get transport frames from drivers (requests with a router token, events with
      // token 0) and the router's answers to their own PINGs.
      if (bus ? (type & 1) === 0 : (type & 1) !== 0) this.violations.push(`${where}: not something a device is sent`);
      else if (!bus && ((id & 0x40) !== 0) !== (token === 0)) this.violations.push(`${where}: token ${token} wrong for a ${(id & 0x40) !== 0 ? 'event' : 'request'}`);
      return;
    }
    if (isEventDevice(f, 0, f.length)) {
      const d = eventDeviceNumber(f, 0);
      if (!l.visible.has(d)) this.violations.push(`${where}: EVENT_DEVICE about device ${d} it may not see`);
    }
    if (l.spec.role !== 'fuzz') return;
    let k: string | undefined;
    if (isRequestFailed(f, 0, f.length)) {
      k = keyOf(failedDevice(f, 0), failedMsgId(f, 0), failedToken(f, 0));
      const reason = reasonName(failedReason(f, 0));
      this.tally.failuresByReason[reason] = (this.tally.failuresByReason[reason] ?? 0) + 1;
    } else if (!bus && (type & 1) !== 0) {
      k = keyOf(dev, id, token);
    }
    if (k === undefined) return;
    const open = l.open.get(k) ?? 0;
    if (open === 0) this.violations.push(`${where}: answers no request it has open (${k})`);
    else if (open === 1) l.open.delete(k);
    else l.open.set(k, open - 1);
  }

  /** A careless device: answers right, late, twice, wrong, too big, spoofed, or not at all. */
  private answer(l: LinkState, f: Uint8Array): void {
    const type = f[0]!, id = f[1]!, dev = f[2]! | (f[3]! << 8), token = f[4]! | (f[5]! << 8);
    const r = this.rnd;
    if ((type & 3) !== 0) return; // PING answers
    if ((id & 0x40) !== 0) {
      if (id === 0x41 && r.chance(0.5)) this.sendNow(l, this.frame(0, 0x42, dev, 0, 12));
      if (r.chance(0.1)) this.sendNow(l, this.frame(0, 0x40, dev, 0, 16));
      return;
    }
    const size = r.chance(0.8) ? 12 : 8 + r.int(l.maxSize - 7);
    const resp = (tok = token, rid = id, n = size): Uint8Array => this.frame(1, rid, dev, tok, n);
    const p = r.next();
    if (p < 0.55) this.sendNow(l, resp());
    else if (p < 0.67) this.delayed.push({ link: l, frame: resp() });
    else if (p < 0.72) { this.sendNow(l, resp()); this.sendNow(l, resp()); }
    else if (p < 0.77) this.sendNow(l, resp((token + 1 + r.int(0xfffe)) & 0xffff));
    else if (p < 0.8) this.sendNow(l, resp(token, id ^ (1 + r.int(0x3f))));
    else if (p < 0.84) this.sendNow(l, resp(token, id, l.maxSize));
    else if (p < 0.88) {
      const other = this.links.find((o) => o.spec.role === 'fuzz' && o.spec.kind === 'device' && o !== l);
      if (other !== undefined) this.sendNow(other, this.frame(1, id, dev, token, Math.min(size, other.maxSize)));
    }
    // else: never answered (the router's timeout answers for the device)
  }

  private frame(type: number, id: number, dev: number, token: number, size: number): Uint8Array {
    const f = new Uint8Array(size);
    f.set([type, id, dev & 0xff, dev >> 8, token & 0xff, token >> 8, size & 0xff, size >> 8]);
    f.set(this.rnd.bytes(size - 8), 8);
    return f;
  }

  // ------------------------------------------------------------------ hostile peer and torn writes

  /**
   * The hostile driver stores a value of its choosing into its published index of either ring,
   * then gives the router a moment to act on it (its own port publishes over it only with its
   * next batch or when its ring looks full).
   */
  private async hostileIndex(op: 'prod-index' | 'cons-index', value: number): Promise<void> {
    const l = this.linkNamed('hostile');
    const at = op === 'prod-index' ? l.link.toRouter + NR_PROD_INDEX : l.link.fromRouter + NR_CONS_INDEX;
    Atomics.store(this.router.mem.u32, at >>> 2, value >>> 0);
    this.tally.hostileIndexWrites++;
    if (value >>> 0 >= this.ringCapacity()) this.tally.hostileOutOfRange++;
    // Wake the shard (the hostile peer may ring it too) and let it look.
    this.router.wakeShard(l.spec.shard < this.router.options.shards ? l.spec.shard : 0);
    await new Promise((r) => setTimeout(r, 1));
  }

  /** The hostile peer behaves again: its published indices are what its own cursors say. */
  private repairHostile(): void {
    const l = this.linkNamed('hostile');
    const { u32 } = this.router.mem;
    l.port.flush();
    l.port.flushReceived();
    Atomics.store(u32, (l.link.toRouter + NR_PROD_INDEX) >>> 2, u32[(l.link.toRouter + NR_PROD_CURSOR + CUR_LOCAL) >>> 2]!);
    Atomics.store(u32, (l.link.fromRouter + NR_CONS_INDEX) >>> 2, u32[(l.link.fromRouter + NR_CONS_CURSOR + CUR_LOCAL) >>> 2]!);
  }

  private async startTornWriters(seed: number, t: { driverFrames: number; deviceFrames: number }): Promise<void> {
    const file = join(packageRoot(), 'dist', 'tools', 'fuzz', 'torn-writer.js');
    const run = (l: LinkState, frames: number, s: number): Promise<void> => {
      const data: TornWriterData = {
        memory: this.router.mem.memory, ring: l.link.toRouter, kind: l.spec.kind, devices: l.spec.kind === 'driver' ? [1, 2, 3, 4] : l.spec.devices ?? [],
        maxSize: l.maxSize, frames, seed: s,
      };
      const w = new Worker(file, { workerData: data });
      return new Promise<void>((resolve, reject) => {
        w.once('message', (m: { published: number }) => {
          l.sent += m.published;
          this.tally.tornFrames += m.published;
          if (m.published !== frames) this.violations.push(`${l.spec.name}: torn writer published ${m.published} of ${frames} (router stopped draining)`);
          void w.terminate().then(() => resolve());
        });
        w.once('error', reject);
      });
    };
    const done = Promise.all([run(this.linkNamed('tornDrv'), t.driverFrames, seed), run(this.linkNamed('tornDev'), t.deviceFrames, seed ^ 0x5a5a5a5a)]);
    // Keep answering while the writers run (their frames reach the fuzz devices).
    let finished = false;
    void done.finally(() => { finished = true; });
    while (!finished) {
      this.pump();
      await new Promise((r) => setTimeout(r, 0));
    }
    await done;
  }

  // ------------------------------------------------------------------ quiescence and checks

  /** Pump until nothing is in flight, parked, between shards or unread anywhere. */
  async settle(): Promise<void> {
    const deadline = Date.now() + SETTLE_LIMIT_MS;
    let quietSince = 0;
    for (;;) {
      const moved = this.pump();
      if (moved === 0 && this.delayed.length > 0) this.releaseDelayed();
      const why = moved === 0 && this.delayed.length === 0 ? this.notQuiescent(this.router.stats()) : 'busy';
      if (why === undefined) {
        if (quietSince === 0) quietSince = Date.now();
        else if (Date.now() - quietSince >= 3) return;
      } else {
        quietSince = 0;
      }
      if (Date.now() > deadline) {
        this.violations.push(`router did not become quiescent within ${SETTLE_LIMIT_MS} ms (hang?): ${why ?? 'flapping'}`);
        return;
      }
      await new Promise((r) => setTimeout(r, why === 'busy' ? 0 : 1));
    }
  }

  private notQuiescent(st: RouterStats): string | undefined {
    const { mem, tables, options } = this.router;
    const u32 = mem.u32;
    for (const l of this.links) {
      const e = st.endpoints.find((x) => x.id === l.link.id)!;
      const taken = u32[(l.link.toRouter + NR_CONS_CURSOR + CUR_LOCAL) >>> 2]!;
      // A hostile peer's frame count means nothing; nor does a torn writer's in a packed ring,
      // where a torn msg_size changes how the router walks it: those rings must be drained.
      const packed = u32[(l.link.toRouter + NR_FRAME_UNITS) >>> 2]! > 1;
      if (l.spec.role === 'hostile' || (l.spec.role === 'torn' && packed)) {
        if (taken !== Atomics.load(u32, (l.link.toRouter + NR_PROD_INDEX) >>> 2)) return `${l.spec.name}: ring not drained`;
      } else if (e.rx !== l.sent) return `${l.spec.name}: router took ${e.rx} of ${l.sent}`;
      if (l.port.peek() !== 0) return `${l.spec.name}: unread frames`;
    }
    if (st.totals.inFlight !== 0) return `${st.totals.inFlight} requests in flight`;
    if (st.totals.parkedNow !== 0) return `${st.totals.parkedNow} frames parked`;
    for (const s of st.shards) if (s.poolFree !== options.poolSlots) return `shard ${s.id}: ${options.poolSlots - s.poolFree} pool slots in use`;
    for (const to of tables.shards) {
      const ins = u32[(to + tables.L.SH_XS_IN) >>> 2]!;
      for (let from = 0; from < tables.shards.length; from++) {
        const cur = u32[(ins >>> 2) + from]!;
        if (cur === 0) continue;
        const ring = cur - NR_CONS_CURSOR;
        if (Atomics.load(u32, (ring + NR_PROD_INDEX) >>> 2) !== Atomics.load(u32, (ring + NR_CONS_INDEX) >>> 2)) return 'frames between shards';
      }
    }
    return undefined;
  }

  private addCanary(): void {
    const at = this.router.mem.alloc(CANARY_BYTES);
    this.router.mem.u8.set(canaryPattern(at), at);
    this.canaries.push(at);
  }

  /** Every property that must hold between cases. */
  private checkAll(): void {
    const { router } = this;
    const st = router.stats();
    if (router.restarts !== 0) this.violations.push(`${router.restarts} shard worker(s) crashed and were restarted`);
    for (const at of this.canaries) {
      const want = canaryPattern(at);
      const got = router.mem.u8.subarray(at, at + CANARY_BYTES);
      const bad = want.findIndex((b, i) => got[i] !== b);
      if (bad >= 0) this.violations.push(`guard canary at ${at} overwritten at +${bad} (a write outside a ring or table)`);
    }
    for (const l of this.links) {
      for (const ring of [l.link.toRouter, l.link.fromRouter]) {
        try {
          checkNativeRing(router.mem.buffer, ring);
        } catch (e) {
          this.violations.push(`${l.spec.name}: ring header at ${ring} damaged: ${(e as Error).message}`);
        }
      }
      const e = st.endpoints.find((x) => x.id === l.link.id)!;
      if (l.spec.role !== 'hostile' && e.tx !== l.received) this.violations.push(`${l.spec.name}: router wrote ${e.tx} frames, the endpoint read ${l.received}`);
      for (const [k, n] of l.open) this.violations.push(`${l.spec.name}: request ${k} (x${n}) got neither a response nor a transport failure`);
      l.open.clear();
    }
    this.violations.push(...accountingViolations(checkAccounting(st)));
  }

  /** Cursor faults the router counted on the hostile and torn links (peer indices out of range). */
  faults(): number {
    const u32 = this.router.mem.u32;
    let n = 0;
    for (const l of this.links) {
      n += u32[(l.link.toRouter + NR_CONS_CURSOR + CUR_FAULTS) >>> 2]! + u32[(l.link.fromRouter + NR_PROD_CURSOR + CUR_FAULTS) >>> 2]!;
    }
    return n;
  }

  /** Drops by reason over the whole run, from the router's counters. */
  dropsByReason(): Record<string, number> {
    return this.router.stats().totals.dropsByReason;
  }

  async close(): Promise<void> {
    await this.router.close();
  }
}

function canaryPattern(at: number): Uint8Array {
  const p = new Uint8Array(CANARY_BYTES);
  for (let i = 0; i < CANARY_BYTES; i++) p[i] = (at * 7 + i * 131 + 0x5a) & 0xff;
  return p;
}
