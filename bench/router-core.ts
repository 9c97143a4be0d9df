// router-core: one shard's WASM routeSome on pre-filled rings, in this thread (no workers) —
// the C anchor's `route1 cap=4096 batch=32` (bench/c/baseline.c) plus what the router
// adds: header validation, the device-table lookup, token stamping and a correlation entry per
// request. The tables are built directly (RouterTables); the few endpoint/device writes that
// Router.attach/addDevice do are repeated here, because a running shard worker would consume
// the rings we pre-fill.
//
// One round: fill the driver's ring with cap-1 = 4095 32-byte GET_DEVICE_STATUS requests spread
// over 8 devices exactly like the anchor's DEVS table, time routeSome over them (the request
// direction: 8 device rings), then, untimed, answer every request with the WASM echo device,
// time the responses' way back (router-core-responses), and drain and check the driver's ring
// so the correlation windows are empty for the next round.
import { cpus } from 'node:os';
import { SharedMemory } from '../src/memory/shared-memory.js';
import { RouterTables } from '../src/router/tables.js';
import { resolveRouterOptions } from '../src/router/options.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../src/ring/native.js';
import { pinThread } from './threads.js';
import { argInt, emit, isQuick, log, median } from './stats.js';

/** The C baseline's device numbers and frame table (bench/c/baseline.c: DEVICES, fill_table). */
const DEVS = [3, 17, 42, 100, 257, 1000, 4096, 65000];
const TABLE = 1024;
const MSG_SIZE = 32;
const GET_DEVICE_STATUS = 0x07;
const CAPACITY = 4096;
/** Publish ring indices every 32 frames, as the anchor's batch=32. */
const BATCH = 32;
/** Outstanding requests per device: > the ~512 a round sends each device, so nothing parks. */
const WINDOW = 1024;
/** 64-byte slots, the anchor's slot size. */
const LINK_MAX = 64;
/**
 * --packed 1: the links' rings packed in 16-byte units (the router's default for endpoint
 * links; a 32-byte request takes 2 units) instead of the anchor's 64-byte slots (default 0:
 * the same ring layout as route1, so the ratio compares like with like).
 */
const PACKED = argInt('packed', 0) !== 0;

interface Link {
  toRouter: number;
  fromRouter: number;
}

function buildMessages(): { words: Uint32Array; dev: Uint16Array; token: Uint16Array } {
  const bytes = new Uint8Array(TABLE * MSG_SIZE);
  const dev = new Uint16Array(TABLE);
  const token = new Uint16Array(TABLE);
  let x = 12345;
  for (let i = 0; i < TABLE; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const m = i * MSG_SIZE;
    dev[i] = DEVS[(x >>> 16) % DEVS.length]!;
    token[i] = (i * 7) & 0xffff;
    bytes[m] = 0; // transport request
    bytes[m + 1] = GET_DEVICE_STATUS;
    bytes[m + 2] = dev[i]! & 0xff;
    bytes[m + 3] = dev[i]! >> 8;
    bytes[m + 4] = token[i]! & 0xff;
    bytes[m + 5] = token[i]! >> 8;
    bytes[m + 6] = MSG_SIZE;
    bytes[m + 7] = 0;
    for (let j = 8; j < MSG_SIZE; j++) bytes[m + j] = (i + j) & 0xff;
  }
  return { words: new Uint32Array(bytes.buffer), dev, token };
}

class CoreBench {
  private readonly opts = resolveRouterOptions({ shards: 1, ringCapacity: CAPACITY, ringBatch: BATCH, window: WINDOW, maxEndpoints: 16, memoryBytes: 64 << 20 });
  private readonly mem = new SharedMemory({ bytes: this.opts.memoryBytes });
  private readonly tables = new RouterTables(this.mem, this.opts);
  private readonly shard = this.tables.shards[0]!;
  private readonly wasm = this.mem.wasm;
  private readonly driver: Link;
  private readonly devices: Link[] = [];
  private readonly msgs = buildMessages();
  /** Per device number: its index in DEVS (response checking). */
  private readonly devIndex = new Int32Array(65536).fill(-1);
  private next = 0;
  errors = 0;

