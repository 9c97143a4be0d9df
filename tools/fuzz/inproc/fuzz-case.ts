// One in-process fuzz case: a topology and limits drawn from the case seed, then a sequence of
// operations — far ends writing frames, shards routing, endpoints reading, the clock moving —
// generated from the seed and the state (devices answer what they received: right, late,
// twice, with another token or msg_id, too large, or never; drivers stop reading for a while),
// checked by the oracle and the table invariants after every routing call, and ended by a
// settle phase that drains everything and checks the accounting law at quiescence.
// The operations are plain data: a failing case is re-run with recording on, shrunk
// (./shrink.ts) and replayed by a regression test with replayCase().
import { Prng } from '../prng.js';
import { InprocRouter, type InprocConfig, type LinkConfig } from './inproc-router.js';
import { Oracle, type Violation } from './oracle.js';
import { TableChecker } from './invariants.js';
import { Corpus, driverFrame, header, lie, mutate } from './generator.js';
import { reasonName, Reason } from '../../../src/protocol/reasons.js';
import { faultsModule } from '../../../src/wasm/module.js';

export type Op =
  | ['w', number, Uint8Array | string] // link writes a frame (bytes; hex in a recorded case)
  | ['p', number] //          link publishes its ring index
  | ['r', number, number] //  shard routes with a budget
  | ['d', number, number] //  link reads up to n frames
  | ['c', number] //          clock advances by ms; every shard expires
  | ['f', number, number, number] // fault: arm shard's point p to trap after n more hits (fault build only)
  | ['s']; //                 settle: drain, time out, route until quiescent

/** Device numbers the drivers aim at: attached ones, one allowed but never attached (9), strangers. */
const AIMS = [1, 1, 2, 2, 3, 3, 5, 5, 9, 0, 7, 0xffff];

const TOPOLOGY: LinkConfig[] = [
  { name: 'drv0', kind: 'driver', shard: 0, packed: true, maxMessageSize: 264 },
  { name: 'drv1', kind: 'driver', shard: 1, packed: false, maxMessageSize: 64, allow: [1, 3, 9] },
  { name: 'drv2', kind: 'driver', shard: 0, packed: false, maxMessageSize: 48 },
  { name: 'dev0', kind: 'device', shard: 0, packed: false, maxMessageSize: 264, devices: [1, 2] },
  { name: 'dev1', kind: 'device', shard: 1, packed: true, maxMessageSize: 48, devices: [3] },
  { name: 'dev2', kind: 'device', shard: 1, packed: false, maxMessageSize: 264, devices: [5] },
];

/** The case's router limits, from its seed: small ones, so bounds, parking and timeouts are reached. */
export function caseConfig(seed: number): InprocConfig {
  const rng = new Prng(seed ^ 0x9e3779b9);
  const firstToken: Record<number, number> = {};
  if (rng.chance(0.3)) for (const d of [1, 2, 3, 5]) firstToken[d] = 0xffff - rng.int(12);
  return {
    shards: 2,
    links: TOPOLOGY,
    window: rng.pick([1, 2, 4, 8]),
    parkLimit: rng.pick([1, 2, 4, 8]),
    poolSlots: rng.pick([16, 24, 32, 64, 256]),
    ringCapacity: rng.pick([4, 8, 16]),
    timeoutMs: rng.pick([4, 20, 150]),
    sourceBudget: rng.pick([1, 3, 64]),
    ringBatch: rng.pick([1, 4, 16]),
    firstToken,
    capture: rng.chance(0.3),
  };
}

export interface CaseResult {
  violations: Violation[];
  /** Index of the operation after which the first violation was seen (-1: none). */
  firstBadOp: number;
  /** Frames the far ends put into rings (the router took each one). */
  frames: number;
  framesRead: number;
  outcomes: number;
  labels: number;
  drops: Record<string, number>;
  /** Faults that fired (fault build), in all and by point (index: point id). */
  faults: number;
  faultsByPoint: number[];
}

export interface CaseOptions {
  /** Frames the drivers and devices write before the settle phase. */
  frames: number;
  /** Record the operations here (for shrinking). */
  record?: Op[];
  /** Shared across cases: frames to mutate. */
  corpus?: Corpus;
  /** The WASM module (default: the production build). */
  module?: WebAssembly.Module;
  /** Fault plan (module: faultsModule()): chance per routing call of arming a trap point (points 1..points) with a countdown of 0-7 hits. */
  faults?: { chance: number; points: number };
}

