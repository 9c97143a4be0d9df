// pipeline: round trips per second through a real Router: a driver worker thread → router
// shard worker(s) → echo device worker(s) → router → driver, all over shared-memory rings.
// The driver keeps `outstanding` requests in flight to each of `devices` device numbers (all
// served by the echo worker(s)) and checks every response (id, device, per-device token order).
// Round trips/s = responses counted by the driver over a fixed window after a warm-up.
//
// Knobs (defaults = the best configuration measured on the 2-core VM, docs/BENCHMARKS.md):
//   --shards 1 --echo 1 --devices 128 --outstanding 64 --burst 256 --ring 4096 --batch 32
//   --spin 2000 (shard) --endpoint-spin 3000 (driver and echo) --max-msg 64 --seconds S
//   --packed 1       packed rings (16-byte units); 0: one frame per slot (64 bytes for --max-msg 64)
//   --name NAME      metric name in the JSON (default pipeline)
//   --driver js      the driver's loop in JS with the port's calls (default wasm: the same checks
//                    in assembly/loadgen/closed-loop.ts)
//   --poll-sleep 0|1 1: the driver and echo threads sleep in poll(2) on an eventfd (EndpointPort
//                    pollSleep: one switch per wake-up) instead of Atomics.wait
//   --pin-shard CPU  pin the shard thread(s) to CPU (taskset; experiment: the Router cannot pin)
//   --pin-edges CPU  pin the driver and echo threads to CPU (taskset; experiment)
//   --shard-cpu CPU  the shard on CPU alone: RouterOptions.shardCpus [CPU], and the driver and
//                    echo ports made with avoidCpus [CPU] (what a user of the API would do)
// info.switches_per_rt: voluntary context switches of all threads per round trip (the wake-up
// chain; e.g. --shards 2 --devices 1 --outstanding 1 --burst 1 --spin 0 --endpoint-spin 0 puts
// driver and device on different shards, one request at a time, every thread sleeping when idle).
// --echo 0 is an experiment, not the pipeline asked for: the driver thread answers as the
// echo device too, so two threads run instead of three on the 2-core machine.
import { Worker } from 'node:worker_threads';
import { Router } from '../src/router/router.js';
import { ringDoorbell } from '../src/wait/doorbell.js';
import { wasmModule } from '../src/wasm/module.js';
import { compiledModule } from '../src/util/paths.js';
import type { LinkDescriptor } from '../src/endpoint/link.js';
import { C_COUNT, C_ERRORS, C_RESPONSES, C_WAITS, type DriverData } from './workers/pipeline-driver.js';
import { ThreadRoles, newThreads, pinThread, threadAllowedCpus, threadIds } from './threads.js';
import { switchesPerRoundTrip, threadSwitches } from './thread-switches.js';
import { argInt, argStr, emit, isQuick, log, sleep } from './stats.js';
import { CL_STATE_SIZE, CLD_SIZE } from '../src/wasm/layout.js';
import { parseCpuListText } from '../src/native/cpu-affinity.js';

interface Running {
  worker: Worker;
  stop: Int32Array;
  counters: Float64Array;
  done: Promise<unknown>;
  link: LinkDescriptor;
}

/** Start a worker with a stop word and Float64 counters in shared memory; resolves once it runs. */
async function start(file: string | URL, link: LinkDescriptor, data: Record<string, unknown>, counters: number): Promise<Running> {
  const stopBuf = new SharedArrayBuffer(4);
  const countersBuf = new SharedArrayBuffer(8 * counters);
  const worker = new Worker(file, { workerData: { ...data, link, stop: stopBuf, counters: countersBuf } });
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await new Promise((resolve) => worker.once('online', resolve));
  return { worker, stop: new Int32Array(stopBuf), counters: new Float64Array(countersBuf), done, link };
}

async function stopWorker(r: Running): Promise<void> {
  Atomics.store(r.stop, 0, 1);
  ringDoorbell(new Int32Array(r.link.memory.buffer), r.link.bell >>> 2); // wake it if it sleeps
  await r.done;
  await r.worker.terminate();
}

