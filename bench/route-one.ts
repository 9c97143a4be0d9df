// route-one: one request at a time through `vmsg route` (a separate process) to its built-in
// devices over a vmamp window with doorbell sockets — the wake-up chain of docs/ARCHITECTURE.md
// — next to the C driver ↔ C device doorbell round trip on the same kind of window, back to
// back in this process: `init` to entropy:1 (Device SDK worker), `init` and `avail` to echo:2
// (WASM echo worker). Every answer is verified. Samples: p50 of each (µs), the C reference's,
// and ratio = p50 / C p50 (target ≤ 2).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmDir } from './shm-dir.js';
import { packageRoot } from '../src/util/paths.js';
import { openFrameChannel } from '../src/bus/open.js';
import { runFrameBench, type BenchMode, type FrameBenchResult } from '../src/driver/frame-bench.js';
import { switchesPerRoundTrip, threadSwitches } from './thread-switches.js';
import { emit, isQuick, log, sig } from './stats.js';

const WINDOW = 8192;
const dir = mkdtempSync(join(tmpdir(), 'vmsg-bench-route-one-'));
const peerBin = join(dir, 'vmsg-peer');
let serial = 0;
const paths = (): { path: string; sock: string } => {
  const n = `${process.pid}-${serial++}`;
  return { path: join(shmDir, `vmsg-bench-one-${n}`), sock: join(dir, `${n}.sock`) };
};

type Result = Omit<FrameBenchResult, 'mode'>;
/** Voluntary context switches per round trip of `vmsg route`'s threads (all, and each thread that switched). */
type Switches = ReturnType<typeof switchesPerRoundTrip>;

function checked(what: string, r: Result): Result {
  if (r.errors !== 0 || r.order_violations !== 0 || r.received !== r.sent || r.received === 0) throw new Error(`${what}: ${JSON.stringify(r)}`);
  log(`${what}: ${sig(r.round_trips_per_s)} round trips/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`);
  return r;
}

async function cToC(seconds: number): Promise<Result> {
  const p = paths();
  const args = (role: string): string[] => ['--bus', 'vmamp', '--role', role, '--path', p.path, '--size', String(WINDOW), '--sock', p.sock, '--wait-ms', '20000'];
  const dev = spawn(peerBin, [...args('device'), '--devices', '1'], { stdio: 'ignore' });
  const devDone = new Promise((r) => dev.on('close', r));
  const drv = spawn(peerBin, [...args('driver'), '--dev', '1', '--count', '1000000000', '--seconds', String(seconds), '--outstanding', '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const drvDone = new Promise((r) => drv.on('close', r));
  let out = '';
  drv.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await drvDone;
  await devDone;
  rmSync(p.path, { force: true });
  return JSON.parse(out) as Result;
}

async function throughRoute(mode: BenchMode, dev: number, seconds: number): Promise<Result & { switches: Switches }> {
  const p = paths();
  const target = `vmamp:${p.path}?size=${WINDOW}&sock=${p.sock}`;
  const route = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'route', '--driver-link', target, '--device', 'entropy:1', '--device', 'echo:2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  route.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const ended = new Promise((r) => route.on('close', r));
  try {
    const ch = await openFrameChannel(target, { waitMs: 20_000 });
    try {
      await runFrameBench(ch, { mode, dev, count: 2000, outstanding: 1 }); // warm-up: JIT, tier-up in every thread of the chain
      const before = threadSwitches(route.pid!);
      const r = await runFrameBench(ch, { mode, dev, count: 1e9, outstanding: 1, stopSendingAfterMs: seconds * 1000 });
      return { ...r, switches: switchesPerRoundTrip(before, threadSwitches(route.pid!), r.received) };
    } finally {
      await ch.close();
    }
  } catch (e) {
    throw new Error(`${(e as Error).message}\nvmsg route said:\n${err}`);
  } finally {
    route.kill('SIGTERM');
    await ended;
    rmSync(p.path, { force: true });
  }
}

async function main(): Promise<void> {
  const seconds = isQuick() ? 0.5 : 1;
  execFileSync('cc', ['-O2', '-o', peerBin, join(packageRoot(), 'test', 'peers', 'vmsg-peer.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const samples: Record<string, number> = {};
  const info: Record<string, unknown> = { window_bytes: WINDOW, seconds_per_run: seconds };
  try {
    for (const [name, mode, dev] of [['route-one-entropy-init', 'init', 1], ['route-one-echo-init', 'init', 2], ['route-one-echo-avail', 'avail', 2]] as const) {
      const c = checked('C ↔ C doorbell, 1 in flight', await cToC(seconds));
      const routed = await throughRoute(mode, dev, seconds);
      const r = checked(name, routed);
      log(`${name}: vmsg route's voluntary switches per round trip ${routed.switches.all} (${routed.switches.threads.join(', ')})`);
      info[`${name}-route-switches-per-rt`] = routed.switches.all;
      samples[`${name}-p50-us`] = r.p50_us;
      samples[`${name}-ratio`] = sig(r.p50_us / c.p50_us);
      info[`${name}-c-p50-us`] = c.p50_us;
      info[`${name}-round-trips-per-s`] = r.round_trips_per_s;
      info[`${name}-p99-us`] = r.p99_us;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ samples, info });
}

await main();