  constructor() {
    const { L } = this.tables;
    this.driver = this.attach(0, L.EPK_DRIVER, L.EPF_FAILURE_EVENTS);
    DEVS.forEach((dev, i) => {
      const link = this.attach(1 + i, L.EPK_DEVICE, 0);
      this.addDevice(1 + i, dev);
      this.devices.push(link);
      this.devIndex[dev] = i;
    });
  }

  /** The endpoint-table writes of Router.attach, for endpoint `id` on shard 0. */
  private attach(id: number, kind: number, flags: number): Link {
    const { mem, tables } = this;
    const { L } = tables;
    const bell = mem.alloc(64);
    // Packed: room for CAPACITY - 1 frames of 32 bytes (2 units each) plus one largest frame.
    const [cap, slot, units] = PACKED ? [2 * CAPACITY + LINK_MAX / 16 + 1, 16, LINK_MAX / 16] : [CAPACITY, LINK_MAX, 1];
    const toRouter = tables.newRing(cap, slot, tables.bell(0), bell, units);
    const fromRouter = tables.newRing(cap, slot, bell, tables.bell(0), units);
    tables.writeEndpoint(id, {
      kind: kind === L.EPK_DRIVER ? 'driver' : 'device', shard: 0, flags, maxMessageSize: LINK_MAX,
      inCursor: toRouter + NR_CONS_CURSOR, outCursor: fromRouter + NR_PROD_CURSOR, allow: 0, busDevs: 0,
    });
    this.wasm.addSource(this.shard, id);
    return { toRouter, fromRouter };
  }

  /** The device-state writes of Router.addDevice. */
  private addDevice(ep: number, dev: number): void {
    const { mem, tables } = this;
    const { L } = tables;
    const ds = tables.newDeviceState({ dev, busNum: dev, endpoint: ep, shard: 0, window: WINDOW });
    this.wasm.addDevice(this.shard, ds);
    Atomics.store(mem.u32, (tables.devTable >>> 2) + dev, ds);
    Atomics.or(mem.u8, tables.presentMap + (dev >> 3), 1 << (dev & 7));
  }

  /** One round; returns [request ns, response ns] for `k` frames each way. */
  round(k: number): [number, number] {
    const { wasm, shard, msgs } = this;
    const { u32 } = this.mem;
    const first = this.next;
    const out = this.driver.toRouter + NR_PROD_CURSOR;
    const words = MSG_SIZE / 4;
    for (let i = 0; i < k; i++) {
      const slot = wasm.ringReserve(out) >>> 2;
      const m = ((first + i) & (TABLE - 1)) * words;
      for (let j = 0; j < words; j++) u32[slot + j] = msgs.words[m + j]!;
      wasm.ringCommit(out);
    }
    wasm.cursorFlush(out);
    this.next += k;

    const t0 = process.hrtime.bigint();
    const routed = wasm.routeSome(shard, k);
    const t1 = process.hrtime.bigint();
    if (routed !== k) throw new Error(`request direction: routed ${routed} of ${k}`);

    for (const d of this.devices) wasm.echoSome(d.fromRouter + NR_CONS_CURSOR, d.toRouter + NR_PROD_CURSOR, CAPACITY);
    const t2 = process.hrtime.bigint();
    const back = wasm.routeSome(shard, k);
    const t3 = process.hrtime.bigint();
    if (back !== k) throw new Error(`response direction: routed ${back} of ${k}`);

    this.checkResponses(first, k);
    return [Number(t1 - t0), Number(t3 - t2)];
  }

