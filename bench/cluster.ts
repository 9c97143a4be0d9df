// cluster: two routers (processes) in a cluster on a nats-server of the benchmark's own.
//   1. Round trips/s (K in flight per device) and p50 latency (one at a time) from a driver on
//      r1 to r3's echo devices through the cluster (the gateway stream opened from the
//      directory), against a direct gateway to the same address (what `--device-link tcp:`
//      opens): data never goes through NATS, so the two should be within noise.
//   2. Directory convergence: r2 (bench/workers/cluster-node-process.ts) hot-adds 1 000 devices
//      at once; time from its first addDevice until r1 has all of them attached.
//   3. Memory per remote device on r1: JS heap + external growth after GC over a second and a
//      third batch of 1 000 devices of r2, plus the router's own state of such a device
//      (correlation window, history).
// Knobs: --outstanding K (64) --seconds S (3; quick 1) --rounds N (5; quick 1: alternating runs
// of each after one uncounted warm-up run of each, medians reported) --joined (also a direct gateway while r1 is a member) --devices-added N (1000)
// --cluster-window N (imported devices' correlation window; default the router's, 64 here, as the
// direct gateway's devices have) --only cluster|direct|joined (that variant alone, e.g. under
// `node --cpu-prof`) --skip-memory (no convergence and memory phase)
// Reports cluster-rtps, direct-rtps, cluster-vs-direct-pct, cluster-p50-us, direct-p50-us, cluster-vs-direct-p50-pct,
// cluster-main-us-per-rt, direct-main-us-per-rt (r1's main thread busy time per round trip),
// cluster-cpu-us-per-rt, direct-cpu-us-per-rt (CPU time of r1, r3 and nats-server per round trip),
// cluster-convergence-ms (from r2's first addDevice), cluster-convergence-after-add-ms (from its
// last), cluster-bytes-per-remote-device (JS + router state), cluster-js-bytes-per-remote-device.
import { Worker } from 'node:worker_threads';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { performance as perf } from 'node:perf_hooks';
import { Router } from '../src/router/router.js';
import { wasmModule } from '../src/wasm/module.js';
import { packageRoot } from '../src/util/paths.js';
import { openStreamLink } from '../src/bus/stream.js';
import { ClusterNode } from '../src/cluster/cluster-node.js';
import { NatsServer, natsServerMissing } from '../tools/nats-server.js';
import { C_COUNT, C_ERRORS, C_RESPONSES, type DriverData } from './workers/pipeline-driver.js';
import { argInt, argStr, emit, isQuick, log, median, sleep } from './stats.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/** CPU time (user + system, µs) a process has used so far, from /proc (10 ms ticks). */
function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5) are the 12th and 13th after the command name.
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

