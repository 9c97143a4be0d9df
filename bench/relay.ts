// relay: `vmsg route` between two external buses, every process a real one:
//   C driver → window A → `vmsg route --driver-link vmamp:A… --device-link vmamp:B…` → window B → C device
// with doorbell sockets (`sock=` on both windows) at 1 and 8 in flight, and busy-poll (no
// sockets; the router's defaults) at 8 in flight, each right after the C driver ↔ C device on
// the same kind of 8 KiB vmamp window (the C peer is test/peers/vmsg-peer.c, GET_DEVICE_STATUS
// requests). The C driver verifies every answer (response bit, msg_id, dev_num, token, order);
// a wrong or missing one fails the run. Samples per case: our rate, the C ↔ C rate, ratio =
// ours / C ↔ C (median over `--pairs`), p50 of the driver's round trip. `info` has the wake-ups
// of `vmsg route` per round trip (voluntary context switches of its main thread and of its
// busiest other thread), which do not move with the machine's load as the rates do, and each C
// peer's `timeouts_with_work` (work found only when its 2 ms doorbell wait ran out: a wake-up
// the router did not send). `--route-flags 'busy-poll-spins=0,busy-poll-seek=off'` passes
// extra flags to `vmsg route` (to compare a choice against the defaults in one build).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmDir } from './shm-dir.js';
import { packageRoot } from '../src/util/paths.js';
import type { FrameBenchResult } from '../src/driver/frame-bench.js';
import { argInt, argStr, emit, isQuick, log, median, sig } from './stats.js';
import { threadSwitches } from './thread-switches.js';

const WINDOW = 8192;
/** Extra `vmsg route` flags, NAME=VALUE,...: none by default (the router's defaults are what is measured). */
const ROUTE_FLAGS = argStr('route-flags', '').split(',').filter((f) => f !== '').flatMap((f) => {
  const [name, value] = f.split('=');
  return value === undefined ? [`--${name}`] : [`--${name}`, value];
});
/** The cases: doorbells at 1 and 8 in flight, busy-poll at 8. */
const RELAY_CASES = [
  { name: 'relay-doorbell-k1', doorbell: true, k: 1 },
  { name: 'relay-doorbell-k8', doorbell: true, k: 8 },
  { name: 'relay-poll-k8', doorbell: false, k: 8 },
] as const;

type PeerResult = Omit<FrameBenchResult, 'mode'> & { timeouts_with_work?: number };
interface Win {
  path: string;
  sock: string;
}

const dir = mkdtempSync(join(tmpdir(), 'vmsg-bench-relay-'));
const peerBin = join(dir, 'vmsg-peer');
let serial = 0;
const win = (): Win => {
  const n = `${process.pid}-${serial++}`;
  return { path: join(shmDir, `vmsg-bench-relay-${n}`), sock: join(dir, `${n}.sock`) };
};

/** A child process with its output collected, and a promise of its end. */
interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  done: Promise<number | null>;
}

function start(file: string, args: string[]): Proc {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, out: '', err: '', done: new Promise((r) => child.on('close', (code) => r(code))) };
  child.stdout!.on('data', (b: Buffer) => (p.out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (p.err += b.toString()));
  return p;
}

const peerArgs = (role: string, w: Win, doorbell: boolean): string[] =>
  ['--bus', 'vmamp', '--role', role, '--path', w.path, '--size', String(WINDOW), ...(doorbell ? ['--sock', w.sock] : []), '--wait-ms', '20000'];
const driverArgs = (k: number, seconds: number): string[] => ['--dev', '1', '--count', '1000000000', '--seconds', String(seconds), '--outstanding', String(k)];
const uri = (w: Win, doorbell: boolean): string => `vmamp:${w.path}?size=${WINDOW}${doorbell ? `&sock=${w.sock}` : ''}`;

/** The driver's JSON, or why there is none; a driver that hangs is killed (a lost wake-up must not hang the runner). */
async function driverResult(drv: Proc, seconds: number, others: Proc[]): Promise<PeerResult> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), (seconds + 30) * 1000)));
  const end = await Promise.race([drv.done, hung]);
  clearTimeout(timer);
  if (end === 'hung' || end !== 0 || drv.out.trim() === '') {
    const said = [drv, ...others].map((p) => p.err.trim().split('\n').slice(-5).join('\n')).join('\n---\n');
    throw new Error(`C driver ${end === 'hung' ? 'hung' : `exited ${end}`}:\n${said}`);
  }
  return JSON.parse(drv.out) as PeerResult;
}

async function stopAll(procs: Proc[], wins: Win[]): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  // One that does not stop must not keep the run (and its window) alive.
  const force = setTimeout(() => procs.forEach((p) => p.child.exitCode === null && p.child.signalCode === null && p.child.kill('SIGKILL')), 5000);
  await Promise.all(procs.map((p) => p.done));
  clearTimeout(force);
  for (const w of wins) rmSync(w.path, { force: true });
}

