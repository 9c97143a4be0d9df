// Invariants of the router's own tables, checked between any two routing calls (not only at
// quiescence): every pool slot is free, parked in exactly one queue, or holds an early response
// — none twice, none lost; every queue's links agree with its count and it is on its shard's
// service list while it holds frames; correlation windows are within bounds and the requests
// counter agrees with the open entries; and the accounting law of src/router/accounting.ts
// holds with the frames still on their way (parked towards an endpoint, held early, or in a
// cross-shard ring) added where it counts them once they arrive.
//
// Cost: the whole walk costs more than the routing it checks, so after a routing call only what
// that shard could have touched is checked from the counts (its pool adds up, its queues are on
// their service lists, its devices' windows agree with their counters), and the whole walk —
// every slot, every list link, the accounting law — runs every FULL_EVERY calls and at the end
// of a case. A broken table persists, so the walk still finds it, a few calls later at most.
import { checkAccounting, accountingViolations, DESTINATION_DROP_REASONS } from '../../../src/router/accounting.js';
import { readRouterStats } from '../../../src/router/stats.js';
import { reasonCode } from '../../../src/protocol/reasons.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../../../src/ring/native.js';
import { CUR_LOCAL, CUR_CAP, CUR_SLOTS, CUR_STRIDE } from '../../../src/ring/cursor.js';
import type { InprocRouter } from './inproc-router.js';

const DEST_CODES = DESTINATION_DROP_REASONS.map((n) => reasonCode(n)!);

/** Incremental checks between two whole walks. */
export const FULL_EVERY = 16;

interface ShardShape {
  sh: number;
  /** Park queues this shard owns (device park queues, endpoint outputs, cross-shard outputs, control output). */
  queues: number[];
  names: string[];
  /** Device state addresses this shard owns. */
  devices: number[];
  devNums: number[];
}

export class TableChecker {
  private marks: Uint32Array;
  private gen = 0;
  private calls = 0;
  private readonly shape: ShardShape[] = [];
  /** u32 index of counter 0 of every [link][shard] (counters are u64: two words each). */
  private readonly ctr: number[][];
  private readonly destIdx: number[];

  constructor(private readonly r: InprocRouter) {
    this.marks = new Uint32Array(r.opts.poolSlots);
    const { L, mem, tables } = r;
    const u32 = mem.u32;
    for (let s = 0; s < r.opts.shards; s++) {
      const sh = tables.shards[s]!;
      const sp: ShardShape = { sh, queues: [], names: [], devices: [], devNums: [] };
      for (const d of r.devices.values()) {
        if (d.shard !== s) continue;
        sp.queues.push(d.state + L.DS_PARK); sp.names.push(`device ${d.dev} park queue`);
        sp.devices.push(d.state); sp.devNums.push(d.dev);
      }
      for (const link of r.links) {
        if (link.cfg.shard !== s) continue;
        sp.queues.push(tables.endpointAddr(link.id) + L.EP_OUT + L.OUT_PARK); sp.names.push(`${link.cfg.name} output`);
      }
      for (let t = 0; t < r.opts.shards; t++) {
        if (t === s) continue;
        sp.queues.push(u32[(sh + L.SH_XS_OUT) >>> 2]! + t * L.OUT_SIZE + L.OUT_PARK); sp.names.push(`cross-shard output to ${t}`);
      }
      sp.queues.push(u32[(sh + L.SH_CTRL_OUT) >>> 2]! + L.OUT_PARK); sp.names.push('control output');
      this.shape.push(sp);
    }
    this.ctr = r.links.map((l) => tables.shards.map((_, s) => tables.counterAddr(s, l.id, 0) >>> 2));
    this.destIdx = DEST_CODES.map((c) => L.EC_DROP_BASE + c);
  }

  /**
   * Check after shard `shard` stepped (undefined: every shard, e.g. after a clock step): the
   * incremental checks, and every FULL_EVERY calls the whole walk.
   */
  check(shard?: number): string[] {
    if (++this.calls % FULL_EVERY === 0) return this.checkFull();
    const out: string[] = [];
    if (shard === undefined) for (let s = 0; s < this.r.opts.shards; s++) this.checkCounts(s, out);
    else this.checkCounts(shard, out);
    return out;
  }

  /** Every invariant, walking every slot, list and ring. */
  checkFull(): string[] {
    const out: string[] = [];
    for (let s = 0; s < this.r.opts.shards; s++) this.checkPool(s, out);
    for (const d of this.r.devices.values()) this.checkWindow(d.dev, d.state, out);
    this.checkAccountingInStep(out);
    return out;
  }

