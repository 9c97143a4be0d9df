// `vmsg stress`: the tiny-queue profile of real AMP hardware (docs/BUSES.md §2.2, 496 B). A vmamp-style window
// of --window bytes holds N = floor((window − 80) / 128) slots of 64 bytes per direction (496 B →
// 3 slots, 2 frames in flight), so the router runs with ring capacity N and 64-byte links, between a
// block device (DMA inline or offloaded to a pool) and a driver doing self-checking block I/O, each
// in its own worker. Notifications go in-band (EVENT_AVAIL / EVENT_USED frames through those tiny
// rings) or out of band (shared-memory doorbells). Reports throughput, queue-full events, stall
// time, request latency percentiles, and the frame accounting that shows no message was lost.
// With --model NAME[,NAME...] the block device sits behind a modelled bus instead
// (src/bus/model/: the model's slots, frame size, window, tokens, full-queue policy and
// notification cost) and the same workload runs once per model (and per --dma mode), ending in
// one comparison table (src/cli/stress-models.ts), --json, and --report out.html.
import { Worker } from 'node:worker_threads';
import { mkdtempSync, openSync, ftruncateSync, closeSync, rmSync } from 'node:fs';
import { onStopSignal } from './stop-signals.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, optionsHelp, UsageError, type Parsed } from './args.js';
import { EXIT_USAGE, usageLine } from './exit.js';
import { Router } from '../router/router.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import { GuestMemory } from '../virtqueue/guest-memory.js';
import { spawnDeviceWorker } from '../device/spawn.js';
import { DW_FRAMES_IN, DW_FRAMES_OUT } from '../device/device-worker.js';
import { DMA_MODES, type DmaMode } from '../device/dma.js';
import { initOobDoorbells, OOB_ALIGN, OOB_AREA_BYTES } from '../endpoint/oob-doorbell.js';
import { vmampElementCount, VMAMP_ELEMENT_SIZE, VMAMP_ELEMENTS_AT } from '../ring/vmamp.js';
import { BUILTIN_MODELS } from '../model/bus-model.js';
import { parseModelList, runModels } from './stress-models.js';
import { ModelLink } from '../bus/model/model-link.js';
import type { BusModel } from '../model/bus-model.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import {
  STRESS_CLOSE, STRESS_FRAMES_IN, STRESS_FRAMES_OUT, STRESS_STOP, type StressWorkerReport,
} from './workers/stress-worker.js';

/** Smallest window with the 3 slots a router ring needs. */
const MIN_WINDOW = VMAMP_ELEMENTS_AT + 3 * 2 * VMAMP_ELEMENT_SIZE;
import { NOTIFY_MODES, type NotifyMode } from './stress-options.js';

