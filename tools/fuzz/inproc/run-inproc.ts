// The in-process fuzzer's driver loop: cases with consecutive seeds for a given time, a corpus
// carried from case to case (seeded with the wire vectors), and for the first failure of each
// kind a re-run with recording, the shrinker, and a regression test file.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCase, caseConfig, type Op } from './fuzz-case.js';
import { Corpus } from './generator.js';
import { shrink, writeRegression } from './shrink.js';
import { loadVectorFrames } from '../frames.js';
import { packageRoot } from '../../../src/util/paths.js';
import { faultsModule } from '../../../src/wasm/module.js';

export interface InprocOptions {
  minutes: number;
  seed: number;
  /** Frames per case (before its settle phase). */
  frames: number;
  /** Where regression tests go (default: test/router/regressions of the checkout, or none). */
  regressions?: string | null;
  /** Shrink at most this many distinct failure kinds. */
  shrinkKinds?: number;
  /** Run the fault-injection build and trap shards inside routing steps (assembly/router/faults.ts). */
  faults?: boolean;
  log?: (line: string) => void;
}

/** Chance per routing call of arming a fault point, with --faults. */
const FAULT_CHANCE = 0.1;
const FAULT_POINTS = 4;

export interface InprocSummary {
  firstSeed: number;
  cases: number;
  frames: number;
  framesRead: number;
  outcomesChecked: number;
  labelsPredicted: number;
  wallSeconds: number;
  cpuSeconds: number;
  framesPerMinute: number;
  framesPerCpuMinute: number;
  dropsByReason: Record<string, number>;
  violationsByKind: Record<string, number>;
  failingSeeds: { seed: number; kind: string; detail: string }[];
  regressions: string[];
  /** Shards trapped inside a routing step and restarted (with faults), in all and by point. */
  faults: number;
  faultsByPoint: number[];
}

export function runInprocFuzzer(o: InprocOptions): InprocSummary {
  const log = o.log ?? (() => undefined);
  const corpus = new Corpus(512, loadVectorFrames());
  const root = packageRoot();
  const regDir = o.regressions === undefined ? (existsSync(join(root, 'test')) ? root : null) : o.regressions;
  const shrinkKinds = o.shrinkKinds ?? 3;
  const s: InprocSummary = {
    firstSeed: o.seed, cases: 0, frames: 0, framesRead: 0, outcomesChecked: 0, labelsPredicted: 0, wallSeconds: 0, cpuSeconds: 0,
    framesPerMinute: 0, framesPerCpuMinute: 0, dropsByReason: {}, violationsByKind: {}, failingSeeds: [], regressions: [],
    faults: 0, faultsByPoint: new Array<number>(FAULT_POINTS + 1).fill(0),
  };
  const module = o.faults === true ? faultsModule() : undefined;
  const plan = o.faults === true ? { chance: FAULT_CHANCE, points: FAULT_POINTS } : undefined;
  const shrunkKinds = new Set<string>();
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const end = t0 + o.minutes * 60_000;
  let lastLog = t0;
  for (let seed = o.seed >>> 0; Date.now() < end; seed = (seed + 1) >>> 0) {
    const start = corpus.clone();
    const r = runCase(seed, { frames: o.frames, corpus, module, faults: plan });
    s.faults += r.faults;
    r.faultsByPoint.forEach((n, p) => { s.faultsByPoint[p] = (s.faultsByPoint[p] ?? 0) + n; });
    s.cases++;
    s.frames += r.frames;
    s.framesRead += r.framesRead;
    s.outcomesChecked += r.outcomes;
    s.labelsPredicted += r.labels;
    for (const [k, n] of Object.entries(r.drops)) s.dropsByReason[k] = (s.dropsByReason[k] ?? 0) + n;
    if (r.violations.length > 0) {
      const v = r.violations[0]!;
      s.violationsByKind[v.kind] = (s.violationsByKind[v.kind] ?? 0) + 1;
      if (s.failingSeeds.length < 50) s.failingSeeds.push({ seed, kind: v.kind, detail: v.detail });
      log(`case ${seed}: ${v.kind}: ${v.detail}`);
      if (regDir !== null && !shrunkKinds.has(v.kind) && shrunkKinds.size < shrinkKinds) {
        shrunkKinds.add(v.kind);
        const ops: Op[] = [];
        const again = runCase(seed, { frames: o.frames, corpus: start, record: ops, module, faults: plan });
        const sh = shrink(caseConfig(seed), ops, v.kind, again.firstBadOp, 60_000, module);
        if (sh !== undefined) {
          const path = writeRegression(regDir, `${v.kind}${o.faults === true ? '-faults' : ''}-seed${seed}`, caseConfig(seed), seed, ops.length, sh, o.faults === true);
          s.regressions.push(path);
          log(`  shrunk to ${sh.ops.length} operations (${sh.replays} replays): ${path}`);
        } else log('  could not reproduce it from its recording');
      }
    }
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`${((lastLog - t0) / 1000).toFixed(0)} s: ${s.cases} cases, ${(s.frames / 1e6).toFixed(2)} M frames`);
    }
  }
  const cpu = process.cpuUsage(cpu0);
  s.wallSeconds = (Date.now() - t0) / 1000;
  s.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  s.framesPerMinute = Math.round(s.frames / s.wallSeconds * 60);
  s.framesPerCpuMinute = Math.round(s.frames / s.cpuSeconds * 60);
  return s;
}