async function main(): Promise<void> {
  const quick = isQuick();
  const cfg = {
    shards: argInt('shards', 1),
    echoWorkers: argInt('echo', 1),
    devices: argInt('devices', 128),
    outstanding: argInt('outstanding', 64),
    burst: argInt('burst', 256),
    ring: argInt('ring', 4096),
    batch: argInt('batch', 32),
    spin: argInt('spin', 2000),
    endpointSpin: argInt('endpoint-spin', 3000),
    pollSleep: argInt('poll-sleep', 0) !== 0,
    pinShard: argInt('pin-shard', -1),
    pinEdges: argInt('pin-edges', -1),
    shardCpu: argInt('shard-cpu', -1),
    maxMsg: argInt('max-msg', 64),
    packed: argInt('packed', 1) !== 0,
    seconds: argInt('seconds', quick ? 1 : 3),
    driver: argStr('driver', 'wasm') === 'js' ? 'js' : 'wasm',
  };
  const roles = new ThreadRoles();
  let before = threadIds();
  const window = 1 << Math.ceil(Math.log2(Math.max(cfg.outstanding, 2)));
  const router = await Router.create({
    shards: cfg.shards, ringCapacity: cfg.ring, ringBatch: cfg.batch, window, spinBeforeSleep: cfg.spin, packedRings: cfg.packed,
    ...(cfg.shardCpu >= 0 ? { shardCpus: [cfg.shardCpu] } : {}),
  });
  const avoidCpus = cfg.shardCpu >= 0 ? [cfg.shardCpu] : undefined;
  roles.add('shards', newThreads(before));
  const pinned = cfg.pinShard >= 0 && roles.ids('shards').every((t) => pinThread(t, cfg.pinShard));
  if (cfg.pinShard >= 0 && !pinned) log('pipeline: could not pin the shard (no taskset?); running unpinned');
  const module = wasmModule();
  const devNums = Array.from({ length: cfg.devices }, (_, i) => i + 1);
  const per = Math.ceil(devNums.length / Math.max(1, cfg.echoWorkers));
  const echoes: Running[] = [];
  // --echo 0: one device link for every device, answered by the driver thread itself.
  const inlineDevice = cfg.echoWorkers === 0 ? await router.attachDevice({ devices: devNums, maxMessageSize: cfg.maxMsg }) : null;
  for (let w = 0; w < cfg.echoWorkers; w++) {
    const link = await router.attachDevice({ devices: devNums.slice(w * per, (w + 1) * per), maxMessageSize: cfg.maxMsg });
    before = threadIds();
    echoes.push(await start(compiledModule('device/echo-worker.js'), link, { module, spinBeforeSleep: cfg.endpointSpin, pollSleep: cfg.pollSleep, avoidCpus }, 1));
    roles.add(`echo${w}`, newThreads(before));
  }
  // Attached after the devices, so no EVENT_DEVICE READY reaches it.
  const drvLink = await router.attachDriver({ maxMessageSize: cfg.maxMsg });
  // The driver's loop in WASM (default: assembly/loadgen/closed-loop.ts) or in JS (--driver js).
  // alloc hands out zeroed bytes: the engine's state and device table start at 0.
  const loadWasm = cfg.driver === 'wasm' ? { state: router.mem.alloc(CL_STATE_SIZE), devs: router.mem.alloc(devNums.length * CLD_SIZE) } : null;
  const driverData: Omit<DriverData, 'link' | 'stop' | 'counters'> = {
    mode: 'load', module, devices: devNums, outstanding: cfg.outstanding, burst: cfg.burst,
    iterations: 0, warmup: 0, inlineDevice, loadWasm, spinBeforeSleep: cfg.endpointSpin, pollSleep: cfg.pollSleep, avoidCpus,
  };
  before = threadIds();
  const driver = await start(new URL('./workers/pipeline-driver.js', import.meta.url), drvLink, driverData, C_COUNT);
  roles.add('driver', newThreads(before));

  await sleep(quick ? 500 : 1000); // warm-up: tier-up, page faults, the pipe fills
  // --shard-cpu: the shard's thread on that CPU only, every edge thread off it; a run where
  // either did not hold is not this case's measurement, so it fails instead of being scored.
  const placement = Object.fromEntries(['shards', 'driver', ...echoes.map((_, w) => `echo${w}`)].map((r) => [r, roles.ids(r).map(threadAllowedCpus)]));
  if (cfg.shardCpu >= 0) {
    const onIt = (list: string) => parseCpuListText(list)?.includes(cfg.shardCpu) ?? true;
    const held = Object.entries(placement).every(([role, lists]) => lists.every((l) => (role === 'shards' ? l === String(cfg.shardCpu) : l !== '' && !onIt(l))));
    if (!held) throw new Error(`pipeline: --shard-cpu ${cfg.shardCpu} did not hold (allowed CPUs by role: ${JSON.stringify(placement)})`);
  }
  const shardLoops = (): number => router.stats().shards.reduce((t, s) => t + s.loops, 0);
  const edgesPinned = cfg.pinEdges >= 0 && [...roles.ids('driver'), ...echoes.flatMap((_, w) => roles.ids(`echo${w}`))].every((t) => pinThread(t, cfg.pinEdges));
  if (cfg.pinEdges >= 0 && !edgesPinned) log('pipeline: could not pin the driver and echo threads; running unpinned');
  const r0 = driver.counters[C_RESPONSES]!;
  const w0 = driver.counters[C_WAITS]!;
  const loops0 = shardLoops();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  roles.mark();
  const sw0 = threadSwitches(process.pid);
  await sleep(cfg.seconds * 1000);
  const r1 = driver.counters[C_RESPONSES]!;
  const t1 = performance.now();
  // Sleeps of every thread per round trip: the wake-up chain counted, which load does not change.
  const switches = switchesPerRoundTrip(sw0, threadSwitches(process.pid), r1 - r0);
  // Worker threads are all named "node": label them by role.
  const roleOf = new Map<string, string>();
  for (const role of ['shards', 'driver', ...echoes.map((_, w) => `echo${w}`)]) for (const t of roles.ids(role)) roleOf.set(String(t), role);
  switches.threads = switches.threads.map((l) => l.replace(/^node#(\d+)/, (m, tid: string) => `${roleOf.get(tid) ?? 'node'}#${tid}`));
  const threadCpu = roles.cpuShare();
  const roleSwitches = roles.switchesPer((t1 - t0) / 1000);
  const threadSys = roles.sysShare();
  const cpu = process.cpuUsage(cpu0);
  const loops = shardLoops() - loops0;
  const waits = driver.counters[C_WAITS]! - w0;

  await stopWorker(driver);
  for (const e of echoes) await stopWorker(e);
  const errors = driver.counters[C_ERRORS]!;
  const stats = router.stats();
  await router.close();

  const rate = ((r1 - r0) * 1000) / (t1 - t0);
  const frames = 2 * (r1 - r0);
  log(`pipeline ${(rate / 1e6).toFixed(2)} M round trips/s, errors ${errors}, cpu ${JSON.stringify(threadCpu)}, voluntary switches per round trip ${switches.all} (${switches.threads.join(', ')})`);
  if (errors !== 0) throw new Error(`pipeline: ${errors} wrong or failed responses`);
  emit({
    samples: { [argStr('name', 'pipeline')]: rate },
    info: {
      config: cfg,
      shard_pinned: pinned,
      edges_pinned: edgesPinned,
      // The CPUs each role's threads may run on (Cpus_allowed_list), after --shard-cpu / --pin-*.
      thread_allowed_cpus: placement,
      errors,
      in_flight: cfg.devices * cfg.outstanding,
      // CPU of each role's thread over the window (1.0 = one whole core), and of the process.
      thread_cpu: threadCpu,
      // Context switches of each role's threads per second: voluntary (slept, woken: a futex
      // wake costs ~30 µs here) and involuntary (preempted by another runnable thread).
      thread_switches_per_s: roleSwitches,
      // The kernel's part of thread_cpu (futex sleeps and wakes, yields).
      thread_sys_cpu: threadSys,
      process_cpu: Number(((cpu.user + cpu.system) / 1000 / (t1 - t0)).toFixed(2)),
      shard_frames_per_loop: Number((frames / Math.max(1, loops)).toFixed(1)),
      driver_idle_waits_per_s: Math.round((waits * 1000) / (t1 - t0)),
      switches_per_rt: switches.all,
      switches_by_thread: switches.threads,
      drops: stats.totals.dropped,
    },
  });
}

await main();