const FLAGS = {
  window: { kind: 'integer', value: 'BYTES', min: MIN_WINDOW, max: 1 << 24, help: 'vmamp window size; slots per direction = floor((BYTES - 80) / 128) (default 496: 3 slots)' },
  dma: { kind: 'string', value: 'inline|offload[,...]', help: 'block buffer processing in the device loop or in a piscina pool (default inline); with --model a list runs each' },
  notify: { kind: 'choice', choices: NOTIFY_MODES, help: 'EVENT_AVAIL/EVENT_USED as frames or as shared-memory doorbells (default inband)' },
  duration: { kind: 'integer', value: 'S', min: 1, max: 86400, help: 'seconds of block I/O after initialisation (default 5)' },
  suppression: { kind: 'choice', choices: ['off', 'on'], help: 'virtqueue notification suppression; off = a notification per request each way, the most frames (default off)' },
  'in-flight': { kind: 'integer', value: 'N', min: 1, max: 64, help: 'block requests outstanding (default 8)' },
  chunk: { kind: 'integer', value: 'BYTES', min: 512, max: 1 << 20, help: 'bytes per block request, a multiple of 512 (default 4096)' },
  spin: { kind: 'integer', value: 'N', min: 0, max: 1 << 20, help: 'polls before an idle thread (router shard, driver, device) sleeps on its doorbell (default 200)' },
  model: { kind: 'string', value: 'NAME|FILE[,...]', help: `the block device behind a modelled bus instead of the --window geometry; several: one run each, one comparison table (built-in: ${BUILTIN_MODELS.join(', ')})` },
  report: { kind: 'string', value: 'FILE.html', help: 'with --model: also write an HTML report, one series per run' },
  json: { kind: 'boolean', help: 'print one JSON object instead of the table' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

type StressFlags = Parsed<typeof FLAGS>;

const USAGE = `usage: vmsg stress [--window 496 | --model NAME[,NAME...]] [--dma inline|offload[,...]] [--notify inband|oob] [--duration S] [--suppression off|on] [--in-flight N] [--chunk BYTES] [--spin N] [--json] [--report FILE.html]

Driver + router + block device with the queue geometry of a small vmamp window: every link
carries 64-byte frames in a ring of floor((window - 80) / 128) slots, so 2 frames are in flight
per direction at 496 bytes and TX queues fill. Reports throughput, queue-full events, stall time,
latency percentiles and the frame accounting (no message lost). Exit status 1 when anything was
lost, mismatched or failed.

With --model the device link is a modelled bus (docs/BUSES.md §6, models/*.json or a model
file): its slots, largest frame, requests in flight, tokens, full-queue policy with the
sender's timings, and notification cost (a delay). Each model (x each --dma mode) runs the same
workload; one table compares them. Exit status 1 when a run lost, mismatched or failed anything.

options:
${optionsHelp(FLAGS)}

example:
  vmsg stress --window 496 --dma offload --notify oob --duration 5
`;

export type { StressOptions } from './stress-options.js';
import type { StressOptions } from './stress-options.js';

const BLOCK_DEV = 1;
const DISK_BYTES = 64 << 20;
const REGION_BYTES = 16 << 20;
const QUEUE_SIZE = 128;
const GUEST_MEMORY_BYTES = 16 << 20;
const GUEST_BASE = 0x1_0000_0000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One run; `stopped` (the user's Ctrl-C or SIGTERM) ends its measured time early. */
export async function runStress(o: StressOptions, stopped: () => boolean = () => false): Promise<Record<string, unknown>> {
  const module = wasmModule();
  // Slots of the window, as the vmamp layout code computes them.
  const slots = vmampElementCount(o.window);
  const model = o.model;
  // One frame per slot: the queue geometry of the window, not a packed ring with more room. A
  // modelled bus brings its own geometry on the device link; the router's rings keep their defaults.
  const router = await Router.create(model === undefined
    ? { shards: 1, ringCapacity: slots, packedRings: false, ringBatch: 1, timeoutMs: 5000, memoryBytes: 64 << 20, spinBeforeSleep: o.spin }
    : { shards: 1, timeoutMs: 5000, memoryBytes: 64 << 20, spinBeforeSleep: o.spin });
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-stress-'));
  /** Ends whatever worker is still running when the run fails half-way. */
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const disk = join(dir, 'disk.img');
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, DISK_BYTES);
    closeSync(fd);
    const memory = new GuestMemory({ buffer: new SharedArrayBuffer(GUEST_MEMORY_BYTES), offset: 0, length: GUEST_MEMORY_BYTES, base: GUEST_BASE });
    let modelLink: ModelLink | undefined;
    let deviceLink: LinkDescriptor;
    if (model === undefined) deviceLink = await router.attachDevice({ devices: [BLOCK_DEV], maxMessageSize: VMAMP_ELEMENT_SIZE });
    else {
      const m = await ModelLink.attachDevice(router, { devices: [BLOCK_DEV], model });
      modelLink = m;
      cleanups.push(() => m.close());
      deviceLink = m.link;
    }
    // The driver knows the bus's largest frame (it sizes GET_CONFIG pieces by it).
    const driverLink = await router.attachDriver({ maxMessageSize: deviceLink.maxMessageSize });
    let oob: number | undefined;
    if (o.notify === 'oob') {
      oob = router.mem.alloc(OOB_AREA_BYTES, OOB_ALIGN);
      initOobDoorbells(router.mem.buffer, oob, 1, deviceLink.bell, driverLink.bell);
    }
    const device = spawnDeviceWorker({
      link: deviceLink, module, memory: memory.describe(),
      devices: [{ dev: BLOCK_DEV, kind: 'block', block: { path: disk, queueMaxSize: QUEUE_SIZE, interruptEveryBuffer: !o.suppression }, dma: { mode: o.dma }, oob }],
      spinBeforeSleep: o.spin,
    });
    cleanups.push(() => device.stop());
    const control = new Int32Array(new SharedArrayBuffer(8));
    const live = new Float64Array(new SharedArrayBuffer(16));
    const worker = new Worker(compiledModule('cli/workers/stress-worker.js'), {
      workerData: {
        link: driverLink, module, memory: memory.describe(), dev: BLOCK_DEV, oob, queueSize: QUEUE_SIZE,
        chunkBytes: o.chunkBytes, inFlight: o.inFlight, regionBytes: REGION_BYTES, notifyEveryBuffer: !o.suppression, spinBeforeSleep: o.spin, control: control.buffer, counters: live.buffer,
      },
    });
    cleanups.push(() => worker.terminate());
    let started = (): void => undefined;
    const measuring = new Promise<void>((resolve) => { started = resolve; });
    const drained = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'started') started();
        if (m.type === 'drained') resolve();
        if (m.type === 'error') reject(new Error(`stress driver: ${m.message}`));
      });
      worker.once('error', reject);
    });
    drained.catch(() => undefined);
    const report = new Promise<StressWorkerReport>((resolve, reject) => {
      worker.on('message', (m: StressWorkerReport | { type: string }) => {
        if (m.type === 'report') resolve(m as StressWorkerReport);
      });
      worker.once('exit', (code) => reject(new Error(`stress driver exited (code ${code}) before reporting`)));
    });
    report.catch(() => undefined);

    // The duration counts from the first measured request (initialisation and warm-up excluded).
    await Promise.race([measuring, drained]);
    const t0 = performance.now();
    while (!stopped() && performance.now() - t0 < o.durationS * 1000) await sleep(50);
    Atomics.store(control, STRESS_STOP, 1);
    await drained;
    // Settle: every frame either side sent has been taken by the router and every frame the
    // router wrote has been read (late EVENT_USED included) before the books are closed.
    const ep = (id: number) => router.stats().endpoints.find((e) => e.id === id)!;
    const routerDevId = modelLink?.routerLink.id ?? deviceLink.id;
    const settled = (): boolean => {
      const drv = ep(driverLink.id), dev = ep(routerDevId);
      if (drv.rx !== live[STRESS_FRAMES_OUT] || drv.tx !== live[STRESS_FRAMES_IN]) return false;
      if (modelLink === undefined) return dev.rx === device.counters[DW_FRAMES_OUT] && dev.tx === device.counters[DW_FRAMES_IN];
      const m = modelLink.counters();
      return m.pending === 0 && dev.tx === m.takenFromFar && dev.rx === m.deliveredToFar &&
        device.counters[DW_FRAMES_IN] === m.deliveredToNear && device.counters[DW_FRAMES_OUT] === m.takenFromNear;
    };
    // A modelled bus may still be working through frames its sender queued at the model's pace
    // (e.g. 10 ms retries): wait while anything moves, give up after 3 s without movement.
    const movement = (): number => {
      const e = router.stats().endpoints;
      return e.reduce((t, x) => t + x.rx + x.tx, 0) + device.counters[DW_FRAMES_IN]! + device.counters[DW_FRAMES_OUT]!;
    };
    for (let last = movement(), quietSince = Date.now(); !settled() && Date.now() - quietSince < 3000; ) {
      await sleep(20);
      const now = movement();
      if (now !== last) { last = now; quietSince = Date.now(); }
    }
    Atomics.store(control, STRESS_CLOSE, 1);
    const drv = await report;
    cleanups.length = 0;
    await worker.terminate();
    const dev = await device.stop();
    const st = router.stats();
    const rDrv = ep(driverLink.id), rDev = ep(routerDevId);
    const bus = modelLink?.counters();
    await modelLink?.close();
    const devStats = st.devices.find((x) => x.dev === BLOCK_DEV);
    const seconds = drv.workloadMs / 1000;
    const b = drv.block;
    const requests = b.reads + b.writes;
    const accounting: Record<string, number> = {
      driver_sent: drv.driver.framesOut, router_took_from_driver: rDrv.rx,
      router_gave_device: rDev.tx, device_received: dev.host.framesIn,
      device_sent: dev.host.framesOut, router_took_from_device: rDev.rx,
      router_gave_driver: rDrv.tx, driver_received: drv.driver.framesIn,
    };
    let lost = (accounting.driver_sent! - accounting.router_took_from_driver!) + (accounting.router_gave_driver! - accounting.driver_received!) + st.totals.dropped;
    if (bus === undefined) {
      lost += (accounting.router_gave_device! - accounting.device_received!) + (accounting.device_sent! - accounting.router_took_from_device!);
    } else {
      // Through the model: what it took must be what it handed on, plus what the bus's own rules dropped (reported apart).
      Object.assign(accounting, {
        bus_took_from_router: bus.takenFromFar, bus_gave_device: bus.deliveredToNear,
        bus_took_from_device: bus.takenFromNear, bus_gave_router: bus.deliveredToFar,
      });
      lost += (accounting.router_gave_device! - bus.takenFromFar) + (bus.deliveredToNear - accounting.device_received!) +
        (accounting.device_sent! - bus.takenFromNear) + (bus.deliveredToFar - accounting.router_took_from_device!);
    }
    const busDropped = bus === undefined ? 0 : (bus.takenFromFar - bus.deliveredToNear) + (bus.takenFromNear + bus.reported - bus.deliveredToFar);
    return {
      ...(model === undefined
        ? { window: o.window, slots_per_direction: slots, in_flight_per_direction: slots - 1, max_message_size: VMAMP_ELEMENT_SIZE }
        : {
          model: model.name, model_source: model.source, slots_per_direction: model.slots, in_flight_per_direction: model.slots,
          max_message_size: deviceLink.maxMessageSize, outstanding: `${model.outstanding.limit} per ${model.outstanding.scope}`,
        }),
      dma: o.dma,
      notify: o.notify,
      suppression: o.suppression ? 'on' : 'off',
      spin: o.spin,
      seconds: Number(seconds.toFixed(3)),
      block: {
        requests, reads: b.reads, writes: b.writes, bytes: b.bytesRead + b.bytesWritten,
        requests_per_s: Math.round(requests / seconds),
        mib_per_s: Number(((b.bytesRead + b.bytesWritten) / seconds / (1 << 20)).toFixed(2)),
        verified_bytes: b.verifiedBytes, mismatches: b.mismatches, errors: b.errors, last_error: drv.lastError ?? null,
        chunk_bytes: o.chunkBytes, in_flight: o.inFlight,
      },
      latency_us: drv.latencyUs,
      latency_curve_us: drv.latencyCurve,
      messages: {
        routed: st.shards.reduce((t, s) => t + s.frames, 0),
        per_s: Math.round(st.shards.reduce((t, s) => t + s.frames, 0) / seconds),
        // EVENT_AVAIL/EVENT_USED merged into one still queued for the same virtqueue: at the
        // sender's outbox while its ring was full, or in the router behind a busy device.
        merged_at_driver: drv.driver.merged,
        merged_at_device: dev.host.merged,
        merged_in_router: devStats?.coalesced ?? 0,
        oob_avail_signals: dev.host.oobAvail,
        oob_used_signals: drv.driver.oobUsed,
        used_found_by_poll: drv.driver.polledUsed,
      },
      queue_full: {
        driver: drv.driver.queueFull, device: dev.host.queueFull, router: rDrv.stalls + rDev.stalls, bus: bus?.queueFull ?? 0,
        total: drv.driver.queueFull + dev.host.queueFull + rDrv.stalls + rDev.stalls + (bus?.queueFull ?? 0),
      },
      stall_ms: {
        driver: Number(drv.driver.stallMs.toFixed(1)), device: Number(dev.host.stallMs.toFixed(1)), bus: Number(((bus?.stallUs ?? 0) / 1000).toFixed(1)),
        total: Number((drv.driver.stallMs + dev.host.stallMs + (bus?.stallUs ?? 0) / 1000).toFixed(1)),
      },
      ...(bus === undefined ? {} : {
        bus: {
          requests: bus.requests, responses: bus.responses, events: bus.events, notifications: bus.notifications,
          window_held: bus.windowHeld, window_wait_ms: Number((bus.windowWaitUs / 1000).toFixed(1)), in_flight_max: bus.inFlightMax,
          retries: bus.retries, send_failures: bus.sendFailures, timeouts: bus.timeouts, too_large: bus.tooLarge,
          unknown_token: bus.unknownToken, late_responses: bus.lateResponses, tokens_rewritten: bus.tokensRewritten, dropped: busDropped,
        },
      }),
      accounting,
      messages_lost: lost,
      failures: st.totals.failures,
      drops_by_reason: st.totals.dropsByReason,
      device_drops: dev.host.drops,
      dma_jobs: dev.devices[0]!.dma,
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await router.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--dma inline,offload`: each mode once, in order. */
function dmaModes(text: string | undefined): DmaMode[] {
  const list = (text ?? 'inline').split(',');
  for (const d of list) {
    if (!(DMA_MODES as readonly string[]).includes(d)) throw new UsageError(`--dma must be ${DMA_MODES.join(' or ')} (or a list of them), got "${d}"`);
  }
  if (new Set(list).size !== list.length) throw new UsageError(`--dma names a mode twice: "${text}"`);
  return list as DmaMode[];
}

function optionsOf(flags: StressFlags, dma: DmaMode): StressOptions {
  const chunk = flags.chunk ?? 4096;
  if (chunk % 512 !== 0) throw new UsageError(`--chunk must be a multiple of 512, got ${chunk}`);
  return {
    window: flags.window ?? 496,
    dma,
    notify: flags.notify ?? 'inband',
    durationS: flags.duration ?? 5,
    suppression: flags.suppression === 'on',
    inFlight: flags['in-flight'] ?? 8,
    chunkBytes: chunk,
    spin: flags.spin ?? 200,
  };
}

export async function run(argv: string[]): Promise<number> {
  let o: StressOptions;
  let json: boolean;
  let dmas: DmaMode[];
  let models: BusModel[] = [];
  let report: string | undefined;
  try {
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (flags.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    dmas = dmaModes(flags.dma);
    o = optionsOf(flags, dmas[0]!);
    json = flags.json;
    report = flags.report;
    if (flags.model !== undefined) {
      if (flags.window !== undefined) throw new UsageError('--window and --model exclude each other (a model brings its own slots)');
      models = parseModelList(flags.model);
    } else {
      if (dmas.length > 1) throw new UsageError('a list of --dma modes needs --model (one comparison table)');
      if (report !== undefined) throw new UsageError('--report needs --model');
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(usageLine('stress', e.message));
    return EXIT_USAGE;
  }
  // From here on a stop signal ends the run with its report, and the temporary disk is removed.
  let stopRequested = false;
  const stopped = (): boolean => stopRequested;
  const stopListening = onStopSignal(() => { stopRequested = true; });
  try {
    if (models.length > 0) return await runModels({ run: (m) => runStress(m, stopped), passed: stressPassed, stopped }, models, dmas, o, { json, report });
    if (!json) process.stdout.write(`vmsg stress: window ${o.window} B, dma ${o.dma}, notify ${o.notify}, ${o.durationS} s (Ctrl-C stops)\n`);
    const r = await runStress(o, stopped);
    if (json) process.stdout.write(JSON.stringify(r) + '\n');
    else {
      for (const [k, v] of Object.entries(r)) process.stdout.write(`  ${k.padEnd(24)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}\n`);
    }
    return stressPassed(r) ? 0 : 1;
  } finally {
    stopListening();
  }
}

/** Nothing lost, mismatched or failed. */
export function stressPassed(r: Record<string, unknown>): boolean {
  const block = r.block as { mismatches: number; errors: number };
  return r.messages_lost === 0 && block.mismatches === 0 && block.errors === 0 && r.failures === 0;
}
