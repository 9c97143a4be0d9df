// `npm run -s bench [-- --quick] [--only a,b] [--runs N] [--out FILE] [--help]`: runs every case in
// separate child processes (rings at full speed are bimodal per process on the 2-vCPU VMs, so
// one process proves little), interleaved — round 1 runs each case once, then round 2, … — so
// background noise spreads over all cases, and prints ONE JSON document on stdout:
//   {"machine": {...}, "results": [{"name", "unit", "median", "min", "max", "runs", ...}, ...]}
// Progress goes to stderr. Cases are the other files of bench/ (docs/BENCHMARKS.md).
// Every temporary file of the run (the C anchor build, each case's sockets and directories: the
// cases get TMPDIR inside ours) is under one directory, their window files under another in
// /dev/shm; both are removed also on Ctrl-C, SIGTERM or SIGHUP, after the running case and every
// process it started (its process group) are ended.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants, cpus, loadavg, release, tmpdir, totalmem, type, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anchorSourceDir, buildAnchor, parseAnchorMedian } from './c-anchor.js';
import { log, sig, summarize, type CaseReport, type Result } from './stats.js';
import { BENCH_SHM_ENV } from './shm-dir.js';
import { parseRunArgs, RunArgsError, RUN_USAGE, type RunArgs } from './run-args.js';
import { publishMode, publishModeReason } from '../src/wait/fence.js';
import { allowedCpus } from '../src/native/cpu-affinity.js';

interface Case {
  /** Name in --only and in the logs. */
  id: string;
  /** Metric name → unit, in the order they are reported. */
  metrics: Record<string, string>;
  /** Command for one run: a node case file (dist/bench/<file>) or the C anchor binary. */
  command(quick: boolean): { file: string; args: string[]; node: boolean } | null;
}

