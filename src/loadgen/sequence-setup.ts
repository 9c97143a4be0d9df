// Setting up the sequence engine (assembly/loadgen/sequence.ts) for one load: every device's
// cycle of message templates, taken from its DeviceSession after the probe (so the init
// sequence carries the features and queue sizes the device offered, a mix its exact weighted
// order), and the engine's memory — state block, device records, tracks, histograms, event log
// — laid out in one block of the channel's shared memory (layout: assembly/loadgen/sequence-layout.ts).
import type { SharedMemory } from '../memory/shared-memory.js';
import { engineLayout, type EngineLayout } from './engine-layout.js';
import type { DeviceLoad } from './in-flight.js';
import { OP_NAMES, type ProfileSpec } from './profiles.js';
import { buildStep, type Step } from './requests.js';

/** Templates per device cycle at most (a mix's period: the sum of its weights over their gcd). */
const MAX_CYCLE = 65536;
/** Event log records: read after every engine call, so only one call's worth is needed. */
const LOG_RECORDS = 256;

export interface SequenceMemory {
  /** The whole block (free it with `bytes`). */
  base: number;
  bytes: number;
  st: number;
  /** 8 scratch bytes for the engine. */
  scratch: number;
  opHists: number;
  intervalHist: number;
  /** 0 unless an init profile. */
  seqHist: number;
  devices: { dev: number; hist: number; seqHist: number }[];
}

const align = (n: number, a = 64): number => Math.ceil(n / a) * a;
const pow2AtLeast = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(2, n)));

/** The cycle of steps device `o` sends (its session, asked once per step), or undefined when too long. */
export function deviceCycle(o: DeviceLoad, profile: ProfileSpec): Step[] | undefined {
  const s = o.session;
  switch (profile.name) {
    case 'init':
    case 'init-storm':
      return Array.from({ length: s.sequenceLength }, () => s.next(() => 0));
    case 'config-rw':
      return [s.next(() => 0), s.next(() => 0)]; // read, write (a rejected write is preceded by a read: LGMF_REREAD)
    case 'mixed': {
      const weights = Object.values(s.mixWeights());
      const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
      const period = weights.reduce((t, w) => t + w, 0) / weights.reduce(gcd, 0);
      if (!(period <= MAX_CYCLE)) return undefined;
      return Array.from({ length: period }, () => s.next(() => 0));
    }
    default:
      return [s.next(() => 0)];
  }
}

/**
 * Lay out and fill the engine's memory for `devices` (their cycles given), or undefined when
 * the channel's memory has no room (the caller keeps the JavaScript engine).
 */
