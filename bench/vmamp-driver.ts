// vmamp-driver: `vmsg bench` as a driver against the C device on an 8 KiB vmamp window
// (docs/BUSES.md §2), next to the C driver on the same kind of window, back to back in this one
// process: for 1 and 8 frames in flight, busy-poll and with doorbell sockets, the C driver
// (test/peers/vmsg-peer.c --role driver, GET_DEVICE_STATUS requests) runs, then our driver
// (src/driver/frame-bench.ts → the WASM load engine, the `init` sequence), each against a fresh
// C device process, alternating `--pairs` times. Every answer is verified by whoever drives
// (a wrong one fails the run). Samples: the rates of both, and ratio = ours / C of the pairs
// (median), which is what the machine's weather cancels out of. `<case>-profile`: the load tool
// (`vmsg bench --profile init`, src/loadgen/engine.ts on its WASM engine) in the same pairs, the
// same device and window, with its `-profile-ratio` to the C driver.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmDir } from './shm-dir.js';
import { packageRoot } from '../src/util/paths.js';
import { openFrameChannel } from '../src/bus/open.js';
import { runFrameBench, type FrameBenchResult } from '../src/driver/frame-bench.js';
import { runLoad } from '../src/loadgen/engine.js';
import { argInt, emit, isQuick, log, median, sig } from './stats.js';

const WINDOW = 8192;

type PeerResult = Omit<FrameBenchResult, 'mode'>;

const dir = mkdtempSync(join(tmpdir(), 'vmsg-bench-vmamp-driver-'));
const peerBin = join(dir, 'vmsg-peer');
let serial = 0;
/** Windows made and not yet removed: a run stopped by a signal removes them on its way out. */
const windows = new Set<string>();

function paths(): { path: string; sock: string } {
  const n = `${process.pid}-${serial++}`;
  const path = join(shmDir, `vmsg-bench-drv-${n}`);
  windows.add(path);
  return { path, sock: join(dir, `${n}.sock`) };
}

function removeWindow(path: string): void {
  rmSync(path, { force: true });
  windows.delete(path);
}

function removeAll(): void {
  for (const w of windows) rmSync(w, { force: true });
  windows.clear();
  rmSync(dir, { recursive: true, force: true });
}

process.once('exit', removeAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(128 + (sig === 'SIGINT' ? 2 : 15)));

function peer(args: string[]): { done: Promise<{ code: number | null; out: string }> } {
  const p = spawn(peerBin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return { done: new Promise((r) => p.on('close', (code) => r({ code, out }))) };
}

function windowArgs(role: string, p: { path: string; sock: string }, doorbell: boolean): string[] {
  return ['--bus', 'vmamp', '--role', role, '--path', p.path, '--size', String(WINDOW), ...(doorbell ? ['--sock', p.sock] : []), '--wait-ms', '20000'];
}

function checked(what: string, r: PeerResult): PeerResult {
  if (r.errors !== 0 || r.order_violations !== 0 || r.received !== r.sent || r.received === 0) throw new Error(`${what}: ${JSON.stringify(r)}`);
  log(`${what}: ${sig(r.round_trips_per_s)} round trips/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`);
  return r;
}

async function cDriver(k: number, doorbell: boolean, seconds: number): Promise<PeerResult> {
  const p = paths();
  const dev = peer([...windowArgs('device', p, doorbell), '--devices', '1']);
  const drv = peer([...windowArgs('driver', p, doorbell), '--dev', '1', '--count', '1000000000', '--seconds', String(seconds), '--outstanding', String(k)]);
  const out = await drv.done;
  await dev.done;
  removeWindow(p.path);
  return JSON.parse(out.out) as PeerResult;
}

async function ourDriver(k: number, doorbell: boolean, seconds: number): Promise<PeerResult> {
  const p = paths();
  const dev = peer([...windowArgs('device', p, doorbell), '--devices', '1']);
  const ch = await openFrameChannel(`vmamp:${p.path}?size=${WINDOW}${doorbell ? `&sock=${p.sock}` : ''}`, { waitMs: 20_000 });
  try {
    return await runFrameBench(ch, { mode: 'init', dev: 1, count: 1e9, outstanding: k, stopSendingAfterMs: seconds * 1000 });
  } finally {
    await ch.close();
    await dev.done;
    removeWindow(p.path);
  }
}

async function profileDriver(k: number, doorbell: boolean, seconds: number): Promise<PeerResult> {
  const p = paths();
  const dev = peer([...windowArgs('device', p, doorbell), '--devices', '1']);
  const ch = await openFrameChannel(`vmamp:${p.path}?size=${WINDOW}${doorbell ? `&sock=${p.sock}` : ''}`, { waitMs: 20_000 });
  try {
    const r = await runLoad(ch, { profile: { name: 'init' }, devices: [1], outstanding: k, durationS: seconds, warmupS: 0 });
    return { sent: r.completed, received: r.completed, errors: r.errors, order_violations: r.order_violations, seconds: r.seconds, round_trips_per_s: r.ops_per_s, p50_us: r.p50_us, p99_us: r.p99_us };
  } finally {
    await ch.close();
    await dev.done;
    removeWindow(p.path);
  }
}

async function main(): Promise<void> {
  const quick = isQuick();
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : quick ? 0.5 : 1;
  const pairs = argInt('pairs', quick ? 1 : 2);
  execFileSync('cc', ['-O2', '-o', peerBin, join(packageRoot(), 'test', 'peers', 'vmsg-peer.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const samples: Record<string, number> = {};
  const info: Record<string, unknown> = { window_bytes: WINDOW, seconds_per_run: seconds, pairs };
  try {
    for (const doorbell of [false, true]) {
      const kind = doorbell ? 'doorbell' : 'poll';
      for (const k of [1, 8]) {
        const name = `vmamp-driver-k${k}-${kind}`;
        const c: number[] = [];
        const ours: number[] = [];
        const ratios: number[] = [];
        const profile: number[] = [];
        const profileRatios: number[] = [];
        for (let n = 0; n < pairs; n++) {
          const rc = checked(`${name} C driver`, await cDriver(k, doorbell, seconds));
          const ro = checked(`${name} vmsg bench`, await ourDriver(k, doorbell, seconds));
          const rp = checked(`${name} vmsg bench --profile init`, await profileDriver(k, doorbell, seconds));
          c.push(rc.round_trips_per_s);
          ours.push(ro.round_trips_per_s);
          ratios.push(ro.round_trips_per_s / rc.round_trips_per_s);
          profile.push(rp.round_trips_per_s);
          profileRatios.push(rp.round_trips_per_s / rc.round_trips_per_s);
          info[`${name}-c-p50-us`] = rc.p50_us;
          info[`${name}-p50-us`] = ro.p50_us;
          info[`${name}-profile-p50-us`] = rp.p50_us;
        }
        samples[name] = median(ours);
        samples[`${name}-c`] = median(c);
        samples[`${name}-ratio`] = sig(median(ratios));
        samples[`${name}-profile`] = median(profile);
        samples[`${name}-profile-ratio`] = sig(median(profileRatios));
      }
    }
  } finally {
    removeAll();
  }
  emit({ samples, info });
}

await main();