interface Target {
  op: '>=' | '<=';
  value: number;
  /** Check this field of the result instead of its median. */
  of?: 'ratio_to_c';
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** bench/vmamp-driver.ts: our driver's rate per case; `<case>-c` the C driver's, `<case>-ratio` ours / C per process. */
/** bench/route-one.ts: one request at a time through vmsg route, per device kind; `-ratio` = p50 / C ↔ C doorbell p50. */
const ROUTE_ONE_CASES = ['route-one-entropy-init', 'route-one-echo-init', 'route-one-echo-avail'];
const VMAMP_DRIVER_CASES = ['poll', 'doorbell'].flatMap((k) => [1, 8].map((n) => `vmamp-driver-k${n}-${k}`));
/** The same pairs with the profile load tool (`vmsg bench --profile init`) as our driver. */
const VMAMP_DRIVER_PROFILE_CASES = VMAMP_DRIVER_CASES.map((n) => `${n}-profile`);
/** bench/relay.ts: C driver → vmsg route → C device; `<case>-c` C ↔ C on the same kind of window, `<case>-ratio` ours / C ↔ C per process. */
const RELAY_CASES = ['relay-doorbell-k1', 'relay-doorbell-k8', 'relay-poll-k8'];
const RUN_TIMEOUT_MS = 180_000;
/** Wall-clock time of the full run without --quick on the 2-vCPU machine (docs/BENCHMARKS.md). */
const FULL_RUN_MINUTES = 14;

/** The targets of issue "Router core", item 7. */
const TARGETS: Record<string, Target> = {
  'router-core': { op: '>=', value: 0.6, of: 'ratio_to_c' },
  pipeline: { op: '>=', value: 5e6 },
  'rtt-p50-us': { op: '<=', value: 2 },
  'rtt-p99-us': { op: '<=', value: 10 },
  'rss-mb': { op: '<=', value: 120 },
  // `vmsg bench` as a driver against the C device vs the C driver, back to back in one process.
  ...Object.fromEntries([...VMAMP_DRIVER_CASES, ...VMAMP_DRIVER_PROFILE_CASES].map((n) => [n, { op: '>=', value: 0.8, of: 'ratio_to_c' } as Target])),
  // One request at a time through vmsg route over a doorbell window: p50 ≤ 2× the C ↔ C doorbell p50.
  ...Object.fromEntries(ROUTE_ONE_CASES.map((n) => [`${n}-ratio`, { op: '<=', value: 2 } as Target])),
  // The relay between two external buses: with doorbells ≥ 0.5× C ↔ C; busy-poll with the router's defaults ≥ 0.1×.
  ...Object.fromEntries(RELAY_CASES.map((n) => [n, { op: '>=', value: n.includes('-poll-') ? 0.1 : 0.5, of: 'ratio_to_c' } as Target])),
  // One Device SDK worker on the control plane (init sequence, 8 in flight, in-process link).
  'device-sdk-entropy-init-k8': { op: '>=', value: 200_000 },
  'device-sdk-block-init-k8': { op: '>=', value: 200_000 },
};
const PIPELINE_OVER_NAIVE = 100;
/** rtt p50 at most this many times the C ping-pong p50 of the same run (two ring hops each way: 2 is the floor). */
const RTT_OVER_C_PINGPONG = 2.5;
/** stream-tcp-d1-k1: at most this many times slower than the C TCP ping-pong of the same run. */
const TCP_HOP_SLOWDOWN = 3;

function cases(anchorBin: string | null): Case[] {
  const node = (file: string, extra: string[] = []) => (quick: boolean) => ({ file: join(HERE, file), args: [...extra, ...(quick ? ['--quick'] : [])], node: true });
  const anchor = (mode: string, full: string[], quick: string[]) => (q: boolean) =>
    anchorBin === null ? null : { file: anchorBin, args: [mode, ...(q ? quick : full)], node: false };
  const ours = allowedCpus();
  const shardCpu = ours !== null && ours.length >= 2 ? ours[ours.length - 1] : undefined;
  return [
    { id: 'c-anchor-route1', metrics: { 'c-anchor-route1': 'msgs/s' }, command: anchor('route1', ['cap=4096', 'batch=32', 'n=20000000', 'reps=7'], ['cap=4096', 'batch=32', 'n=10000000', 'reps=5']) },
    { id: 'router-core', metrics: { 'router-core': 'msgs/s', 'router-core-responses': 'msgs/s' }, command: node('router-core.js') },
    { id: 'c-anchor-tput', metrics: { 'c-anchor-tput': 'msgs/s' }, command: anchor('tput', ['batch=32', 'n=20000000', 'reps=7'], ['batch=32', 'n=10000000', 'reps=5']) },
    { id: 'c-anchor-route2', metrics: { 'c-anchor-route2': 'msgs/s' }, command: anchor('route2', ['cap=4096', 'batch=64', 'burst=1024', 'n=20000000', 'reps=5'], ['cap=4096', 'batch=64', 'burst=1024', 'n=10000000', 'reps=3']) },
    { id: 'pipeline', metrics: { pipeline: 'round trips/s' }, command: node('pipeline.js') },
    // The same pipeline with one frame per 64-byte ring slot instead of packed rings (the
    // default): what packing the 8- and 12-byte frames four to a cache line buys.
    { id: 'pipeline-slot-rings', metrics: { 'pipeline-slot-rings': 'round trips/s' }, command: node('pipeline.js', ['--packed', '0', '--name', 'pipeline-slot-rings']) },
    // The same pipeline with the shard on a CPU of its own (RouterOptions.shardCpus [1]; the
    // driver and echo threads keep off it): on 2 cores the scheduler otherwise places a woken
    // edge thread on the shard's CPU and preempts it (docs/BENCHMARKS.md "pipeline").
    // The last CPU this process may use; not run with fewer than two (nowhere else for the edges).
    { id: 'pipeline-shard-cpu', metrics: { 'pipeline-shard-cpu': 'round trips/s' }, command: (q: boolean) => (shardCpu === undefined ? null : node('pipeline.js', ['--shard-cpu', String(shardCpu), '--name', 'pipeline-shard-cpu'])(q)) },
    { id: 'naive-messageport', metrics: { 'naive-messageport': 'round trips/s' }, command: node('naive-messageport.js') },
    { id: 'c-anchor-pingpong', metrics: { 'c-anchor-pingpong-p50-us': 'us' }, command: anchor('pingpong', ['iters=500000', 'reps=5'], ['iters=200000', 'reps=3']) },
    { id: 'rtt', metrics: { 'rtt-p50-us': 'us', 'rtt-p99-us': 'us', 'rtt-p999-us': 'us' }, command: node('rtt.js') },
    // rtt runs in busy-poll mode, where the router defaults to one frame per ring slot; the same with packed rings:
    { id: 'rtt-packed-rings', metrics: { 'rtt-packed-rings-p50-us': 'us', 'rtt-packed-rings-p99-us': 'us', 'rtt-packed-rings-p999-us': 'us' }, command: node('rtt.js', ['--packed', '1', '--name', 'rtt-packed-rings']) },
    { id: 'rss', metrics: { 'rss-mb': 'MiB', 'rss-mb-after-traffic': 'MiB', 'rss-mb-bare-node': 'MiB' }, command: node('rss.js') },
    {
      id: 'vmamp',
      metrics: Object.fromEntries(['poll', 'doorbell'].flatMap((k) => ['c-c', 'node-c', 'c-router'].map((p) => [`vmamp-${p}-${k}`, 'round trips/s']))),
      command: node('vmamp.js'),
    },
    {
      id: 'vmamp-driver',
      metrics: Object.fromEntries(VMAMP_DRIVER_CASES.flatMap((n) => [[n, 'round trips/s'], [`${n}-c`, 'round trips/s'], [`${n}-ratio`, 'x'], [`${n}-profile`, 'round trips/s'], [`${n}-profile-ratio`, 'x']])),
      command: node('vmamp-driver.js'),
    },
    {
      id: 'route-one',
      metrics: Object.fromEntries(ROUTE_ONE_CASES.flatMap((n) => [[`${n}-p50-us`, 'us'], [`${n}-ratio`, 'x']])),
      command: node('route-one.js'),
    },
    {
      id: 'relay',
      metrics: Object.fromEntries(RELAY_CASES.flatMap((n) => [[n, 'round trips/s'], [`${n}-c`, 'round trips/s'], [`${n}-ratio`, 'x'], [`${n}-p50-us`, 'us']])),
      command: node('relay.js'),
    },
    // What one thread wake-up costs here, by mechanism (docs/ARCHITECTURE.md "The wake-up chain").
    { id: 'device-sdk', metrics: { 'device-sdk-entropy-init-k8': 'requests/s', 'device-sdk-block-init-k8': 'requests/s' }, command: node('device-sdk.js') },
    { id: 'wake-hops', metrics: { 'hop-futex-us': 'us', 'hop-wait-async-us': 'us', 'hop-socket-loop-us': 'us', 'hop-socket-sys-us': 'us', 'hop-eventfd-us': 'us' }, command: node('wake-hops.js') },
    // Two routers (two processes) linked by the stream bus over TCP on 127.0.0.1: loaded, then one request at a time.
    { id: 'stream', metrics: { 'stream-tcp-d2-k64': 'round trips/s' }, command: node('stream.js') },
    { id: 'c-anchor-tcppingpong', metrics: { 'c-anchor-tcppingpong': 'round trips/s' }, command: anchor('tcppingpong', ['ms=1000', 'reps=5'], ['ms=500', 'reps=3']) },
    { id: 'stream-one', metrics: { 'stream-tcp-d1-k1': 'round trips/s' }, command: node('stream.js', ['--devices', '1', '--outstanding', '1']) },
    // Routers in a cluster on a nats-server of its own: data through the cluster's gateway stream vs a direct one, directory convergence, memory per remote device.
    {
      id: 'cluster',
      metrics: {
        'cluster-rtps': 'round trips/s', 'direct-rtps': 'round trips/s', 'cluster-vs-direct-pct': '%', 'cluster-p50-us': 'us', 'direct-p50-us': 'us', 'cluster-vs-direct-p50-pct': '%', 'cluster-main-us-per-rt': 'us', 'direct-main-us-per-rt': 'us',
        'cluster-convergence-ms': 'ms', 'cluster-convergence-after-add-ms': 'ms', 'cluster-bytes-per-remote-device': 'B', 'cluster-js-bytes-per-remote-device': 'B',
      },
      command: node('cluster.js'),
    },
  ];
}

/** CPU seconds: every CPU of the machine busy, and this process plus its waited-for children. */
function cpuClock(): { machine: number; ours: number } {
  const ticks = 100; // USER_HZ
  try {
    const all = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const busy = all.reduce((t, v) => t + v, 0) - all[3]! - all[4]!; // minus idle, iowait
    const self = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ').map(Number);
    return { machine: busy / ticks, ours: (self[11]! + self[12]! + self[13]! + self[14]!) / ticks };
  } catch {
    return { machine: NaN, ours: NaN };
  }
}

interface RunOutcome {
  report: CaseReport | null;
  error?: string;
  /** Share of the machine's CPUs that other processes used meanwhile (noise), percent. */
  otherCpuPct: number;
}

/** The case process running now, leader of its own process group (a stop signal ends the group first). */
let running: ChildProcess | null = null;

/**
 * Signal the case's whole process group: a case starts C peers and `vmsg route` processes of
 * its own, which would outlive it (and keep their windows) if only the case were signalled.
 */
function signalCase(child: ChildProcess, s: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, s);
  } catch {
    // the group is gone already
  }
}