async function cToC(doorbell: boolean, k: number, seconds: number): Promise<PeerResult> {
  const w = win();
  const procs: Proc[] = [];
  try {
    procs.push(start(peerBin, [...peerArgs('device', w, doorbell), '--devices', '1']));
    const drv = start(peerBin, [...peerArgs('driver', w, doorbell), ...driverArgs(k, seconds)]);
    procs.push(drv);
    return await driverResult(drv, seconds, procs.slice(0, 1));
  } finally {
    await stopAll(procs, [w]);
  }
}

interface RelayResult {
  r: PeerResult;
  startup: string;
  mainWakesPerRt: number;
  busiest: { name: string; wakesPerRt: number } | null;
  /** The C device's answers found after its doorbell wait timed out: a wake-up the router did not send. */
  deviceTimeoutsWithWork: number | null;
}

async function relay(doorbell: boolean, k: number, seconds: number): Promise<RelayResult> {
  const a = win();
  const b = win();
  const procs: Proc[] = [];
  try {
    const dev = start(peerBin, [...peerArgs('device', b, doorbell), '--devices', '1']);
    procs.push(dev);
    const route = start(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'route', '--driver-link', uri(a, doorbell), '--device-link', uri(b, doorbell), ...ROUTE_FLAGS]);
    procs.push(route);
    // The driver comes once the device link is up, so its first requests find device 1 known.
    const t0 = Date.now();
    while (!/link up: --device-link/.test(route.err)) {
      if (route.child.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`vmsg route did not bring the device link up:\n${route.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = threadSwitches(route.child.pid!);
    const drv = start(peerBin, [...peerArgs('driver', a, doorbell), ...driverArgs(k, seconds)]);
    procs.push(drv);
    const r = await driverResult(drv, seconds, [route, dev]);
    const after = threadSwitches(route.child.pid!);
    const rts = Math.max(1, r.received);
    const main = String(route.child.pid);
    let mainWakesPerRt = 0;
    let busiest: RelayResult['busiest'] = null;
    for (const [tid, t] of after) {
      const perRt = (t.n - (before.get(tid)?.n ?? 0)) / rts;
      if (tid === main) mainWakesPerRt = perRt;
      else if (busiest === null || perRt > busiest.wakesPerRt) busiest = { name: t.name, wakesPerRt: perRt };
    }
    const startup = /routing: .*/.exec(route.err)?.[0] ?? '';
    await stopAll(procs, [a, b]); // the device prints its counts as it ends
    const tww = /timeouts_with_work (\d+)/.exec(dev.err);
    return {
      r,
      startup,
      mainWakesPerRt: sig(mainWakesPerRt),
      busiest: busiest && { name: busiest.name, wakesPerRt: sig(busiest.wakesPerRt) },
      deviceTimeoutsWithWork: tww === null ? null : Number(tww[1]),
    };
  } finally {
    await stopAll(procs, [a, b]);
  }
}

function checked(what: string, r: PeerResult): PeerResult {
  if (r.errors !== 0 || r.order_violations !== 0 || r.received !== r.sent || r.received === 0) throw new Error(`${what}: ${JSON.stringify(r)}`);
  log(`${what}: ${sig(r.round_trips_per_s)} round trips/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`);
  return r;
}

async function main(): Promise<void> {
  const quick = isQuick();
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : quick ? 0.5 : 1;
  const pairs = argInt('pairs', 1);
  execFileSync('cc', ['-O2', '-o', peerBin, join(packageRoot(), 'test', 'peers', 'vmsg-peer.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const samples: Record<string, number> = {};
  const info: Record<string, unknown> = { window_bytes: WINDOW, seconds_per_run: seconds, pairs, ...(ROUTE_FLAGS.length > 0 ? { route_flags: ROUTE_FLAGS.join(' ') } : {}) };
  try {
    for (const { name, doorbell, k } of RELAY_CASES) {
      const rates: number[] = [];
      const c: number[] = [];
      const ratios: number[] = [];
      const p50: number[] = [];
      for (let n = 0; n < pairs; n++) {
        const rc = checked(`${name} C ↔ C`, await cToC(doorbell, k, seconds));
        const ro = await relay(doorbell, k, seconds);
        checked(`${name} C → vmsg route → C`, ro.r);
        rates.push(ro.r.round_trips_per_s);
        c.push(rc.round_trips_per_s);
        ratios.push(ro.r.round_trips_per_s / rc.round_trips_per_s);
        p50.push(ro.r.p50_us);
        info[`${name}-c-p50-us`] = rc.p50_us;
        info[`${name}-p99-us`] = ro.r.p99_us;
        info[`${name}-route-main-wakes-per-rt`] = ro.mainWakesPerRt;
        info[`${name}-route-busiest-thread-wakes-per-rt`] = ro.busiest;
        info[`${name}-driver-timeouts-with-work`] = ro.r.timeouts_with_work;
        info[`${name}-device-timeouts-with-work`] = ro.deviceTimeoutsWithWork;
        info[`${name}-route-startup`] = ro.startup;
      }
      samples[name] = median(rates);
      samples[`${name}-c`] = median(c);
      samples[`${name}-ratio`] = sig(median(ratios));
      samples[`${name}-p50-us`] = median(p50);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ samples, info });
}

await main();