  /** u64 at `addr` (two u32 loads: no BigInt on this path). */
  private u64(addr: number): number {
    const u32 = this.r.mem.u32;
    return u32[addr >>> 2]! + u32[(addr >>> 2) + 1]! * 4294967296;
  }

  /** Counter `idx` of link `ep` summed over shards. */
  private sum(ep: number, idx: number): number {
    const u32 = this.r.mem.u32;
    let t = 0;
    for (const w of this.ctr[ep]!) t += u32[w + 2 * idx]! + u32[w + 2 * idx + 1]! * 4294967296;
    return t;
  }

  /**
   * Shard `s` from its counts: the free stack, its queues and its held responses add up to its
   * pool, every non-empty queue is on its service list, and its devices' windows agree with
   * their counters.
   */
  private checkCounts(s: number, out: string[]): void {
    const { r } = this;
    const { L, mem } = r;
    const u32 = mem.u32;
    const sp = this.shape[s]!;
    const sh = sp.sh;
    const slots = r.opts.poolSlots;
    const top = u32[(sh + L.SH_POOL_TOP) >>> 2]!;
    if (top > slots) out.push(`shard ${s}: pool top ${top} > ${slots} slots`);
    let total = top;
    for (let i = 0; i < sp.queues.length; i++) {
      const q = sp.queues[i]!;
      const count = u32[(q + L.PQ_COUNT) >>> 2]!;
      total += count;
      if (count === 0) continue;
      if (count > slots) { out.push(`shard ${s}: ${sp.names[i]} counts ${count} > pool`); continue; }
      const dev = i < sp.devices.length;
      let on = false;
      for (let n = 0, x = u32[(sh + (dev ? L.SH_DEV_LIST : L.SH_OUT_LIST)) >>> 2]!; x !== 0 && n <= sp.queues.length; n++, x = u32[(x + L.PQ_LIST_NEXT) >>> 2]!) {
        if (x === q) { on = true; break; }
      }
      if (!on) out.push(`shard ${s}: ${sp.names[i]} holds ${count} frames but is not on the service list`);
    }
    for (let i = 0; i < sp.devices.length; i++) total += this.checkWindow(sp.devNums[i]!, sp.devices[i]!, out);
    total += this.checkReserve(s, out);
    if (total !== slots) out.push(`shard ${s}: ${total} of ${slots} pool slots accounted for by the counts (free ${top})`);
  }

  /**
   * Shard `s`'s cross-shard waiting queues against its reserve: the slots they hold plus the
   * reserve left are the credit times the other shards, and no sender has more frames
   * unaccepted than its credit. Returns the slots they hold.
   */
  private checkReserve(s: number, out: string[]): number {
    const { r } = this;
    const { L, mem, tables } = r;
    const u32 = mem.u32;
    const sh = tables.shards[s]!;
    const credit = u32[(sh + L.SH_XS_CREDIT) >>> 2]!;
    let waiting = 0;
    for (let from = 0; from < r.opts.shards; from++) {
      if (from === s) continue;
      const xq = tables.xsCredit(s, from);
      const n = u32[(xq + L.XQ_WAIT + L.PQ_COUNT) >>> 2]!;
      waiting += n;
      const unaccepted = (u32[(tables.xsCredit(from, s) + L.XQ_SENT) >>> 2]! - u32[(xq + L.XQ_DONE) >>> 2]!) >>> 0;
      if (unaccepted > credit) out.push(`shard ${from} has ${unaccepted} frames unaccepted at shard ${s}, beyond its credit ${credit}`);
      if (n > unaccepted) out.push(`shard ${s}: ${n} frames of shard ${from} waiting, but only ${unaccepted} unaccepted`);
    }
    const reserve = u32[(sh + L.SH_POOL_RESERVE) >>> 2]!;
    if (reserve + waiting !== credit * (r.opts.shards - 1)) out.push(`shard ${s}: pool reserve ${reserve} + ${waiting} waiting != credit ${credit} × ${r.opts.shards - 1} other shards`);
    return waiting;
  }