/** One child process; a C anchor's RESULT line becomes the sample `anchorMetric`. */
function runOnce(cmd: { file: string; args: string[]; node: boolean }, anchorMetric: string, env: NodeJS.ProcessEnv): Promise<RunOutcome> {
  const c0 = cpuClock();
  const t0 = performance.now();
  // detached: its own process group, so a stop signal or the timeout reaches whatever it started.
  const child = cmd.node ? spawn(process.execPath, [cmd.file, ...cmd.args], { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env })
    : spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env });
  running = child;
  const timeout = setTimeout(() => signalCase(child, 'SIGTERM'), RUN_TIMEOUT_MS);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) => {
    child.on('error', (e) => resolve({ report: null, error: e.message, otherCpuPct: NaN }));
    child.on('close', (code, signal) => {
      running = null;
      clearTimeout(timeout);
      signalCase(child, 'SIGKILL'); // anything the case left running (a peer it did not reap)
      const c1 = cpuClock();
      const wall = (performance.now() - t0) / 1000;
      const other = ((c1.machine - c0.machine) - (c1.ours - c0.ours)) / (wall * cpus().length);
      const otherCpuPct = Math.round(Math.max(0, other) * 1000) / 10;
      if (code !== 0) {
        resolve({ report: null, error: `exit ${code ?? signal}`, otherCpuPct });
        return;
      }
      try {
        if (cmd.node) resolve({ report: JSON.parse(out.trim().split('\n').pop()!) as CaseReport, otherCpuPct });
        else resolve({ report: { samples: { [anchorMetric]: parseAnchorMedian(out) } }, otherCpuPct });
      } catch (e) {
        resolve({ report: null, error: (e as Error).message, otherCpuPct });
      }
    });
  });
}

