// vmamp: round trips per second over a real vmamp window (docs/BUSES.md §2, an 8 KiB /dev/shm file,
// N = 63 elements per direction) with a separate C process on the other side, every pair
// measured in this one process, one after the other, busy-poll and with doorbell sockets:
//   c-c        the C peer in both roles (test/peers/vmsg-peer.c): the ring's own ceiling here;
//   node-c     this process as the driver (src/bus/vmamp.ts frame channel + the `vmsg bench`
//              loop, `init` requests, every answer checked) ↔ the C device side;
//   c-router   the C driver → a Router in this process (1 shard, the link's cursors straight over
//              the mapped window) → the built-in echo device (worker thread) → back.
// 16 frames in flight; each pair runs for `--seconds` (default 1.5, quick 0.8) after a short
// warm-up. Answers are verified by whoever drives (a wrong one fails the run). The C peer is
// compiled with cc -O2 into a temporary directory.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmDir } from './shm-dir.js';
import { packageRoot } from '../src/util/paths.js';
import { Router } from '../src/router/router.js';
import { openBusLink, openFrameChannel } from '../src/bus/open.js';
import { runFrameBench, type FrameBenchResult } from '../src/driver/frame-bench.js';
import { parseDeviceSpec, startBuiltinDevices } from '../src/device/builtin-devices.js';
import { emit, isQuick, log, sig } from './stats.js';

const OUTSTANDING = 16;
const WINDOW = 8192;

/** What the C peer prints: the `vmsg bench` JSON without `mode`. */
type PeerResult = Omit<FrameBenchResult, 'mode'>;

const dir = mkdtempSync(join(tmpdir(), 'vmsg-bench-vmamp-'));
const peerBin = join(dir, 'vmsg-peer');
let serial = 0;

function paths(): { path: string; sock: string } {
  const n = `${process.pid}-${serial++}`;
  return { path: join(shmDir, `vmsg-bench-${n}`), sock: join(dir, `${n}.sock`) };
}

function peer(args: string[]): { done: Promise<{ code: number | null; out: string }>; kill(): void } {
  const p = spawn(peerBin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return { done: new Promise((r) => p.on('close', (code) => r({ code, out }))), kill: () => p.kill('SIGTERM') };
}

function windowArgs(role: string, p: { path: string; sock: string }, doorbell: boolean): string[] {
  return ['--bus', 'vmamp', '--role', role, '--path', p.path, '--size', String(WINDOW), ...(doorbell ? ['--sock', p.sock] : []), '--wait-ms', '20000'];
}

function checked(what: string, r: PeerResult): number {
  if (r.errors !== 0 || r.order_violations !== 0 || r.received !== r.sent) throw new Error(`${what}: ${JSON.stringify(r)}`);
  log(`${what}: ${sig(r.round_trips_per_s)} round trips/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`);
  return r.round_trips_per_s;
}

const driverArgs = (seconds: number): string[] => ['--dev', '1', '--count', '1000000000', '--seconds', String(seconds), '--outstanding', String(OUTSTANDING)];

/** C driver ↔ C device on one window. */
async function cToC(doorbell: boolean, seconds: number): Promise<PeerResult> {
  const p = paths();
  const dev = peer([...windowArgs('device', p, doorbell), '--devices', '1']);
  const drv = peer([...windowArgs('driver', p, doorbell), ...driverArgs(seconds)]);
  const out = await drv.done;
  await dev.done;
  rmSync(p.path, { force: true });
  return JSON.parse(out.out) as PeerResult;
}

/** This process drives the C device through a frame channel. */
async function nodeToC(doorbell: boolean, seconds: number): Promise<PeerResult> {
  const p = paths();
  const dev = peer([...windowArgs('device', p, doorbell), '--devices', '1']);
  const ch = await openFrameChannel(`vmamp:${p.path}?size=${WINDOW}${doorbell ? `&sock=${p.sock}` : ''}`, { waitMs: 20_000 });
  await runFrameBench(ch, { mode: 'init', dev: 1, count: 20_000, outstanding: OUTSTANDING }); // warm-up (JIT)
  const r = await runFrameBench(ch, { mode: 'init', dev: 1, count: 1e9, outstanding: OUTSTANDING, stopSendingAfterMs: seconds * 1000 });
  await ch.close();
  await dev.done;
  rmSync(p.path, { force: true });
  return r;
}

/** C driver → Router (this process) → echo device. */
async function cToRouter(doorbell: boolean, seconds: number): Promise<PeerResult> {
  const p = paths();
  const router = await Router.create({ shards: 1 });
  const echo = await startBuiltinDevices(router, [parseDeviceSpec('echo:1')]);
  const opening = openBusLink(router, `vmamp:${p.path}?size=${WINDOW}&role=device${doorbell ? `&sock=${p.sock}` : ''}`, 'driver', { waitMs: 20_000 });
  const drv = peer([...windowArgs('driver', p, doorbell), ...driverArgs(seconds)]);
  const link = await opening;
  const out = await drv.done;
  await link.close();
  await router.close();
  for (const e of echo) await e.stop();
  rmSync(p.path, { force: true });
  return JSON.parse(out.out) as PeerResult;
}

async function main(): Promise<void> {
  const quick = isQuick();
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : quick ? 0.8 : 1.5;
  execFileSync('cc', ['-O2', '-o', peerBin, join(packageRoot(), 'test', 'peers', 'vmsg-peer.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const samples: Record<string, number> = {};
  const info: Record<string, unknown> = { window_bytes: WINDOW, outstanding: OUTSTANDING, seconds_per_pair: seconds };
  try {
    for (const doorbell of [false, true]) {
      const kind = doorbell ? 'doorbell' : 'poll';
      for (const [pair, run] of [['c-c', cToC], ['node-c', nodeToC], ['c-router', cToRouter]] as const) {
        const name = `vmamp-${pair}-${kind}`;
        const r = await run(doorbell, seconds);
        samples[name] = checked(name, r);
        info[`${name}-p50-us`] = r.p50_us;
        info[`${name}-p99-us`] = r.p99_us;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ samples, info });
}

await main();