  private checkPool(s: number, out: string[]): void {
    const { r } = this;
    const { L, mem } = r;
    const u32 = mem.u32;
    const sh = r.tables.shards[s]!;
    const pool = u32[(sh + L.SH_POOL) >>> 2]!;
    const stride = u32[(sh + L.SH_POOL_STRIDE) >>> 2]!;
    const slots = r.opts.poolSlots;
    const g = ++this.gen;
    let seen = 0;
    const take = (ps: number, where: string): void => {
      const i = (ps - pool) / stride;
      if (!Number.isInteger(i) || i < 0 || i >= slots) {
        out.push(`shard ${s}: ${where} holds ${ps}, not a pool slot`);
        return;
      }
      if (this.marks[i] === g) out.push(`shard ${s}: pool slot ${i} is in two places (second: ${where})`);
      this.marks[i] = g;
      seen++;
    };
    const top = u32[(sh + L.SH_POOL_TOP) >>> 2]!;
    if (top > slots) out.push(`shard ${s}: pool top ${top} > ${slots} slots`);
    const free = u32[(sh + L.SH_POOL_FREE) >>> 2]!;
    for (let i = 0; i < Math.min(top, slots); i++) take(u32[(free >>> 2) + i]!, 'the free stack');
    const listed = (head: number): Set<number> => {
      const set = new Set<number>();
      for (let q = u32[head >>> 2]!; q !== 0 && set.size <= 4096; q = u32[(q + L.PQ_LIST_NEXT) >>> 2]!) {
        if (set.has(q)) { out.push(`shard ${s}: service list loops at ${q}`); break; }
        set.add(q);
      }
      return set;
    };
    const devList = listed(sh + L.SH_DEV_LIST);
    const outList = listed(sh + L.SH_OUT_LIST);
    const queue = (q: number, where: string, list: Set<number>): void => {
      const count = u32[(q + L.PQ_COUNT) >>> 2]!;
      if (count > slots) { out.push(`shard ${s}: ${where} counts ${count} > pool`); return; }
      let ps = u32[(q + L.PQ_HEAD) >>> 2]!;
      let last = 0;
      for (let n = 0; n < count; n++) {
        take(ps, where);
        last = ps;
        ps = u32[(ps + L.PS_NEXT) >>> 2]!;
      }
      if (count > 0 && last !== u32[(q + L.PQ_TAIL) >>> 2]) out.push(`shard ${s}: ${where}: tail is not the last of its ${count} frames`);
      if (count > 0 && !list.has(q)) out.push(`shard ${s}: ${where} holds ${count} frames but is not on the service list`);
    };
    // A device queue's refusal records are counted apart from its frames (they have a bound of their own).
    const refusals = (q: number): number => {
      let n = 0;
      let ps = u32[(q + L.PQ_HEAD) >>> 2]!;
      for (let k = Math.min(u32[(q + L.PQ_COUNT) >>> 2]!, slots); k > 0; k--) {
        if ((mem.u16[(ps + L.PS_KIND) >>> 1]! & L.TAG_KIND) === L.PSK_REFUSAL) n++;
        ps = u32[(ps + L.PS_NEXT) >>> 2]!;
      }
      return n;
    };
    for (const d of r.devices.values()) {
      if (d.shard !== s) continue;
      queue(d.state + L.DS_PARK, `device ${d.dev} park queue`, devList);
      const counted = u32[(d.state + L.DS_PARK_REFUSALS) >>> 2]!;
      const walked = refusals(d.state + L.DS_PARK);
      if (counted !== walked) out.push(`shard ${s}: device ${d.dev} counts ${counted} refusal records, its park queue holds ${walked}`);
      const st = d.state;
      const head = u32[(st + L.DS_HEAD_SEQ) >>> 2]!;
      const next = u32[(st + L.DS_NEXT_SEQ) >>> 2]!;
      const win = u32[(st + L.DS_WINDOW) >>> 2]!;
      const entries = u32[(st + L.DS_ENTRIES) >>> 2]!;
      for (let seq = head; seq !== next && ((seq - head) >>> 0) < win; seq = (seq + 1) >>> 0) {
        const e = entries + (seq & (win - 1)) * L.CE_SIZE;
        if (mem.u8[e + L.CE_STATE] === L.CES_ANSWERED) take(u32[(e + L.CE_HELD) >>> 2]!, `device ${d.dev} held response (seq ${seq})`);
      }
    }
    for (const link of r.links) {
      if (link.cfg.shard !== s) continue;
      queue(r.tables.endpointAddr(link.id) + L.EP_OUT + L.OUT_PARK, `${link.cfg.name} output`, outList);
    }
    for (let t = 0; t < r.opts.shards; t++) {
      if (t !== s) queue(u32[(sh + L.SH_XS_OUT) >>> 2]! + t * L.OUT_SIZE + L.OUT_PARK, `cross-shard output to ${t}`, outList);
    }
    queue(u32[(sh + L.SH_CTRL_OUT) >>> 2]! + L.OUT_PARK, 'control output', outList);
    // Waiting queues are on no service list: drainCrossShard looks at them first.
    const unlisted = new Set<number>();
    for (let t = 0; t < r.opts.shards; t++) {
      if (t === s) continue;
      const q = r.tables.xsCredit(s, t) + L.XQ_WAIT;
      unlisted.add(q);
      queue(q, `frames of shard ${t} waiting`, unlisted);
    }
    if (seen !== slots) out.push(`shard ${s}: ${seen} of ${slots} pool slots accounted for (free ${top})`);
  }

