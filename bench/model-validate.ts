// model-validate: a bus model's prediction against the real bus it describes, for the bus that
// runs here for real: the vmamp window (docs/BUSES.md §2, an 8 KiB /dev/shm file, N = 63) with
// the Unix-socket doorbell, the project's C peer (test/peers/vmsg-peer.c) as the device side.
//   real   this process drives the C device through the window (src/bus/vmamp.ts frame channel);
//   model  this process drives an ideal device through a ModelChannel with the model
//          (src/bus/model/): it answers like the C peer (status 0x0f to every request, an
//          EVENT_USED per EVENT_AVAIL) at once, in this thread, so everything the bus costs is
//          the model's (an in-process pair with a device worker costs more here than the real
//          bus: a futex or waitAsync wake-up alone is ~50 µs, a doorbell round trip ~17 µs).
// The same `vmsg bench` loop (src/driver/frame-bench.ts) runs both, for two workloads:
//   init-k1    the initialisation sequence, one request in flight (what the AMP bus allows a device);
//   avail-k16  EVENT_AVAIL → EVENT_USED, 16 in flight (events need no window: the ring and the
//              notifications set the pace).
// Calibration: the model with notification cost 0 runs init-k1 first; the cost per notification
// is then (real p50 − that p50) / 2 (a round trip is one notification each way). The model runs
// again with it and both workloads are compared: request rate and p50 within 25 %, or explained
// in docs/BENCHMARKS.md. The model file is bench/models/vmamp-unix-doorbell.json (vmamp-pci's
// rules with this machine's doorbell); `--model FILE` takes another one.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmDir } from './shm-dir.js';
import { packageRoot } from '../src/util/paths.js';
import { openFrameChannel } from '../src/bus/open.js';
import { IdealDevice } from './ideal-device.js';
import { ModelChannel } from '../src/bus/model/model-channel.js';
import { loadBusModel, type BusModel } from '../src/model/bus-model.js';
import { runFrameBench, type BenchMode, type FrameBenchResult } from '../src/driver/frame-bench.js';
import { emit, log } from './stats.js';

const WINDOW = 8192;
const WORKLOADS: { name: string; mode: BenchMode; outstanding: number }[] = [
  { name: 'init-k1', mode: 'init', outstanding: 1 },
  { name: 'avail-k16', mode: 'avail', outstanding: 16 },
];

const dir = mkdtempSync(join(tmpdir(), 'vmsg-model-validate-'));
const peerBin = join(dir, 'vmsg-peer');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function timed(ch: { close(): Promise<void> } & Parameters<typeof runFrameBench>[0], w: (typeof WORKLOADS)[number], seconds: number): Promise<FrameBenchResult> {
  await runFrameBench(ch, { mode: w.mode, dev: 1, count: 5000, outstanding: w.outstanding }); // warm-up (JIT)
  const r = await runFrameBench(ch, { mode: w.mode, dev: 1, count: 1e9, outstanding: w.outstanding, stopSendingAfterMs: seconds * 1000 });
  if (r.errors !== 0 || r.order_violations !== 0) throw new Error(`${w.name}: ${JSON.stringify(r)}`);
  return r;
}

/** The real bus: the C device peer on a vmamp window with the Unix-socket doorbell. */
async function real(w: (typeof WORKLOADS)[number], seconds: number): Promise<FrameBenchResult> {
  const path = join(shmDir, `vmsg-model-validate-${process.pid}`);
  const sock = join(dir, 'w.sock');
  const p = spawn(peerBin, ['--bus', 'vmamp', '--role', 'device', '--path', path, '--size', String(WINDOW), '--sock', sock, '--wait-ms', '20000', '--devices', '1'], { stdio: 'ignore' });
  const done = new Promise((r) => p.on('close', r));
  try {
    const ch = await openFrameChannel(`vmamp:${path}?size=${WINDOW}&sock=${sock}`, { waitMs: 20_000 });
    try {
      return await timed(ch, w, seconds);
    } finally {
      await ch.close();
    }
  } finally {
    p.kill('SIGTERM');
    await done;
    rmSync(path, { force: true });
  }
}

/** The model: the ideal device behind a ModelChannel. */
async function predicted(model: BusModel, w: (typeof WORKLOADS)[number], seconds: number): Promise<FrameBenchResult> {
  const ch = new ModelChannel(new IdealDevice(), model);
  try {
    return await timed(ch, w, seconds);
  } finally {
    await ch.close();
  }
}

const withCost = (m: BusModel, us: number): BusModel => ({ ...m, notify: { ...m.notify, toDeviceUs: us, toDriverUs: us } });
const within = (a: number, b: number): number => Number(((a - b) / b * 100).toFixed(1));

async function main(): Promise<void> {
  const seconds = Number(arg('--seconds') ?? 2);
  const model = loadBusModel(arg('--model') ?? join(packageRoot(), 'bench', 'models', 'vmamp-unix-doorbell.json'));
  execFileSync('cc', ['-O2', '-o', peerBin, join(packageRoot(), 'test', 'peers', 'vmsg-peer.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const info: Record<string, unknown> = { model: model.name, window_bytes: WINDOW, seconds };
  const samples: Record<string, number> = {};
  try {
    const realRuns = new Map<string, FrameBenchResult>();
    for (const w of WORKLOADS) {
      const r = await real(w, seconds);
      realRuns.set(w.name, r);
      log(`real  ${w.name}: ${r.round_trips_per_s}/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`);
    }
    const zero = await predicted(withCost(model, 0), WORKLOADS[0]!, seconds);
    const calibrated = Math.max(0, (realRuns.get('init-k1')!.p50_us - zero.p50_us) / 2);
    log(`model init-k1 with free notifications: ${zero.round_trips_per_s}/s, p50 ${zero.p50_us} µs → ${calibrated.toFixed(1)} µs per notification`);
    info['free-notify-init-k1'] = { rate: zero.round_trips_per_s, p50_us: zero.p50_us, p99_us: zero.p99_us };
    info['calibrated-notify-us'] = Number(calibrated.toFixed(1));
    info['file-notify-us'] = [model.notify.toDeviceUs, model.notify.toDriverUs];
    for (const [label, m] of [['file', model], ['calibrated', withCost(model, calibrated)]] as const) {
      for (const w of WORKLOADS) {
        const p = await predicted(m, w, seconds);
        const r = realRuns.get(w.name)!;
        const rateDiff = within(p.round_trips_per_s, r.round_trips_per_s), p50Diff = within(p.p50_us, r.p50_us);
        log(`model ${label} ${w.name}: ${p.round_trips_per_s}/s (${rateDiff} %), p50 ${p.p50_us} µs (${p50Diff} %)`);
        samples[`${label}-${w.name}-rate`] = p.round_trips_per_s;
        info[`${label}-${w.name}`] = { predicted: { rate: p.round_trips_per_s, p50_us: p.p50_us, p99_us: p.p99_us }, real: { rate: r.round_trips_per_s, p50_us: r.p50_us, p99_us: r.p99_us }, rate_diff_pct: rateDiff, p50_diff_pct: p50Diff };
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ samples, info });
}

await main();