function machine(quick: boolean, runs: number): Record<string, unknown> {
  const git = (args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { cwd: HERE, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return undefined;
    }
  };
  const status = git(['status', '--porcelain', '--', 'src', 'assembly']);
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    os: `${type()} ${release()} ${arch()}`,
    memory_gib: sig(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
    loadavg_start: loadavg().map(sig),
    commit: git(['rev-parse', '--short', 'HEAD']),
    src_modified: status === undefined ? undefined : status.length > 0,
    mode: quick ? 'quick' : 'full',
    // How rings publish their index in this run (src/wait/fence.ts): rtt moves by ~0.6 us with it.
    ring_publish: `${publishMode()} (${publishModeReason()})`,
    processes_per_case: runs,
  };
}

/** Per round, a / b: each round runs the C reference right before our case (same host weather). */
function perRound(a: Result, b: Result, scale = 1): number[] | undefined {
  return a.values.length === b.values.length ? a.values.map((v, i) => sig((scale * v) / b.values[i]!)) : undefined;
}

function applyTargets(results: Result[]): void {
  const byName = new Map(results.map((r) => [r.name, r]));
  const core = byName.get('router-core');
  const route1 = byName.get('c-anchor-route1');
  if (core !== undefined && route1 !== undefined) {
    core.ratio_to_c = sig(core.median / route1.median);
    core.ratio_to_c_per_round = perRound(core, route1);
  }
  const pipe = byName.get('pipeline');
  const route2 = byName.get('c-anchor-route2');
  if (pipe !== undefined && route2 !== undefined) {
    // A round trip is two frames through the router; route2 counts one per message.
    pipe.router_frames_ratio_to_c_route2 = sig((2 * pipe.median) / route2.median);
    pipe.router_frames_ratio_to_c_route2_per_round = perRound(pipe, route2, 2);
  }
  const naive = byName.get('naive-messageport');
  if (pipe !== undefined && naive !== undefined) {
    pipe.ratio_to_naive = sig(pipe.median / naive.median);
    pipe.ratio_to_naive_per_round = perRound(pipe, naive);
    pipe.target_ratio_to_naive = `>= ${PIPELINE_OVER_NAIVE}`;
    pipe.target_ratio_to_naive_met = pipe.median / naive.median >= PIPELINE_OVER_NAIVE;
  }
  const small = byName.get('pipeline-slot-rings');
  if (small !== undefined && naive !== undefined) {
    small.ratio_to_naive = sig(small.median / naive.median);
    small.ratio_to_naive_per_round = perRound(small, naive);
  }
  const pinned = byName.get('pipeline-shard-cpu');
  if (pinned !== undefined && naive !== undefined) {
    pinned.ratio_to_naive = sig(pinned.median / naive.median);
    pinned.ratio_to_naive_per_round = perRound(pinned, naive);
    pinned.target_ratio_to_naive = `>= ${PIPELINE_OVER_NAIVE}`;
    pinned.target_ratio_to_naive_met = pinned.median / naive.median >= PIPELINE_OVER_NAIVE;
  }
  const rtt = byName.get('rtt-p50-us');
  const pingpong = byName.get('c-anchor-pingpong-p50-us');
  if (rtt !== undefined && pingpong !== undefined) {
    rtt.ratio_to_c_pingpong = sig(rtt.median / pingpong.median);
    rtt.ratio_to_c_pingpong_per_round = perRound(rtt, pingpong);
    rtt.target_ratio_to_c_pingpong = `<= ${RTT_OVER_C_PINGPONG}`;
    rtt.target_ratio_to_c_pingpong_met = rtt.median / pingpong.median <= RTT_OVER_C_PINGPONG;
  }
  // vmamp: Node ↔ C and C → router → echo next to C ↔ C on the same kind of window, same process.
  for (const kind of ['poll', 'doorbell']) {
    const cc = byName.get(`vmamp-c-c-${kind}`);
    for (const pair of ['node-c', 'c-router']) {
      const r = byName.get(`vmamp-${pair}-${kind}`);
      if (r === undefined || cc === undefined) continue;
      r.ratio_to_c_c = sig(r.median / cc.median);
      r.ratio_to_c_c_per_round = perRound(r, cc);
    }
  }
  // vmamp-driver, relay: the ratio of each process's back-to-back pairs, not of medians over processes.
  for (const n of [...VMAMP_DRIVER_CASES, ...VMAMP_DRIVER_PROFILE_CASES, ...RELAY_CASES]) {
    const r = byName.get(n);
    const ratio = byName.get(`${n}-ratio`);
    if (r === undefined || ratio === undefined || ratio.runs === 0) continue;
    r.ratio_to_c = ratio.median;
    r.ratio_to_c_per_round = ratio.values;
  }
  // The gateway hop one request at a time against a C TCP ping-pong of the same frames: how many
  // times slower (C rate / ours), target <= TCP_HOP_SLOWDOWN.
  const hop = byName.get('stream-tcp-d1-k1');
  const tcp = byName.get('c-anchor-tcppingpong');
  if (hop !== undefined && tcp !== undefined && hop.median > 0) {
    hop.slowdown_vs_c_tcp = sig(tcp.median / hop.median);
    hop.slowdown_vs_c_tcp_per_round = perRound(tcp, hop);
    hop.target_slowdown_vs_c_tcp = `<= ${TCP_HOP_SLOWDOWN}`;
    hop.target_slowdown_vs_c_tcp_met = tcp.median / hop.median <= TCP_HOP_SLOWDOWN;
  }
  for (const [name, t] of Object.entries(TARGETS)) {
    const r = byName.get(name);
    if (r === undefined) continue;
    const v = t.of === undefined ? r.median : (r[t.of] as number | undefined);
    r.target = `${t.of ?? 'median'} ${t.op} ${t.value}`;
    r.target_met = v === undefined ? null : t.op === '>=' ? v >= t.value : v <= t.value;
  }
}

