// model-validate-legacy: the legacy bus models (qemu-linux-user, openamp-st) against the legacy
// buses as they run here for real: the project's reproductions of QEMU's linux-user proxy
// (test/peers/qemu-v0-peer.c: two SPSC queue files, one socket byte per frame) and of the
// OpenAMP library's amp_static_queue (test/peers/openamp-peer.c: a polled message region),
// each serving a virtio-rng, reached through our legacy link (src/bus/legacy: translation to
// revision 1 in this process).
//   real   this process sends GET_DEVICE_STATUS through the legacy frame channel, one at a time
//          (both buses allow one request per bus), and times each answer;
//   model  the same loop through a ModelChannel with the model to an ideal device answering at
//          once in this thread (bench/ideal-device.ts), so every cost is the model's.
// Calibration as bench/model-validate.ts: the model with free notifications gives the loop's
// own p50; the notification cost is (real p50 − that) / 2. Runs alternate real and model
// `--runs` times (default 3) and the medians are compared (the machine is shared: one run is
// one sample of its weather).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmDir } from './shm-dir.js';
import { packageRoot } from '../src/util/paths.js';
import { openFrameChannel } from '../src/bus/open.js';
import type { FrameChannel } from '../src/bus/bus-link.js';
import { ModelChannel } from '../src/bus/model/model-channel.js';
import { loadBusModel, type BusModel } from '../src/model/bus-model.js';
import { IdealDevice } from './ideal-device.js';
import { emit, log, median } from './stats.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-model-legacy-'));
const shm = shmDir;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Loop { rate: number; p50_us: number; p99_us: number; n: number }

/** GET_DEVICE_STATUS to device 1, one in flight, for `seconds`; every answer checked (response, msg_id, token). */
async function statusLoop(ch: FrameChannel, seconds: number): Promise<Loop> {
  const lat: number[] = [];
  let token = 0;
  const once = async (): Promise<number> => {
    token = (token % 0xfff0) + 1;
    const t0 = performance.now();
    if (!ch.send(Uint8Array.from([0, 0x07, 1, 0, token & 0xff, token >> 8, 8, 0]))) throw new Error('send refused');
    ch.flush();
    for (;;) {
      const f = ch.recv();
      if (f === null) {
        if (!(await ch.wait(2000)) && performance.now() - t0 > 5000) throw new Error(`no answer to token ${token} in 5 s`);
        continue;
      }
      if ((f[0]! & 1) === 0) continue; // an event
      if (f[1] !== 0x07 || (f[4]! | (f[5]! << 8)) !== token) throw new Error(`wrong answer ${Buffer.from(f).toString('hex')} for token ${token}`);
      return (performance.now() - t0) * 1000;
    }
  };
  for (let i = 0; i < 300; i++) await once(); // warm-up (JIT, page faults)
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) lat.push(await once());
  const s = lat.sort((a, b) => a - b);
  const q = (p: number): number => Number(s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1));
  return { rate: Math.round(lat.length / ((performance.now() - start) / 1000)), p50_us: q(0.5), p99_us: q(0.99), n: lat.length };
}

interface Bus { name: 'qemu-v0' | 'openamp'; model: string; start(): { uri: string; proc: ChildProcess } }

let seq = 0;
const BUSES: Bus[] = [
  {
    name: 'qemu-v0', model: 'qemu-linux-user',
    start: () => {
      const n = seq++;
      const q = mkdtempSync(join(dir, `q${n}-`));
      const sock = join(dir, `q${n}.sock`), mem = join(shm, `vmsg-validate-ram-${process.pid}-${n}`);
      const proc = spawn(join(dir, 'qemu-v0-peer'), ['--dir', q, '--name', 'rng0', '--sock', sock, '--mem', mem, '--mem-size', String(16 << 20), '--mem-offset', '0x40000000'], { stdio: 'ignore' });
      proc.once('close', () => rmSync(mem, { force: true }));
      return { uri: `qemu-v0:${q}?name=rng0&sock=${sock}&mem=${mem}&mem_base=0x40000000&wait=10000`, proc };
    },
  },
  {
    name: 'openamp', model: 'openamp-st',
    start: () => {
      const n = seq++;
      const path = join(shm, `vmsg-validate-amp-${process.pid}-${n}`);
      const base = `0x${(0x7e00_0000_0000 + n * 0x1000_0000).toString(16)}`;
      const proc = spawn(join(dir, 'openamp-peer'), ['--file', path, '--base', base, '--size', String(1 << 20)], { stdio: 'ignore' });
      proc.once('close', () => rmSync(path, { force: true }));
      return { uri: `openamp:${path}?base=${base}&wait=10000`, proc };
    },
  },
];