  /** Every request comes back once, as a response with the driver's token, in order per device. */
  private checkResponses(first: number, k: number): void {
    const { wasm, mem, msgs } = this;
    const inCur = this.driver.fromRouter + NR_CONS_CURSOR;
    // Per device: position (in this round's sends) of the next request it must answer.
    const pos = new Int32Array(DEVS.length);
    const nextOf = (d: number): number => {
      let p = pos[d]!;
      while (p < k && this.devIndex[msgs.dev[(first + p) & (TABLE - 1)]!] !== d) p++;
      return p;
    };
    let got = 0;
    for (let f = wasm.ringPeek(inCur); f !== 0; f = wasm.ringPeek(inCur)) {
      const dev = mem.u8[f + 2]! | (mem.u8[f + 3]! << 8);
      const d = this.devIndex[dev]!;
      const p = d < 0 ? k : nextOf(d);
      const token = mem.u8[f + 4]! | (mem.u8[f + 5]! << 8);
      if (mem.u8[f] !== 1 || mem.u8[f + 1] !== GET_DEVICE_STATUS || p >= k || token !== msgs.token[(first + p) & (TABLE - 1)]) this.errors++;
      if (d >= 0) pos[d] = p + 1;
      wasm.ringRelease(inCur);
      got++;
    }
    wasm.cursorFlush(inCur);
    if (got !== k) this.errors += Math.abs(k - got);
  }

  /** Frames the router dropped or refused (must stay 0). */
  drops(): number {
    const { L } = this.tables;
    let n = 0;
    for (let ep = 0; ep <= DEVS.length; ep++) {
      for (let r = L.EC_DROP_BASE; r < L.EC_COUNTERS; r++) n += Number(this.mem.dv.getBigUint64(this.tables.counterAddr(0, ep, r), true));
      n += Number(this.mem.dv.getBigUint64(this.tables.counterAddr(0, ep, L.EC_FAILURES), true));
    }
    return n;
  }
}

function main(): void {
  const quick = isQuick();
  // The anchor's route1 pins itself to CPU 1; the two vCPUs of these VMs differ by up to 1.5×
  // (host neighbours), so the ratio is only fair on the same CPU.
  const cpu = argInt('cpu', Math.min(1, cpus().length - 1));
  const pinned = cpu >= 0 && pinThread(process.pid, cpu);
  const reps = argInt('reps', quick ? 3 : 5);
  if (reps < 1) throw new RangeError(`--reps must be at least 1, got ${reps}`);
  const perRep = quick ? 1_000_000 : 2_000_000;
  const k = CAPACITY - 1;
  const bench = new CoreBench();
  const rates = { req: [] as number[], resp: [] as number[] };
  // Per rep, the median over its routeSome calls (~0.1 ms each): a call is rarely cut by a
  // preemption, so on a busy machine this still shows the CPU's speed, and a step of ~2x in it
  // is host weather (docs/BENCHMARKS.md, "router-core bimodality"), not other processes.
  const callMedians: number[] = [];
  // Rep 0 warms up (wasm tier-up, page faults on first touch of the rings) and is not kept.
  for (let rep = 0; rep <= reps; rep++) {
    let reqNs = 0;
    let respNs = 0;
    let done = 0;
    const calls: number[] = [];
    while (done < perRep) {
      const [a, b] = bench.round(k);
      reqNs += a;
      respNs += b;
      done += k;
      calls.push(a);
    }
    if (rep === 0) continue;
    callMedians.push(k / (median(calls) / 1e9));
    rates.req.push(done / (reqNs / 1e9));
    rates.resp.push(done / (respNs / 1e9));
  }
  const drops = bench.drops();
  if (bench.errors !== 0 || drops !== 0) throw new Error(`router-core: ${bench.errors} wrong responses, ${drops} drops/failures`);
  const m = (r: number): string => (r / 1e6).toFixed(1);
  log(`router-core reps: ${rates.req.map(m).join(' ')} M msgs/s (median call: ${callMedians.map(m).join(' ')})`);
  emit({
    samples: { 'router-core': median(rates.req), 'router-core-responses': median(rates.resp) },
    info: {
      reps, msgs_per_rep: perRep, errors: bench.errors, cpu: pinned ? cpu : 'unpinned',
      call_median_per_rep: callMedians.map((r) => Math.round(r)),
    },
  });
}

main();