/** The command line, or the exit status when there is nothing to run (--help: 0; a mistake: 2). */
function commandLine(): { args: RunArgs; ids: string[] } | number {
  // `npm run bench --quick` (no `--`): npm keeps the option as its own config and runs us
  // without it, which would start the full run.
  const eaten = ['quick', 'runs', 'out'].filter((k) => process.env.npm_lifecycle_event === 'bench' && process.env[`npm_config_${k}`] !== undefined);
  if (eaten.length > 0) {
    process.stderr.write(`bench: npm took --${eaten[0]} as its own option; put -- before the runner's options: npm run bench -- --${eaten[0]}\n`);
    return 2;
  }
  // `npm run bench --only a` (no `--`) leaves no trace at all: npm takes --only as its own
  // config key and keeps it out of the environment. A run from npm without arguments is said
  // out loud before it starts, so such a mistake costs a glance, not the whole run.
  if (process.env.npm_lifecycle_event === 'bench' && process.argv.length <= 2) {
    process.stderr.write(`bench: full run: ${cases(null).length} cases, about ${FULL_RUN_MINUTES} minutes; for some cases: npm run -s bench -- --only a,b\n`);
  }
  let args: RunArgs;
  try {
    args = parseRunArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof RunArgsError)) throw e;
    process.stderr.write(`bench: ${e.message} (see: npm run bench -- --help)\n`);
    return 2;
  }
  const ids = cases(null).map((c) => c.id);
  if (args.help) {
    process.stdout.write(`${RUN_USAGE}\nCase ids: ${ids.join(', ')}\n`);
    return 0;
  }
  const unknown = args.only?.filter((id) => !ids.includes(id)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`bench: --only: unknown case${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${ids.join(', ')}\n`);
    return 2;
  }
  // Checked now, not after the run: a mistyped directory must not cost the whole run's results.
  if (args.out !== undefined && statSync(dirname(resolve(args.out)), { throwIfNoEntry: false })?.isDirectory() !== true) {
    process.stderr.write(`bench: --out ${args.out}: directory ${dirname(resolve(args.out))} does not exist\n`);
    return 2;
  }
  return { args, ids };
}