  /** Device `dev`'s window against its counters; returns its held (early) responses. */
  private checkWindow(dev: number, st: number, out: string[]): number {
    const { L, mem } = this.r;
    const u32 = mem.u32;
    const head = u32[(st + L.DS_HEAD_SEQ) >>> 2]!;
    const next = u32[(st + L.DS_NEXT_SEQ) >>> 2]!;
    const win = u32[(st + L.DS_WINDOW) >>> 2]!;
    const open = (next - head) >>> 0;
    if (open > win) { out.push(`device ${dev}: ${open} open entries > window ${win}`); return 0; }
    const entries = u32[(st + L.DS_ENTRIES) >>> 2]!;
    let owed = 0;
    let held = 0;
    for (let i = 0; i < open; i++) {
      const stt = mem.u8[entries + ((head + i) & (win - 1)) * L.CE_SIZE + L.CE_STATE]!;
      if (stt === L.CES_ANSWERED) held++;
      if (stt === L.CES_WAITING || stt === L.CES_ANSWERED || stt === L.CES_FAILED) owed++;
      else if (stt !== L.CES_REFUSED && stt !== L.CES_DONE_ANSWERED && stt !== L.CES_DONE_FAILED) out.push(`device ${dev}: open entry ${head + i} in state ${stt}`);
    }
    const req = this.u64(st + L.DS_C_REQUESTS);
    const done = this.u64(st + L.DS_C_RESPONSES) + this.u64(st + L.DS_C_FAILED);
    if (req - done !== owed) out.push(`device ${dev}: ${req} requests - ${done} answered or failed != ${owed} open entries still owing an outcome`);
    return held;
  }

  /** Frames between shards, by what they are: [to a device (from a driver), to a driver endpoint, to a device endpoint]. */
  private inTransit(): [number, number, number] {
    const { r } = this;
    const { L, mem, tables } = r;
    const u32 = mem.u32;
    const t: [number, number, number] = [0, 0, 0];
    const add = (tag: number, ep: number): void => {
      if ((tag & L.TAG_KIND) === L.XS_TO_DEVICE) t[0]++;
      else if (r.links[ep]?.cfg.kind === 'driver') t[1]++;
      else t[2]++;
    };
    for (let from = 0; from < r.opts.shards; from++) {
      const sh = tables.shards[from]!;
      for (let to = 0; to < r.opts.shards; to++) {
        if (to === from) continue;
        const xo = u32[(sh + L.SH_XS_OUT) >>> 2]! + to * L.OUT_SIZE;
        let ps = u32[(xo + L.OUT_PARK + L.PQ_HEAD) >>> 2]!;
        for (let n = u32[(xo + L.OUT_PARK + L.PQ_COUNT) >>> 2]!; n > 0; n--) {
          add(mem.u16[(ps + L.PS_KIND) >>> 1]!, mem.u16[(ps + L.PS_AUX) >>> 1]!);
          ps = u32[(ps + L.PS_NEXT) >>> 2]!;
        }
        const prodCur = u32[(xo + L.OUT_CURSOR) >>> 2]!;
        const ring = prodCur - NR_PROD_CURSOR;
        const consCur = ring + NR_CONS_CURSOR;
        const cap = u32[(prodCur + CUR_CAP) >>> 2]!;
        const slots = u32[(prodCur + CUR_SLOTS) >>> 2]!;
        const stride = u32[(prodCur + CUR_STRIDE) >>> 2]!;
        let i = u32[(consCur + CUR_LOCAL) >>> 2]!;
        const end = u32[(prodCur + CUR_LOCAL) >>> 2]!;
        for (let guard = 0; i !== end && guard < cap; guard++) {
          const slot = slots + i * stride;
          add(mem.u16[(slot + L.XT_KIND) >>> 1]!, mem.u16[(slot + L.XT_EP) >>> 1]!);
          if (++i === cap) i = 0;
        }
        // Taken off the ring by `to` but not yet accepted: still between the shards.
        t[0] += u32[(tables.xsCredit(to, from) + L.XQ_WAIT + L.PQ_COUNT) >>> 2]!;
      }
    }
    return t;
  }

