// stream: round trips per second across two routers linked by the stream bus (src/bus/stream.ts,
// gateway.ts): a driver worker thread → local Router shard → main-thread bridge → socket → a
// second node process (test/bus/fixtures/remote-router.mjs: Router + echo device worker, the
// link served as a driver link) → and back. The driver (workers/pipeline-driver.ts, load mode)
// keeps `outstanding` GET_DEVICE_STATUS requests in flight per device and checks every answer.
// Both processes share the machine's cores (2 on the reference VM): this measures the whole
// two-router path, not the socket alone.
//
// Knobs: --transport tcp|unix (tcp) --devices D (2) --outstanding K (64) --seconds S (3; quick 1)
//        --endpoint-spin N (200: the driver polls N times before sleeping on its doorbell)
//        --router-spin N (200: both routers' and the remote echo device's spinBeforeSleep)
//        --poll-sleep 0|1 (1: the driver sleeps in poll(2) on an eventfd, EndpointPort pollSleep)
// A plain socket's frames are moved by each router's shard (src/bus/shard-bridge.ts);
// VMSG_STREAM_SHARD=0 keeps them on the main threads (the path TLS takes), for comparison.
// Reports stream-<transport>-d<D>-k<K> round trips/s, with the socket writes per frame.
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../src/router/router.js';
import { ringDoorbell } from '../src/wait/doorbell.js';
import { wasmModule } from '../src/wasm/module.js';
import { packageRoot } from '../src/util/paths.js';
import { openStreamLink } from '../src/bus/stream.js';
import { C_COUNT, C_ERRORS, C_RESPONSES, type DriverData } from './workers/pipeline-driver.js';
import { argInt, emit, isQuick, log, sleep } from './stats.js';
import { switchesPerRoundTrip, threadSwitches } from './thread-switches.js';

function argStr(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1] ?? def;
}

/** The remote router process; resolves with its listening address once it is ready. */
function startRemote(uri: string, devices: number[], spin: number): Promise<{ kill(): void; pid: number; port?: number; path?: string }> {
  // The test fixture is the remote side (one copy of that program); `vmsg route` can replace it once it exists.
  const fixture = join(packageRoot(), 'test', 'bus', 'fixtures', 'remote-router.mjs');
  const proc = spawn(process.execPath, [fixture, uri, devices.join(','), String(spin)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`remote router exited (${code})`)));
    createInterface({ input: proc.stdout }).once('line', (line) => {
      const o = JSON.parse(line) as { port?: number; path?: string };
      resolve({ ...o, pid: proc.pid!, kill: () => proc.kill('SIGKILL') });
    });
  });
}

async function main(): Promise<void> {
  const quick = isQuick();
  const cfg = {
    transport: argStr('transport', 'tcp'),
    devices: argInt('devices', 2),
    outstanding: argInt('outstanding', 64),
    seconds: argInt('seconds', quick ? 1 : 3),
    endpointSpin: argInt('endpoint-spin', 200),
    routerSpin: argInt('router-spin', 200),
    pollSleep: argInt('poll-sleep', 1),
  };
  if (cfg.transport !== 'tcp' && cfg.transport !== 'unix') throw new RangeError(`--transport must be tcp or unix, got ${cfg.transport}`);
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-bench-stream-'));
  const devNums = Array.from({ length: cfg.devices }, (_, i) => i + 1);
  const remote = await startRemote(cfg.transport === 'tcp' ? 'tcp-listen:127.0.0.1:0' : `unix-listen:${join(dir, 'b.sock')}`, devNums, cfg.routerSpin);
  const window = 1 << Math.ceil(Math.log2(Math.max(cfg.outstanding, 2)));
  const router = await Router.create({ shards: 1, window, spinBeforeSleep: cfg.routerSpin, timeoutMs: 10_000 });
  const target = remote.port !== undefined ? `tcp:127.0.0.1:${remote.port}` : `unix:${remote.path}`;
  const link = await openStreamLink(router, target, 'device');
  if (link.devices.length !== cfg.devices) throw new Error(`expected ${cfg.devices} remote devices, got ${link.devices.length}`);

  const drvLink = await router.attachDriver();
  const stopBuf = new SharedArrayBuffer(4);
  const countersBuf = new SharedArrayBuffer(8 * C_COUNT);
  const data: DriverData = {
    mode: 'load', link: drvLink, module: wasmModule(), devices: devNums, outstanding: cfg.outstanding, burst: 256,
    iterations: 0, warmup: 0, inlineDevice: null, spinBeforeSleep: cfg.endpointSpin, pollSleep: cfg.pollSleep !== 0, stop: stopBuf, counters: countersBuf,
  };
  const driver = new Worker(new URL('./workers/pipeline-driver.js', import.meta.url), { workerData: data });
  const done = new Promise((r) => driver.once('message', r));
  const counters = new Float64Array(countersBuf);

  await sleep(quick ? 500 : 1000); // warm-up
  const r0 = counters[C_RESPONSES]!;
  const s0 = { ...link.counters };
  const w0 = { local: threadSwitches(process.pid), remote: threadSwitches(remote.pid) };
  const t0 = performance.now();
  await sleep(cfg.seconds * 1000);
  const r1 = counters[C_RESPONSES]!;
  const t1 = performance.now();
  const s1 = link.counters;
  const local = switchesPerRoundTrip(w0.local, threadSwitches(process.pid), r1 - r0);
  const far = switchesPerRoundTrip(w0.remote, threadSwitches(remote.pid), r1 - r0);

  Atomics.store(new Int32Array(stopBuf), 0, 1);
  ringDoorbell(new Int32Array(drvLink.memory.buffer), drvLink.bell >>> 2);
  await done;
  await driver.terminate();
  const errors = counters[C_ERRORS]!;
  await link.close();
  await router.close();
  remote.kill();
  rmSync(dir, { recursive: true, force: true });

  const rate = ((r1 - r0) * 1000) / (t1 - t0);
  const framesOut = s1.framesOut - s0.framesOut;
  const writes = s1.writes - s0.writes;
  const name = `stream-${cfg.transport}-d${cfg.devices}-k${cfg.outstanding}`;
  log(`${name}: ${Math.round(rate)} round trips/s, ${(framesOut / Math.max(1, writes)).toFixed(1)} frames per socket write, errors ${errors}`);
  log(`${name}: voluntary switches per round trip ${(local.all + far.all).toFixed(2)} (local ${local.threads.join(', ')}; remote ${far.threads.join(', ')})`);
  if (errors !== 0) throw new Error(`stream: ${errors} wrong or failed responses`);
  emit({
    samples: { [name]: rate },
    info: { config: cfg, frames_per_write: Number((framesOut / Math.max(1, writes)).toFixed(1)), in_flight: cfg.devices * cfg.outstanding,
      switches_per_rt: { all: Number((local.all + far.all).toFixed(3)), local: local.threads, remote: far.threads } },
  });
}

await main();