async function main(): Promise<number> {
  const cl = commandLine();
  if (typeof cl === 'number') return cl;
  const { quick } = cl.args;
  const runs = cl.args.runs ?? (quick ? 3 : 5);
  const only = cl.args.only === null ? null : new Set(cl.args.only);
  const tmp = mkdtempSync(join(tmpdir(), 'vmsg-bench-'));
  // The cases make their own temporary directories and sockets in here.
  const caseTmp = join(tmp, 'cases');
  mkdirSync(caseTmp);
  // Their window files go to a directory of ours under /dev/shm (bench/shm-dir.ts): removed
  // below however the run ends, also what a killed case or its peers left there.
  const shm = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmp, 'vmsg-bench-run-'));
  const env = { ...process.env, TMPDIR: caseTmp, [BENCH_SHM_ENV]: shm };
  // Ctrl-C, SIGTERM or SIGHUP (the terminal went away): end the running case's process group
  // (its own: the terminal's Ctrl-C reaches only us), then remove everything below `tmp` and exit 128 + the
  // signal's number, printing no results.
  let stopped: NodeJS.Signals | null = null;
  const onSignal = (s: NodeJS.Signals): void => {
    if (stopped !== null) return;
    stopped = s;
    log(`stopping (${s}): ending the running case and what it started, removing ${tmp} and ${shm}`);
    const child = running;
    if (child !== null) {
      signalCase(child, s);
      setTimeout(() => signalCase(child, 'SIGKILL'), 5000).unref();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const notes: string[] = [];
  const started = performance.now();
  const host = machine(quick, runs);
  try {
    const built = buildAnchor(tmp);
    if ('skipped' in built) notes.push(`C anchor rows skipped: ${built.skipped}`);
    else log(`C anchor built from ${anchorSourceDir()}`);
    const selected = cases('bin' in built ? built.bin : null).filter((c) => only === null || only.has(c.id));
    const values = new Map<string, number[]>();
    const other = new Map<string, number[]>();
    const errors = new Map<string, string[]>();
    const info = new Map<string, unknown[]>();
    for (let round = 1; round <= runs && stopped === null; round++) {
      for (const c of selected) {
        if (stopped !== null) break;
        const cmd = c.command(quick);
        if (cmd === null) continue;
        log(`round ${round}/${runs}: ${c.id}`);
        const r = await runOnce(cmd, Object.keys(c.metrics)[0]!, env);
        if (stopped !== null) break;
        other.set(c.id, [...(other.get(c.id) ?? []), r.otherCpuPct]);
        if (r.report === null) {
          log(`${c.id} failed: ${r.error}`);
          errors.set(c.id, [...(errors.get(c.id) ?? []), r.error ?? 'unknown']);
          continue;
        }
        for (const [m, v] of Object.entries(r.report.samples)) values.set(m, [...(values.get(m) ?? []), v]);
        if (r.report.info !== undefined) info.set(c.id, [...(info.get(c.id) ?? []), r.report.info]);
      }
    }
    if (stopped !== null) return 128 + osConstants.signals[stopped as NodeJS.Signals];
    const results: Result[] = [];
    for (const c of selected) {
      for (const [m, unit] of Object.entries(c.metrics)) {
        const v = values.get(m);
        const extra: Record<string, unknown> = {};
        const noise = other.get(c.id)?.filter(Number.isFinite);
        if (noise !== undefined && noise.length > 0) extra.other_cpu_pct = noise;
        if (errors.has(c.id)) extra.errors = errors.get(c.id);
        if (m === Object.keys(c.metrics)[0] && info.has(c.id)) extra.info = info.get(c.id);
        if (v === undefined || v.length === 0) {
          if (c.command(quick) === null) continue; // C rows without a compiler: see notes
          results.push({ name: m, unit, median: NaN, min: NaN, max: NaN, runs: 0, spread_pct: NaN, values: [], ...extra });
        } else {
          results.push(summarize(m, unit, v, extra));
        }
      }
    }
    applyTargets(results);
    const doc = {
      machine: { ...host, loadavg_end: loadavg().map(sig), duration_s: sig((performance.now() - started) / 1000) },
      notes,
      results,
    };
    const json = JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
    process.stdout.write(json);
    if (cl.args.out !== undefined) writeFileSync(cl.args.out, json);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
  }
}

process.exitCode = await main();