  private checkAccountingInStep(out: string[]): void {
    const { r } = this;
    const { L, mem } = r;
    const u32 = mem.u32;
    let drvRx = 0, drvTx = 0, drvRest = 0, drvGen = 0, drvParked = 0;
    let devRx = 0, devTx = 0, devRest = 0, devGen = 0, devParked = 0;
    for (const link of r.links) {
      const ep = link.id;
      let dropped = 0;
      for (let reason = L.EC_DROP_BASE + 1; reason < L.EC_COUNTERS; reason++) dropped += this.sum(ep, reason);
      let to = 0;
      for (const c of this.destIdx) to += this.sum(ep, c);
      const rest = this.sum(ep, L.EC_TERMINATED) + this.sum(ep, L.EC_TO_CONTROL) + dropped - to;
      const parked = u32[(r.tables.endpointAddr(ep) + L.EP_OUT + L.OUT_PARK + L.PQ_COUNT) >>> 2]!;
      if (link.cfg.kind === 'driver') {
        drvRx += this.sum(ep, L.EC_RX); drvTx += this.sum(ep, L.EC_TX) + to; drvRest += rest;
        drvGen += this.sum(ep, L.EC_GENERATED); drvParked += parked;
      } else {
        devRx += this.sum(ep, L.EC_RX); devTx += this.sum(ep, L.EC_TX) + to; devRest += rest;
        devGen += this.sum(ep, L.EC_GENERATED); devParked += parked;
      }
    }
    let requests = 0, responses = 0, eventsIn = 0, eventsOut = 0, coalesced = 0, parkedNow = 0, held = 0;
    for (const d of r.devices.values()) {
      const st = d.state;
      requests += this.u64(st + L.DS_C_REQUESTS);
      responses += this.u64(st + L.DS_C_RESPONSES);
      eventsIn += this.u64(st + L.DS_C_EVENTS_IN);
      eventsOut += this.u64(st + L.DS_C_EVENTS_OUT);
      coalesced += this.u64(st + L.DS_C_COALESCED);
      parkedNow += u32[(st + L.DS_PARK_COUNT) >>> 2]!;
      const head = u32[(st + L.DS_HEAD_SEQ) >>> 2]!;
      const next = u32[(st + L.DS_NEXT_SEQ) >>> 2]!;
      const win = u32[(st + L.DS_WINDOW) >>> 2]!;
      const entries = u32[(st + L.DS_ENTRIES) >>> 2]!;
      for (let seq = head; seq !== next && ((seq - head) >>> 0) < win; seq = (seq + 1) >>> 0) {
        if (mem.u8[entries + (seq & (win - 1)) * L.CE_SIZE + L.CE_STATE] === L.CES_ANSWERED) held++;
      }
    }
    const [xsToDevice, xsToDriver, xsToDeviceEp] = this.inTransit();
    const eq = (name: string, lhs: number, rhs: number): void => {
      if (lhs !== rhs) out.push(`accounting (between steps) ${name}: ${lhs} != ${rhs}`);
    };
    eq('from drivers', drvRx, requests + eventsIn + coalesced + parkedNow + drvRest + xsToDevice);
    eq('from devices', devRx, responses + eventsOut + held + devRest);
    eq('to drivers', drvTx + drvParked + xsToDriver, responses + eventsOut + drvGen);
    eq('to devices', devTx + devParked + xsToDeviceEp, requests + eventsIn + devGen);
  }

  /** At quiescence: the law exactly as src/router/accounting.ts states it, nothing in flight or parked, every pool slot free. */
  checkQuiescent(): string[] {
    const { r } = this;
    const st = readRouterStats(r.mem, r.tables, r.links.map((l) => ({ id: l.id, kind: l.cfg.kind })),
      [...r.devices.values()].map((d) => ({ dev: d.dev, state: d.state, endpoint: d.link.id })));
    const a = checkAccounting(st);
    const out = accountingViolations(a);
    if (a.inFlight !== 0 || a.parkedNow !== 0) out.push(`not quiescent: ${a.inFlight} in flight, ${a.parkedNow} parked`);
    for (const s of st.shards) if (s.poolFree !== r.opts.poolSlots) out.push(`shard ${s.id}: ${s.poolFree} of ${r.opts.poolSlots} pool slots free at quiescence`);
    return out;
  }
}