async function real(bus: Bus, seconds: number): Promise<Loop> {
  const { uri, proc } = bus.start();
  const closed = new Promise((r) => proc.once('close', r));
  try {
    const ch = await openFrameChannel(uri, { waitMs: 10_000 });
    try {
      return await statusLoop(ch, seconds);
    } finally {
      await ch.close();
    }
  } finally {
    proc.kill('SIGTERM');
    await closed;
  }
}

async function predicted(model: BusModel, seconds: number): Promise<Loop> {
  const ch = new ModelChannel(new IdealDevice(model.maxFrame), model);
  try {
    return await statusLoop(ch, seconds);
  } finally {
    await ch.close();
  }
}

const withCost = (m: BusModel, us: number): BusModel => ({ ...m, notify: { ...m.notify, toDeviceUs: us, toDriverUs: us } });
const diff = (a: number, b: number): number => Number(((a - b) / b * 100).toFixed(1));
const med = (xs: Loop[], k: 'rate' | 'p50_us' | 'p99_us'): number => median(xs.map((x) => x[k]));

async function main(): Promise<void> {
  const seconds = Number(arg('--seconds') ?? 2);
  const runs = Number(arg('--runs') ?? 3);
  for (const p of ['qemu-v0-peer', 'openamp-peer']) {
    execFileSync('cc', ['-O2', '-o', join(dir, p), join(packageRoot(), 'test', 'peers', `${p}.c`)], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const info: Record<string, unknown> = { seconds, runs, workload: 'GET_DEVICE_STATUS, one in flight' };
  const samples: Record<string, number> = {};
  try {
    for (const bus of BUSES) {
      // The response timeout is the legacy link's reply deadline (reply_ms, 1000), as on the real
      // run: QEMU linux-user's 3.6 ms would give up on answers a descheduled process is late for.
      const model = { ...loadBusModel(bus.model), timeouts: { responseMs: 1000 } };
      const r: Loop[] = [], free: Loop[] = [], file: Loop[] = [];
      for (let i = 0; i < runs; i++) {
        r.push(await real(bus, seconds));
        free.push(await predicted(withCost(model, 0), seconds));
        file.push(await predicted(model, seconds));
        log(`${bus.name} run ${i + 1}: real ${r[i]!.rate}/s p50 ${r[i]!.p50_us} µs; model (file) ${file[i]!.rate}/s p50 ${file[i]!.p50_us} µs; free ${free[i]!.p50_us} µs`);
      }
      const cost = Math.max(0, (med(r, 'p50_us') - med(free, 'p50_us')) / 2);
      const cal: Loop[] = [];
      for (let i = 0; i < runs; i++) cal.push(await predicted(withCost(model, cost), seconds));
      const row = {
        model: bus.model, file_notify_us: model.notify.toDeviceUs, calibrated_notify_us: Number(cost.toFixed(1)),
        real: { rate: med(r, 'rate'), p50_us: med(r, 'p50_us'), p99_us: med(r, 'p99_us'), rates: r.map((x) => x.rate), p50s: r.map((x) => x.p50_us) },
        free: { rate: med(free, 'rate'), p50_us: med(free, 'p50_us') },
        file: { rate: med(file, 'rate'), p50_us: med(file, 'p50_us'), rate_diff_pct: diff(med(file, 'rate'), med(r, 'rate')), p50_diff_pct: diff(med(file, 'p50_us'), med(r, 'p50_us')) },
        calibrated: { rate: med(cal, 'rate'), p50_us: med(cal, 'p50_us'), rate_diff_pct: diff(med(cal, 'rate'), med(r, 'rate')), p50_diff_pct: diff(med(cal, 'p50_us'), med(r, 'p50_us')) },
      };
      log(`${bus.name}: ${JSON.stringify(row)}`);
      info[bus.name] = row;
      samples[`${bus.name}-real-rate`] = row.real.rate;
      samples[`${bus.name}-calibrated-rate`] = row.calibrated.rate;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ samples, info });
}

await main();