export function setupSequenceMemory(
  mem: SharedMemory, devices: DeviceLoad[], cycles: Step[][], profile: ProfileSpec,
  o: { outstanding: number; queues: number; maxMessageSize: number },
): SequenceMemory | undefined {
  const L: EngineLayout = engineLayout();
  const HIST = L.HIST_BUCKETS * 8;
  const isInit = profile.name === 'init' || profile.name === 'init-storm';
  const n = devices.length;
  const queues = Math.min(o.queues, 65536);
  // At most 32768 slots a track: a track's window never holds two operations with one token.
  const trackSlots = Math.min(32768, pow2AtLeast(2 * o.outstanding));
  const busSlots = Math.min(32768, pow2AtLeast(2 * o.outstanding * n));
  const maxDev = Math.max(0, ...devices.map((d) => d.dev));
  // Distinct templates per device (many steps of a cycle are the same frame).
  const scratch = new Uint8Array(Math.max(o.maxMessageSize, 64));
  const sdv = new DataView(scratch.buffer);
  const tplSets = devices.map((d, i) => {
    const byKey = new Map<string, { step: Step; frame: Uint8Array; flags: number; at: number }>();
    const order: string[] = [];
    const add = (step: Step, flags: number): string => {
      const len = buildStep(scratch, sdv, step, d.dev, 0);
      const frame = scratch.slice(0, len);
      const key = `${step.op}/${flags}/${Buffer.from(frame).toString('hex')}`;
      if (!byKey.has(key)) byKey.set(key, { step, frame, flags, at: 0 });
      return key;
    };
    for (const step of cycles[i]!) {
      const flags = (step.seqStep === 0 ? L.LGMF_SEQ_FIRST : 0) | (step.seqLast === true ? L.LGMF_SEQ_LAST : 0) |
        (profile.name === 'config-rw' && step.op === 'SET_CONFIG' ? L.LGMF_REREAD : 0);
      order.push(add(step, flags));
    }
    const alt = profile.name === 'config-rw' ? add(cycles[i]!.find((s) => s.op === 'GET_CONFIG')!, 0) : undefined;
    return { byKey, order, alt };
  });
  // Sizes.
  let bytes = align(L.LGS_STATE_SIZE) + 64 + align(L.LGD_SIZE * n) + align(L.LGT_SIZE) + align(2 * (maxDev + 1));
  bytes += align(L.LGL_SIZE * LOG_RECORDS) + HIST * (L.LG_OPS + 1 + (isInit ? 1 : 0));
  bytes += align(busSlots * L.LGP_SIZE) + 64 * (n + 1); // + the padding after each device's templates
  for (const t of tplSets) {
    bytes += HIST * (isInit ? 2 : 1) + 2 * align(trackSlots * L.LGP_SIZE) + align(4 * queues) + align(8 * queues) + align(4 * t.order.length);
    for (const v of t.byKey.values()) bytes += align(L.LGM_FRAME + v.frame.length, 8);
  }
  let base: number;
  try {
    base = mem.alloc(bytes);
  } catch {
    return undefined;
  }
  let next = base;
  const take = (b: number, a = 64): number => {
    next = align(next, a);
    const at = next;
    next += b;
    return at;
  };
  const dv = mem.dv;
  const u32 = (at: number, v: number): void => dv.setUint32(at, v >>> 0, true);
  const st = take(L.LGS_STATE_SIZE);
  const scratchAt = take(64);
  const records = take(L.LGD_SIZE * n);
  const bus = take(L.LGT_SIZE);
  const devmap = take(2 * (maxDev + 1));
  const log = take(L.LGL_SIZE * LOG_RECORDS);
  const opHists = take(HIST * L.LG_OPS);
  const intervalHist = take(HIST);
  const seqHist = isInit ? take(HIST) : 0;
  u32(bus + L.LGT_SLOTS, take(busSlots * L.LGP_SIZE));
  u32(bus + L.LGT_MASK, busSlots - 1);
  const out: SequenceMemory['devices'] = [];
  devices.forEach((d, i) => {
    const r = records + i * L.LGD_SIZE;
    const t = tplSets[i]!;
    for (const v of t.byKey.values()) {
      v.at = take(L.LGM_FRAME + v.frame.length, 8);
      u32(v.at + L.LGM_OP, OP_NAMES.indexOf(v.step.op));
      u32(v.at + L.LGM_FLAGS, v.flags);
      u32(v.at + L.LGM_LEN, v.frame.length);
      u32(v.at + L.LGM_VALUE, v.step.op === 'SET_CONFIG' ? v.step.length ?? 0 : v.step.value ?? 0);
      mem.u8.set(v.frame, v.at + L.LGM_FRAME);
    }
    const table = take(4 * t.order.length);
    t.order.forEach((k, j) => u32(table + 4 * j, t.byKey.get(k)!.at));
    const hist = take(HIST);
    const dSeq = isInit ? take(HIST) : 0;
    u32(r + L.LGD_DEV, d.dev);
    u32(r + L.LGD_TPLS, table);
    u32(r + L.LGD_NTPL, t.order.length);
    u32(r + L.LGD_PING, Math.imul(d.dev, 0x9e3779b1)); // the session's first PING data, less one step
    u32(r + L.LGD_QUEUES, queues);
    const freeq = take(4 * queues);
    for (let q = 0; q < queues; q++) u32(freeq + 4 * q, q);
    u32(r + L.LGD_FREEQ, freeq);
    u32(r + L.LGD_FREEQ_N, queues);
    u32(r + L.LGD_VQ, take(8 * queues));
    u32(r + L.LGD_HIST, hist);
    u32(r + L.LGD_SEQ_HIST, dSeq);
    u32(r + L.LGD_REQ + L.LGT_SLOTS, take(trackSlots * L.LGP_SIZE));
    u32(r + L.LGD_REQ + L.LGT_MASK, trackSlots - 1);
    u32(r + L.LGD_AVAIL + L.LGT_SLOTS, take(trackSlots * L.LGP_SIZE));
    u32(r + L.LGD_AVAIL + L.LGT_MASK, trackSlots - 1);
    if (t.alt !== undefined) u32(r + L.LGD_ALT, t.byKey.get(t.alt)!.at);
    dv.setUint16(devmap + 2 * d.dev, i + 1, true);
    out.push({ dev: d.dev, hist, seqHist: dSeq });
  });
  if (next > base + bytes) throw new Error(`sequence engine layout overran its block by ${next - base - bytes} bytes`);
  u32(st + L.LGS_DEVS, records);
  u32(st + L.LGS_NDEV, n);
  u32(st + L.LGS_BUS, bus);
  u32(st + L.LGS_DEVMAP, devmap);
  u32(st + L.LGS_DEVMAP_N, maxDev + 1);
  u32(st + L.LGS_OUTSTANDING, o.outstanding);
  u32(st + L.LGS_LOG, log);
  u32(st + L.LGS_LOG_CAP, LOG_RECORDS);
  u32(st + L.LGS_HIST_OP, opHists);
  u32(st + L.LGS_HIST_INTERVAL, intervalHist);
  u32(st + L.LGS_HIST_SEQ, seqHist);
  u32(st + L.LGS_MAX_SIZE, o.maxMessageSize);
  return { base, bytes, st, scratch: scratchAt, opHists, intervalHist, seqHist, devices: out };
}