/** Executes operations against one router and checks after each; shared by live runs and replays. */
export class CaseExecutor {
  readonly r: InprocRouter;
  readonly oracle: Oracle;
  readonly tables: TableChecker;
  opIndex = 0;
  firstBadOp = -1;
  /** Whether the last write found room in its ring. */
  lastWriteOk = false;
  faultsFired = 0;
  /** Faults that fired, by point. */
  readonly faultsByPoint: number[] = [0, 0, 0, 0, 0];
  /** The module has the fault injection points (the test build, faultsModule()). */
  private readonly faultBuild: boolean;

  constructor(cfg: InprocConfig, module?: WebAssembly.Module, private readonly onFrame?: (f: Uint8Array) => void) {
    this.r = new InprocRouter(cfg, module);
    this.oracle = new Oracle(this.r);
    this.tables = new TableChecker(this.r);
    this.faultBuild = module !== undefined && module === faultsModule();
  }

  get bad(): boolean {
    return this.oracle.violations.length > 0;
  }

  /** ['w', id, f] without building the operation. */
  write(id: number, f: Uint8Array): void {
    const { r } = this;
    const link = r.links[id]!;
    const units = r.write(link, f);
    this.lastWriteOk = units !== 0;
    if (units !== 0) this.oracle.onWrite(link, r.lastAt, r.lastRoom, units);
    this.done();
  }

  /** ['p', id] without building the operation. */
  publish(id: number): void {
    this.r.publish(this.r.links[id]!);
    this.done();
  }

  private done(): void {
    if (this.firstBadOp < 0 && this.bad) this.firstBadOp = this.opIndex;
    this.opIndex++;
  }

  exec(op: Op): void {
    const { r, oracle } = this;
    switch (op[0]) {
      case 'w': this.write(op[1], typeof op[2] === 'string' ? Buffer.from(op[2], 'hex') : op[2]); return;
      case 'p': this.publish(op[1]); return;
      case 'r': this.route(op[1], op[2]); break;
      case 'd': {
        const link = r.links[op[1]]!;
        const n = r.read(link, op[2], (f) => {
          oracle.onRead(link, f);
          this.onFrame?.(f);
        });
        if (link.cfg.kind === 'device' && n < op[2]) oracle.deviceDrained(link);
        break;
      }
      case 'c': {
        r.setClock(r.now + op[1]);
        for (let s = 0; s < r.opts.shards; s++) {
          this.guard(s, 0);
          oracle.afterExpire(s);
        }
        this.checkTables();
        break;
      }
      case 'f': if (this.faultBuild) this.r.armFault(op[1], op[2], op[3]); break;
      case 's': this.settle(); break;
    }
    this.done();
  }