async function until(done: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`cluster bench: timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** r3: `vmsg route --cluster` with echo devices 1 and 2; resolves with its advertised address. */
function startR3(url: string): Promise<{ proc: ChildProcess; address: string }> {
  const proc = spawn(process.execPath, [MAIN, 'route', '--cluster', url, '--node', 'r3', '--advertise', 'tcp:127.0.0.1:0', '--device', 'echo:1', '--device', 'echo:2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`r3 exited (${code})`)));
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      const m = /serving \d+ device\(s\) on (tcp:\S+)/.exec(line);
      if (m !== null) resolve({ proc, address: m[1]! });
    });
  });
}

function startR2(url: string): Promise<{ proc: ChildProcess; command(line: string): Promise<Record<string, number>> }> {
  const proc = spawn(process.execPath, [join(packageRoot(), 'dist', 'bench', 'workers', 'cluster-node-process.js'), JSON.stringify({ url, node: 'r2' })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  const next = (): Promise<string> => new Promise((r) => lines.once('line', r));
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`r2 exited (${code})`)));
    void next().then(() => resolve({
      proc,
      async command(line) {
        const answer = next();
        proc.stdin!.write(`${line}\n`);
        return JSON.parse(await answer) as Record<string, number>;
      },
    }));
  });
}

interface CpuSample { r1: number; r3: number; nats: number }
interface Measured { rate: number; p50: number; mainUs: number; cpuUs: CpuSample }

/** Load (K in flight per device) for `seconds`, then one at a time: round trips/s and p50 µs. */
async function drive(router: Router, devices: number[], outstanding: number, seconds: number, cpu: () => CpuSample): Promise<Measured> {
  const run = async (mode: 'load' | 'rtt'): Promise<{ rate: number; mainUs: number; cpuUs: CpuSample; micros?: Float64Array }> => {
    const link = await router.attachDriver();
    const stop = new SharedArrayBuffer(4);
    const countersBuf = new SharedArrayBuffer(8 * C_COUNT);
    const data: DriverData = {
      mode, link, module: wasmModule(), devices, outstanding, burst: 256, iterations: 2000, warmup: 200,
      inlineDevice: null, spinBeforeSleep: 200, stop, counters: countersBuf,
    };
    const w = new Worker(new URL('./workers/pipeline-driver.js', import.meta.url), { workerData: data });
    const done = new Promise<{ micros?: Float64Array }>((r) => w.once('message', r));
    const counters = new Float64Array(countersBuf);
    let rate = 0;
    let mainUs = 0;
    let cpuUs: CpuSample = { r1: 0, r3: 0, nats: 0 };
    if (mode === 'load') {
      await sleep(500);
      const r0 = counters[C_RESPONSES]!;
      const t0 = performance.now();
      const elu0 = perf.eventLoopUtilization();
      const cpu0 = cpu();
      await sleep(seconds * 1000);
      const n = counters[C_RESPONSES]! - r0;
      const cpu1 = cpu();
      // CPU time per round trip of each process (all its threads): what the rate costs, whatever the machine's load.
      cpuUs = { r1: (cpu1.r1 - cpu0.r1) / n, r3: (cpu1.r3 - cpu0.r3) / n, nats: (cpu1.nats - cpu0.nats) / n };
      rate = (n * 1000) / (performance.now() - t0);
      // This thread's busy time per round trip: the gateway's JS per-frame work and whatever else
      // runs here (the directory); far steadier than rates on a loaded machine.
      mainUs = (perf.eventLoopUtilization(perf.eventLoopUtilization(), elu0).active * 1000) / n;
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
    }
    const out = await done;
    await w.terminate();
    if (counters[C_ERRORS]! !== 0) throw new Error(`cluster bench: ${counters[C_ERRORS]} wrong or failed answers`);
    await router.detach(link);
    return { rate, mainUs, cpuUs, micros: out.micros };
  };
  const load = await run('load');
  const rtt = await run('rtt');
  return { rate: load.rate, mainUs: load.mainUs, cpuUs: load.cpuUs, p50: median(Array.from(rtt.micros!)) };
}

async function main(): Promise<void> {
  const why = natsServerMissing();
  if (why !== undefined) throw new Error(`cluster bench: ${why}`);
  const quick = isQuick();
  const cfg = {
    outstanding: argInt('outstanding', 64), seconds: argInt('seconds', quick ? 1 : 3), added: argInt('devices-added', 1000),
    rounds: argInt('rounds', quick ? 1 : 5), joined: process.argv.includes('--joined'),
    remoteWindow: argInt('cluster-window', 0) || undefined,
    only: argStr('only', ''), skipMemory: process.argv.includes('--skip-memory'),
  };
  if (!['', 'cluster', 'direct', 'joined'].includes(cfg.only)) throw new RangeError(`--only cluster|direct|joined, got ${cfg.only}`);
  const nats = await NatsServer.start();
  const procs: ChildProcess[] = [];
  try {
    const r3 = await startR3(nats.url);
    procs.push(r3.proc);
    const window = 1 << Math.ceil(Math.log2(Math.max(cfg.outstanding, 2)));
    const r1 = await Router.create({ shards: 1, window, spinBeforeSleep: 200, timeoutMs: 10_000 });

    // 1. Through the cluster and through a direct gateway to the same address, alternating
    //    (ABBA: neither side always runs first, nor always right after a join); medians. With
    //    --joined, also the direct gateway while r1 is a cluster member (what membership alone costs).
    type Variant = 'cluster' | 'direct' | 'joined';
    const variants: Variant[] = cfg.only !== '' ? [cfg.only as Variant] : cfg.joined ? ['cluster', 'direct', 'joined'] : ['cluster', 'direct'];
    const results: Record<Variant, Measured[]> = { cluster: [], direct: [], joined: [] };
    const cpu = (): CpuSample => {
      const u = process.cpuUsage();
      return { r1: u.user + u.system, r3: procCpuUs(r3.proc.pid!), nats: procCpuUs(nats.pid!) };
    };
    const measure = async (v: Variant, warmUp = false): Promise<void> => {
      const c1 = v === 'direct' ? undefined : await ClusterNode.join(r1, { url: nats.url, node: 'r1', remoteWindow: cfg.remoteWindow });
      const gw = v === 'cluster' ? undefined : await openStreamLink(r1, r3.address, 'device');
      if (c1 !== undefined && gw === undefined) await until(() => c1.peers().some((p) => p.node === 'r3' && p.deviceMap.length === 2), 'r3 devices on r1');
      if (gw !== undefined) await until(() => gw.devices.length === 2, 'r3 devices on the direct gateway');
      const r = await drive(r1, [1, 2], cfg.outstanding, warmUp ? 1 : cfg.seconds, cpu);
      if (warmUp) log(`  warm-up ${v}: ${Math.round(r.rate)} round trips/s (not counted)`);
      else results[v].push(r);
      if (!warmUp) log(`  round ${results[v].length} ${v}: ${Math.round(r.rate)} round trips/s, p50 ${r.p50.toFixed(1)} us, main thread ${r.mainUs.toFixed(2)} us per round trip; CPU per round trip r1 ${r.cpuUs.r1.toFixed(2)} (with its driver) r3 ${r.cpuUs.r3.toFixed(2)} nats ${r.cpuUs.nats.toFixed(3)} us`);
      await gw?.close();
      await c1?.close();
    };
    // The first load of the process (and of r3) also compiles and optimises the gateway's code:
    // a round nobody counts, or ABBA hands that cost to the variant that runs first.
    for (const v of variants) await measure(v, true);
    for (let round = 0; round < cfg.rounds; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) await measure(v);
    }
    const mid = (xs: Measured[]) => ({
      rate: median(xs.map((x) => x.rate)), p50: median(xs.map((x) => x.p50)), mainUs: median(xs.map((x) => x.mainUs)),
      cpuUs: median(xs.map((x) => x.cpuUs.r1 + x.cpuUs.r3 + x.cpuUs.nats)),
    });
    const cl = mid(results.cluster);
    const di = mid(results.direct);
    log(`medians of ${cfg.rounds}: cluster ${Math.round(cl.rate)} round trips/s, p50 ${cl.p50.toFixed(1)} us; direct gateway ${Math.round(di.rate)} round trips/s, p50 ${di.p50.toFixed(1)} us (cluster/direct ${((100 * cl.rate) / di.rate).toFixed(1)} %, p50 ${((100 * cl.p50) / di.p50).toFixed(1)} %; main thread ${cl.mainUs.toFixed(2)} / ${di.mainUs.toFixed(2)} us, CPU of r1 + r3 + nats ${cl.cpuUs.toFixed(2)} / ${di.cpuUs.toFixed(2)} us per round trip)${cfg.joined ? `; direct while joined ${Math.round(mid(results.joined).rate)} round trips/s, p50 ${mid(results.joined).p50.toFixed(1)} us` : ''}`);

    const samples: Record<string, number> = {
      'cluster-rtps': cl.rate, 'direct-rtps': di.rate, 'cluster-vs-direct-pct': (100 * cl.rate) / di.rate,
      'cluster-p50-us': cl.p50, 'direct-p50-us': di.p50, 'cluster-vs-direct-p50-pct': (100 * cl.p50) / di.p50,
      'cluster-main-us-per-rt': cl.mainUs, 'direct-main-us-per-rt': di.mainUs,
      'cluster-cpu-us-per-rt': cl.cpuUs, 'direct-cpu-us-per-rt': di.cpuUs,
    };
    if (cfg.skipMemory) {
      await r1.close();
      emit({ samples, info: { config: cfg, load_average: loadavg(), runs: results } });
      return;
    }

    // 2 and 3. r2 hot-adds 1 000 devices; r1 (joined, r3's devices attached) converges.
    const r2 = await startR2(nats.url);
    procs.push(r2.proc);
    const c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1', remoteWindow: cfg.remoteWindow });
    await until(() => c1.peers().some((p) => p.node === 'r2' && p.alive) && c1.peers().some((p) => p.node === 'r3' && p.deviceMap.length === 2), 'r2 alive on r1');
    const g = globalThis as { gc?: () => void };
    // Collect until the heap stops shrinking (a few rounds; each lets finalizers and timers run).
    const settle = async (): Promise<number> => {
      let last = Infinity;
      for (let i = 0; i < 10; i++) {
        g.gc?.();
        await sleep(50);
        const m = process.memoryUsage();
        const now = m.heapUsed + m.external;
        if (Math.abs(last - now) < 4096) return now;
        last = now;
      }
      return last;
    };
    const m0 = await settle();
    const r2Devices = (): number => c1.peers().find((p) => p.node === 'r2')?.deviceMap.length ?? 0;
    const added = await r2.command(`add 1000 ${cfg.added}`);
    await until(() => r2Devices() === cfg.added, `${cfg.added} devices of r2 on r1`, 60_000);
    const seen = Date.now();
    const convergenceMs = seen - added.t0!;
    // The directory's own part: from r2 having the last device to r1 having it.
    const afterAddMs = Math.max(0, seen - added.t1!);
    const m1 = await settle();
    // Memory per remote device: what the second and third batches of `added` devices of the
    // same node cost. The first batch also paid for the node's gateway stream (its remap tables,
    // 512 KiB, socket buffers) and for compiling the code that handles them: reported apart, per node.
    const batch = async (n: number): Promise<number> => {
      await r2.command(`add ${1000 + (n - 1) * cfg.added} ${cfg.added}`);
      await until(() => r2Devices() === n * cfg.added, `${n * cfg.added} devices of r2 on r1`, 60_000);
      return settle();
    };
    const m2 = await batch(2);
    const m3 = await batch(3);
    // Over two batches: each hash table of the devices (Maps, Sets) doubles once in between, so
    // this is the amortised cost; either batch alone swings with where a doubling falls.
    const jsBytes = (m3 - m1) / (2 * cfg.added);
    const secondBatchBytes = (m2 - m1) / cfg.added;
    const thirdBatchBytes = (m3 - m2) / cfg.added;
    const firstBatchExtra = m1 - m0 - jsBytes * cfg.added;
    const remoteLocal = c1.peers().find((p) => p.node === 'r2')!.deviceMap[0]!.local;
    const routerStateBytes = r1.deviceStateBytes(remoteLocal)!;
    log(`convergence: ${cfg.added} devices of r2 attached on r1 ${convergenceMs} ms after r2 began adding them (r2's own addDevice calls took ${added.t1! - added.t0!} ms); per remote device ${Math.round(jsBytes)} B of JS heap (batches 2 and 3: ${Math.round(secondBatchBytes)}, ${Math.round(thirdBatchBytes)} B)${g.gc === undefined ? ' (run with --expose-gc for a stable figure)' : ''} + ${routerStateBytes} B of router state = ${Math.round(jsBytes + routerStateBytes)} B; per remote node ${Math.round(firstBatchExtra / 1024)} KiB more`);
    await c1.close();
    await r1.close();
    emit({
      samples: {
        ...samples,
        'cluster-convergence-ms': convergenceMs, 'cluster-convergence-after-add-ms': afterAddMs, 'cluster-bytes-per-remote-device': jsBytes + routerStateBytes, 'cluster-js-bytes-per-remote-device': jsBytes,
      },
      info: { config: cfg, r2_add_ms: added.t1! - added.t0!, load_average: loadavg(), router_state_bytes_per_device: routerStateBytes, first_batch_extra_bytes: firstBatchExtra, batch_js_bytes_per_device: [secondBatchBytes, thirdBatchBytes], runs: results },
    });
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode !== null ? null : new Promise((r) => p.once('exit', r)))));
    await nats.stop();
  }
}

await main();