  /** Shard `s` routes (`budget` frames) or, with budget 0, expires; a trap is a violation unless a fault was armed (then the shard restarts). */
  private guard(s: number, budget: number): void {
    try {
      if (budget === 0) this.r.expire(s);
      else this.r.route(s, budget);
    } catch (err) {
      const point = this.faultBuild ? this.r.faultFired(s) : 0;
      if (point !== 0) {
        this.faultsFired++;
        this.faultsByPoint[point] = (this.faultsByPoint[point] ?? 0) + 1;
        this.r.restartShard(s);
        this.oracle.extraFailures.add(Reason.SHARD_RESTARTED);
      } else {
        this.oracle.fail('trap', `shard ${s}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private route(s: number, budget: number): void {
    this.guard(s, budget);
    this.oracle.afterRoute(s);
    this.r.drainControl();
    this.checkTables(s);
  }

  /** After shard `s` stepped (undefined: every shard): incremental checks, the whole walk every few calls. */
  private checkTables(s?: number): void {
    for (const v of this.tables.check(s)) this.oracle.fail('tables', v);
  }

  /** Read everything, let every deadline pass, route until nothing is in flight, parked or in a ring. */
  private settle(): void {
    const { r } = this;
    // The far ends are done writing: what they wrote is published.
    for (const link of r.links) r.publish(link);
    for (let round = 0; round < 400; round++) {
      for (let s = 0; s < r.opts.shards; s++) this.route(s, 4096);
      for (const link of r.links) this.exec1(['d', link.id, 1 << 20]);
      if (this.quiet()) {
        for (const v of this.tables.checkFull()) this.oracle.fail('tables', v);
        this.oracle.settled();
        for (const v of this.tables.checkQuiescent()) this.oracle.fail('accounting', v);
        return;
      }
      if (round % 4 === 3) this.exec1(['c', r.opts.timeoutMs + 1]);
    }
    for (const v of this.tables.checkFull()) this.oracle.fail('tables', v);
    this.oracle.fail('hang', `not quiescent after 400 settle rounds (pending work ${r.tables.shards.map((sh) => r.wasm.pendingWork(sh)).join('/')})`);
  }

  private exec1(op: Op): void {
    const saved = this.opIndex;
    this.exec(op);
    this.opIndex = saved;
  }

  private quiet(): boolean {
    const { r } = this;
    for (const sh of r.tables.shards) if (r.wasm.pendingWork(sh) !== 0) return false;
    for (const link of r.links) {
      if (r.ringBacklog(link.toRouter) !== 0 || r.ringBacklog(link.fromRouter) !== 0) return false;
    }
    const L = r.L;
    for (const sh of r.tables.shards) {
      const xs = r.mem.u32[(sh + L.SH_XS_OUT) >>> 2]!;
      for (let t = 0; t < r.opts.shards; t++) {
        const cur = r.mem.u32[(xs + t * L.OUT_SIZE + L.OUT_CURSOR) >>> 2]!;
        if (cur !== 0 && r.ringBacklog(cur - 192) !== 0) return false;
      }
    }
    return true;
  }

  result(): CaseResult {
    const { r, oracle } = this;
    const drops: Record<string, number> = {};
    for (const link of r.links) {
      for (let reason = 1; reason < r.L.EC_COUNTERS - r.L.EC_DROP_BASE; reason++) {
        const n = r.drops(link.id, reason);
        if (n > 0) drops[reasonName(reason)] = (drops[reasonName(reason)] ?? 0) + n;
      }
    }
    return {
      violations: oracle.violations, firstBadOp: this.firstBadOp, frames: oracle.framesWritten, framesRead: oracle.framesRead,
      outcomes: oracle.outcomes, labels: oracle.labelsPredicted, drops, faults: this.faultsFired,
      faultsByPoint: this.faultsByPoint,
    };
  }
}


/** Behaviour of one far end for the whole case. */
interface Behaviour {
  /** Chance per step of writing a burst. */
  active: number;
  /** Chance per step of reading (drivers: 0 while stuck). */
  reads: number;
  /** Device: chance an answer is right; else one of the wrong kinds. */
  right: number;
  /** Device: chance of leaving a request unanswered for good. */
  ignore: number;
}

/** Run case `seed` live: generate operations from the seed and the state, execute and check each. */
export function runCase(seed: number, opts: CaseOptions): CaseResult {
  const cfg = caseConfig(seed);
  const rng = new Prng(seed);
  const corpus = opts.corpus ?? new Corpus(256);
  const ex = new CaseExecutor(cfg, opts.module, (f) => { if (rng.chance(0.02)) corpus.add(f.slice(), rng); });
  const { r } = ex;
  const record = opts.record;
  const run = (op: Op): void => {
    record?.push(op);
    ex.exec(op);
  };
  // The two most frequent operations without an Op array each when nothing is recorded.
  const write = (id: number, f: Uint8Array): void => {
    if (record !== undefined) run(['w', id, f]);
    else ex.write(id, f);
  };
  const publish = (id: number): void => {
    if (record !== undefined) run(['p', id]);
    else ex.publish(id);
  };
  const beh: Behaviour[] = r.links.map((l) => ({
    active: 0.3 + rng.next() * 0.7,
    reads: l.cfg.kind === 'driver' ? 0.5 + rng.next() * 0.5 : 0.6 + rng.next() * 0.4,
    right: 0.6 + rng.next() * 0.4,
    ignore: rng.next() * 0.1,
  }));
  const stuckUntil = new Array<number>(r.links.length).fill(0);
  const drivers = r.links.filter((l) => l.cfg.kind === 'driver');
  const others = (dev: number): number => rng.pick([1, 2, 3, 5].filter((d) => d !== dev));
  let written = 0;
  let step = 0;
  // Bounded in steps too: a router that stops taking frames (a deadlock) must not stop the case.
  while (written < opts.frames && step < opts.frames && !(ex.bad && record === undefined)) {
    step++;
    for (const link of r.links) {
      if (!rng.chance(beh[link.id]!.active)) continue;
      const burst = 1 + (rng.chance(0.4) ? rng.int(4) : rng.int(48));
      const m = ex.oracle.models[link.id]!;
      const max = link.cfg.maxMessageSize;
      for (let i = 0; i < burst; i++) {
        let f: Uint8Array;
        if (link.cfg.kind === 'driver') {
          f = driverFrame(rng, { devices: AIMS, maxSize: max }, corpus);
        } else if (m.toAnswer.length > 0 && rng.chance(0.85)) {
          // Answer a received request: mostly the oldest, sometimes another (out of order).
          const at = rng.chance(0.7) ? 0 : rng.int(m.toAnswer.length);
          const q = m.toAnswer[at]!;
          if (rng.chance(beh[link.id]!.ignore)) { m.toAnswer.splice(at, 1); continue; }
          const big = rng.chance(0.05);
          const size = big ? 49 + rng.int(Math.max(1, max - 48)) : 8 + rng.int(Math.min(max, 24) - 7);
          f = header(1, q.msgId, q.dev, q.token, size);
          for (let j = 8; j < f.length; j++) f[j] = rng.int(256);
          if (!rng.chance(beh[link.id]!.right)) {
            switch (rng.int(6)) {
              case 0: f[4] = rng.int(256); f[5] = rng.int(256); break; // a token it was never given
              case 1: f[1] = rng.int(256); break; // another msg_id
              case 2: { const d = others(q.dev); f[2] = d; f[3] = 0; break; } // another device's number
              case 3: f[4] = 0; f[5] = 0; break;
              case 4: f = lie(f, rng, max, 1); break;
              default: break; // answered twice: the request stays on the list
            }
          } else m.toAnswer.splice(at, 1);
        } else if (rng.chance(0.5)) {
          // An event: EVENT_USED / EVENT_CONFIG of its own device mostly.
          const own = link.cfg.devices!;
          f = header(0, rng.chance(0.8) ? rng.pick([0x40, 0x42]) : rng.int(256), rng.chance(0.9) ? rng.pick(own) : rng.pick(AIMS), 0, rng.chance(0.5) ? 12 : 16);
          for (let j = 8; j < f.length; j++) f[j] = rng.int(256);
          if (rng.chance(0.1)) f = lie(f, rng, max, 1);
        } else if (rng.chance(0.2)) {
          f = header(2, 0x03, 0, rng.int(0x10000), 12); // a PING of its own
        } else {
          f = mutate(rng, corpus.pick(rng) ?? header(1, 7, link.cfg.devices![0]!, 1, 12), max);
        }
        if (f.length < 8 && rng.chance(0.7)) continue; // a short write leaves stale bytes: sometimes
        write(link.id, f);
        if (!ex.lastWriteOk) break; // its ring is full: the rest of the burst waits for a later step
        written++;
        if (rng.chance(0.01)) corpus.add(f, rng);
      }
      publish(link.id);
    }
    for (let s = 0; s < r.opts.shards; s++) {
      if (opts.faults !== undefined && rng.chance(opts.faults.chance)) run(['f', s, 1 + rng.int(opts.faults.points), rng.int(8)]);
      run(['r', s, rng.chance(0.2) ? 1 + rng.int(4) : 4096]);
      for (const link of r.links) {
        if (link.cfg.shard !== s && link.cfg.kind === 'device') continue;
        const b = beh[link.id]!;
        if (link.cfg.kind === 'driver' && step < stuckUntil[link.id]!) continue;
        if (rng.chance(b.reads)) run(['d', link.id, rng.chance(0.3) ? 1 + rng.int(4) : 1 << 20]);
      }
    }
    for (const d of drivers) if (rng.chance(0.003)) stuckUntil[d.id] = step + 20 + rng.int(200);
    if (rng.chance(0.3)) run(['c', rng.chance(0.95) ? 1 + rng.int(3) : cfg.timeoutMs + 1 + rng.int(20)]);
  }
  run(['s']);
  return ex.result();
}

/** Replay recorded operations on a fresh router (regression tests, the shrinker). */
export function replayCase(cfg: InprocConfig, ops: readonly Op[], module?: WebAssembly.Module): CaseResult {
  const ex = new CaseExecutor(cfg, module);
  for (const op of ops) ex.exec(op);
  return ex.result();
}
