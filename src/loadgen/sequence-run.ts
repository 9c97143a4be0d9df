// The profile load tool's run on a shared-memory ring pair, with the per-frame work in WASM
// (assembly/loadgen/sequence.ts, memory from ./sequence-setup.ts). This side calls the engine
// in passes and between calls only: rings the doorbell socket or sleeps (on it, on the
// channel, or yielding the CPU), turns the engine's event log into the result's events with
// the same wording as the JavaScript engine, closes timeline intervals, reports progress and
// passes an abort on. At the end the engine's histograms and counters become the run's metrics
// (HdrHistograms, so the result document is the same).
import type { Histogram } from 'hdr-histogram-js';
import type { FrameChannel } from '../bus/bus-link.js';
import type { ChannelRings } from '../bus/shm-channel.js';
import { tryBellAddon, type BellAddon } from '../native/bell.js';
import { reasonName } from '../protocol/reasons.js';
import { instantiate, type WasmExports } from '../wasm/module.js';
import { engineLayout } from './engine-layout.js';
import { bucketValue, histogramCounts, histogramPercentile } from './engine-histogram.js';
import type { InFlight } from './in-flight.js';
import { newHistogram } from './latency.js';
import type { LoadMetrics } from './load-metrics.js';
import type { LoadOptions, LoadPlan, LoadProgress } from './load-options.js';
import { OP_NAMES } from './profiles.js';
import type { LoadCounters } from './result.js';
import { deviceCycle, setupSequenceMemory, type SequenceMemory } from './sequence-setup.js';
import { SPIN_BEFORE_DUE_MS } from './send-schedule.js';

/** Passes per engine call: calls return often enough for intervals and progress (well under 1 ms). */
const PASS_BUDGET = 256;
/** How long the engine keeps the thread before the event loop runs once. */
const SLICE_MS = 20;
/** Doorbell sleeps are bounded: a full ring is not rung when room appears. */
const BELL_TIMEOUT_MS = 2;
/** Empty passes before the engine reports idle: busy-poll (then a sched_yield), doorbell (sleep at once). */
const BUSY_POLL_SPINS = 8192;
const DOORBELL_SPINS = 0;
/**
 * In-process links: the peer wakes the channel's wait() (src/bus/inproc-channel.ts), so the
 * engine spins only as long as the channel would (about 25 µs) and leaves the cores to the
 * router and the devices, which share them.
 */
const PEER_WAKES_SPINS = 256;
/** Closed loop: the longest sleep, so timeouts are looked for on time. */
const IDLE_MS = 5;

/** The result's counters, in the engine's order (assembly/loadgen/sequence-layout.ts LGC_*). */
const COUNTER_NAMES: readonly (keyof LoadCounters)[] = [
  'generation_changes', 'set_config_rejected', 'features_refused', 'sequences_completed', 'events_used', 'extra_events',
  'config_events', 'device_events', 'pings_answered', 'window_full', 'other_frames',
];

/** A channel that can hand its rings to the engine (shared-memory windows, in-process links). */
interface RingChannel extends FrameChannel {
  rings(): ChannelRings | null;
}

const hasRings = (c: FrameChannel): c is RingChannel => typeof (c as Partial<RingChannel>).rings === 'function';

const instances = new WeakMap<WebAssembly.Memory, WasmExports>();

function wasmFor(memory: WebAssembly.Memory): WasmExports {
  let w = instances.get(memory);
  if (w === undefined) instances.set(memory, (w = instantiate(memory)));
  return w;
}

export interface SequenceRunFacts {
  channel: FrameChannel;
  plan: LoadPlan;
  opts: LoadOptions;
  flight: InFlight;
  metrics: LoadMetrics;
}

export class SequenceRun {
  private readonly L = engineLayout();
  private readonly dv: DataView;
  private readonly st: number;

  private constructor(
    private readonly f: SequenceRunFacts, private readonly rings: ChannelRings, private readonly m: SequenceMemory,
    private readonly wasm: WasmExports, private readonly bell: BellAddon | null,
  ) {
    this.dv = rings.mem.dv;
    this.st = m.st;
  }

  /**
   * The WASM engine for this load, or undefined when it cannot take it (the channel has no
   * rings, a doorbell socket without the bell addon, a mix too long to cycle, no room in the
   * channel's memory): the JavaScript engine runs it then. Call after the probe.
   */
  static create(f: SequenceRunFacts): SequenceRun | undefined {
    const { channel, plan, flight } = f;
    if (f.opts.engine === 'js' || !hasRings(channel)) return undefined;
    const cycles = flight.devices.map((o) => deviceCycle(o, plan.profile));
    if (cycles.some((c) => c === undefined)) return undefined;
    const rings = channel.rings();
    if (rings === null) return undefined;
    const bell = tryBellAddon();
    if (rings.doorbell() !== null && bell === null) return undefined;
    const m = setupSequenceMemory(rings.mem, flight.devices, cycles as NonNullable<(typeof cycles)[number]>[], plan.profile, {
      outstanding: plan.outstanding, queues: plan.profile.queues ?? plan.outstanding, maxMessageSize: channel.maxMessageSize,
    });
    if (m === undefined) return undefined;
    const L = engineLayout();
    rings.mem.dv.setUint32(m.st + L.LGS_TX, rings.txCursor, true);
    rings.mem.dv.setUint32(m.st + L.LGS_RX, rings.rxCursor, true);
    return new SequenceRun(f, rings, m, wasmFor(rings.mem.memory), bell);
  }

  private f64(off: number): number { return this.dv.getFloat64(this.st + off, true); }
  private setF64(off: number, v: number): void { this.dv.setFloat64(this.st + off, v, true); }
  private u32(off: number): number { return this.dv.getUint32(this.st + off, true); }
  private setU32(off: number, v: number): void { this.dv.setUint32(this.st + off, v, true); }
  /** A u64 counter as a number, without a BigInt (this runs after every engine call). */
  private num(off: number): number { return this.dv.getUint32(this.st + off, true) + this.dv.getUint32(this.st + off + 4, true) * 2 ** 32; }

  /** Whether operations are still to be sent at `now` (src/loadgen/send-schedule.ts `sending`). */
  private sending(now: number): boolean {
    const L = this.L;
    if (this.u32(L.LGS_STOP) !== 0) return false;
    const at = this.u32(L.LGS_OPEN) !== 0 ? this.f64(L.LGS_NEXT_DUE) : now;
    if (at < this.f64(L.LGS_MEASURE_AT)) return true;
    return this.num(L.LGS_MEASURED_ISSUED) < this.num(L.LGS_COUNT) && at < this.f64(L.LGS_STOP_AT);
  }

  /** Run the load from `loadStart` (metrics.measureStart set); progress as the JavaScript engine reports it. */
  async run(loadStart: number): Promise<void> {
    const { L, wasm, bell, rings } = this;
    const { plan, opts, metrics: met, channel } = this.f;
    const measureStart = met.measureStart;
    const open = plan.loop === 'open';
    this.setF64(L.LGS_MEASURE_AT, measureStart);
    this.setF64(L.LGS_STOP_AT, plan.durationS !== undefined ? measureStart + plan.durationS * 1000 : Infinity);
    // No count: all ones (2^64 − 1, above any count; read back as a number it is 2^64).
    this.dv.setBigUint64(this.st + L.LGS_COUNT, opts.count !== undefined ? BigInt(opts.count) : 0xffff_ffff_ffff_ffffn, true);
    this.setU32(L.LGS_OPEN, open ? 1 : 0);
    this.setF64(L.LGS_PERIOD, open ? 1000 / opts.rate! : 0);
    this.setF64(L.LGS_NEXT_DUE, loadStart);
    this.setF64(L.LGS_TIMEOUT_MS, plan.timeoutMs);
    this.setF64(L.LGS_STALL_MS, plan.stallMs);
    this.setF64(L.LGS_LAST_COMPLETION, loadStart);
    this.setF64(L.LGS_LAST_EXPIRE, loadStart);
    this.setF64(L.LGS_LAST, loadStart);
    // The devices' operations in flight are the engine's from here on (the probe left none).
    const baseCompleted = met.completed;
    let nextInterval = measureStart + plan.intervalMs;
    let nextProgress = opts.onProgress !== undefined ? loadStart + plan.progressEveryMs : Infinity;
    let lastProgressOps = 0, lastProgressAt = loadStart;
    let done = false;
    try {
      while (!done) {
        // The doorbell socket may have connected since the last slice: from now on, sleep on it.
        const socket = rings.doorbell();
        const fd = socket !== null && !socket.isEnded ? socket.fd : -1;
        if (fd >= 0) socket!.hold(true);
        this.setU32(L.LGS_FLAGS, fd >= 0 ? L.LGF_RETURN_ON_SEND : 0);
        this.setU32(L.LGS_SPINS, fd >= 0 ? DOORBELL_SPINS : rings.peerWakes === true ? PEER_WAKES_SPINS : BUSY_POLL_SPINS);
        if (fd >= 0) bell!.ring(fd); // we may have published while it could not ring
        const sliceEnd = performance.now() + SLICE_MS;
        let asyncWaitMs = 0;
        let peerGone = false;
        for (;;) {
          if (opts.signal?.aborted === true) this.setU32(L.LGS_STOP, 1);
          const r = wasm.lgSeqRun(this.st, PASS_BUDGET, this.m.scratch);
          if (this.u32(L.LGS_LOG_N) !== 0) this.readLog();
          const now = performance.now();
          if (r === L.LG_DONE) done = true;
          else if (r === L.LG_SENT_NOW) {
            if (bell!.ring(fd) < 0) peerGone = true;
          } else if (r === L.LG_IDLE) {
            // Open loop: sleep until just before the next operation is due, then poll.
            const ms = open && this.sending(now) ? Math.min(IDLE_MS, this.f64(L.LGS_NEXT_DUE) - now - SPIN_BEFORE_DUE_MS / 2) : IDLE_MS;
            if (fd >= 0) {
              if (ms > 0 && bell!.wait(fd, Math.min(BELL_TIMEOUT_MS, ms)) < 0) peerGone = true;
            } else if (rings.peerWakes === true || bell === null || (open && ms >= SPIN_BEFORE_DUE_MS)) {
              // The channel's own wait: the in-process doorbell, or (nothing due for a while) a polled window's looks and naps.
              if (ms > 0) asyncWaitMs = ms;
            } else {
              bell.yield(); // busy-poll, as the --mode engine and a C driver do
            }
          }
          if (now < nextInterval && now < nextProgress && !done && !peerGone && asyncWaitMs === 0 && now < sliceEnd) continue;
          const sending = this.sending(now);
          while (now >= nextInterval && (sending || this.num(L.LGS_IN_FLIGHT) > 0)) {
            this.closeInterval(nextInterval);
            nextInterval += plan.intervalMs;
          }
          if (opts.onProgress !== undefined && now >= nextProgress) {
            const completed = baseCompleted + this.num(L.LGS_COMPLETED);
            const dt = (now - lastProgressAt) / 1000;
            const p: LoadProgress = {
              phase: !sending ? 'drain' : now < measureStart ? 'warmup' : 'measure',
              elapsed_s: (now - loadStart) / 1000,
              fraction: opts.count !== undefined ? this.num(L.LGS_MEASURED_ISSUED) / opts.count : Math.max(0, Math.min(1, (now - measureStart) / (this.f64(L.LGS_STOP_AT) - measureStart))),
              ops_per_s: dt > 0 ? (completed - lastProgressOps) / dt : 0,
              p99_us: this.p99Us(),
              errors: met.errors + met.orderViolations,
              outstanding: this.num(L.LGS_IN_FLIGHT),
            };
            met.completed = completed;
            opts.onProgress(p);
            lastProgressOps = completed;
            lastProgressAt = now;
            nextProgress = now + plan.progressEveryMs;
          }
          if (done || peerGone || asyncWaitMs > 0 || now >= sliceEnd) break;
        }
        if (fd >= 0) socket!.hold(false);
        if (peerGone) throw new Error('the peer closed the doorbell socket during the load');
        if (done) break;
        if (asyncWaitMs > 0) await channel.wait(asyncWaitMs);
        else await new Promise((r) => setImmediate(r)); // timers, signals, socket reads, other tasks on this thread
      }
      wasm.cursorFlush(rings.txCursor);
      wasm.cursorFlush(rings.rxCursor);
      this.collect(baseCompleted);
    } finally {
      rings.resume();
      rings.mem.free(this.m.base, this.m.bytes);
    }
  }

  /** Turn the engine's event log into the metrics' events and counts (wording as the JavaScript engine's). */
  private readLog(): void {
    const { L, dv } = this;
    const n = this.u32(L.LGS_LOG_N);
    if (n === 0) return;
    const met = this.f.metrics;
    const timeoutMs = this.f.plan.timeoutMs;
    const base = this.u32(L.LGS_LOG);
    const hex = (v: number): string => v.toString(16);
    for (let i = 0; i < n; i++) {
      const r = base + i * L.LGL_SIZE;
      const kind = dv.getUint32(r + L.LGL_KIND, true);
      const dev = dv.getUint32(r + L.LGL_DEV, true);
      const token = dv.getUint32(r + L.LGL_TOKEN, true);
      const id = dv.getUint32(r + L.LGL_ID, true);
      const a = dv.getUint32(r + L.LGL_A, true);
      const b = dv.getUint32(r + L.LGL_B, true);
      const c = dv.getUint32(r + L.LGL_C, true);
      const bus = dv.getUint32(r + L.LGL_BUS, true) !== 0;
      const t = dv.getFloat64(r + L.LGL_T, true);
      const who = bus ? 'the bus' : `device ${dev}`;
      switch (kind) {
        case L.LGK_MALFORMED:
          met.error(t, 'malformed', `msg_size ${a} in a frame of a bus that carries ${b} bytes at most`);
          break;
        case L.LGK_BUS_DEV_NUM:
          met.error(t, 'bus_dev_num', `bus response msg_id 0x${hex(id)} carries dev_num ${dev} (must be 0)`);
          break;
        case L.LGK_UNEXPECTED:
          met.error(t, 'unexpected_response', `${bus ? 'bus' : `device ${dev}`} response msg_id 0x${hex(id)} token ${token} matches no request in flight`);
          break;
        case L.LGK_ORDER:
          met.orderViolations++;
          if (a === 0) met.note(t, 'order', `${who} answered token ${token} before older requests`);
          break;
        case L.LGK_ID_MISMATCH:
          met.error(t, 'id_mismatch', `${OP_NAMES[a]} (token ${token}, device ${dev}) answered with msg_id 0x${hex(id)}`);
          break;
        case L.LGK_TRANSPORT_FAILURE:
          met.transportFailures++;
          met.error(t, 'transport_failure', `msg_id 0x${hex(id)} to device ${dev} (token ${token}) failed: ${reasonName(a)}`, 'transport_failure');
          break;
        case L.LGK_PING_ECHO:
          met.error(t, 'ping_echo', a !== 0 ? `PING response is ${a} bytes, needs 12` : `PING echoed 0x${hex(b)} for 0x${hex(c)}`);
          break;
        case L.LGK_GET_DEVICES:
          met.error(t, 'get_devices_window', windowText(a, b, c));
          break;
        case L.LGK_TIMEOUT:
          met.timeouts++;
          met.error(t, 'timeout', `${OP_NAMES[a]} to ${who} (token ${token}) unanswered after ${timeoutMs} ms`, 'timeout');
          break;
        case L.LGK_TIMEOUT_AVAIL:
          met.timeouts++;
          met.error(t, 'timeout', `EVENT_AVAIL to device ${dev} queue ${a} got no EVENT_USED within ${timeoutMs} ms`, 'timeout');
          break;
        case L.LGK_QUEUE_FULL:
          met.queueFullEpisode(t);
          break;
        case L.LGK_STALL:
          met.stallEnded(t, dv.getFloat64(r + L.LGL_T2, true));
          break;
        default:
          throw new Error(`sequence engine log: unknown record kind ${kind}`);
      }
    }
    this.setU32(L.LGS_LOG_N, 0);
  }

  /** The engine's histogram at `addr` recorded into `h` (each bucket at its middle, none above the largest latency seen). */
  private fill(h: Histogram, addr: number): number {
    const counts = histogramCounts(this.rings.mem.buffer, addr);
    const max = this.num(this.L.LGS_MAX_NS);
    let total = 0;
    for (let b = 0; b < counts.length; b++) {
      const c = counts[b]!;
      if (c === 0) continue;
      h.recordValueWithCount(Math.max(1, Math.min(max, Math.round(bucketValue(b)))), c);
      total += c;
    }
    return total;
  }

  private closeInterval(end: number): void {
    const { L } = this;
    const met = this.f.metrics;
    met.intervalFrom(this.num(L.LGS_INTERVAL_OPS), (h) => this.fill(h, this.m.intervalHist));
    this.dv.setBigUint64(this.st + L.LGS_INTERVAL_OPS, 0n, true);
    this.wasm.lgSeqClear(this.m.intervalHist);
    met.closeInterval(end);
  }

  /** p99 so far over every message, µs (the progress line). */
  private p99Us(): number {
    const HB = this.L.HIST_BUCKETS;
    const sum = new Float64Array(HB);
    for (let op = 0; op < this.L.LG_OPS; op++) {
      const c = histogramCounts(this.rings.mem.buffer, this.m.opHists + op * HB * 8);
      for (let b = 0; b < HB; b++) sum[b] += c[b]!;
    }
    return histogramPercentile(sum, 99) / 1000;
  }

  /** The engine's figures into the run's metrics (the last interval is closed by metrics.finish). */
  private collect(baseCompleted: number): void {
    const { L } = this;
    const met = this.f.metrics;
    met.sent += this.num(L.LGS_SENT);
    met.received += this.num(L.LGS_RECEIVED);
    met.completed = baseCompleted + this.num(L.LGS_COMPLETED);
    COUNTER_NAMES.forEach((name, i) => (met.counters[name] += this.num(L.LGS_COUNTERS + 8 * i)));
    const last = this.f64(L.LGS_LAST_MEASURED);
    if (last > met.lastMeasuredCompletion) met.lastMeasuredCompletion = last;
    const HB = L.HIST_BUCKETS;
    OP_NAMES.forEach((op, i) => {
      const h = newHistogram();
      if (this.fill(h, this.m.opHists + i * HB * 8) > 0) {
        met.perMessage.set(op, h);
        met.overall.add(h);
      }
    });
    for (const d of this.m.devices) {
      const h = newHistogram();
      if (this.fill(h, d.hist) > 0) met.perDevice.set(d.dev, h);
      if (d.seqHist !== 0) {
        const s = newHistogram();
        if (this.fill(s, d.seqHist) > 0) met.perDeviceSequence.set(d.dev, s);
      }
    }
    if (this.m.seqHist !== 0) this.fill(met.sequence, this.m.seqHist);
    met.intervalFrom(this.num(L.LGS_INTERVAL_OPS), (h) => this.fill(h, this.m.intervalHist));
    if (this.u32(L.LGS_STALL_OPEN) !== 0) met.stallOpen(this.f64(L.LGS_STALL_SINCE));
  }
}

/** The GET_DEVICES window rule broken (assembly/loadgen/sequence-layout.ts LGW_*), as src/loadgen/requests.ts words it. */
function windowText(rule: number, b: number, c: number): string {
  const L = engineLayout();
  switch (rule) {
    case L.LGW_SHORT: return `GET_DEVICES response is ${b} bytes, needs 14 or more`;
    case L.LGW_OFFSET: return `GET_DEVICES response offset ${b}, asked 0`;
    case L.LGW_COUNT: return `GET_DEVICES response count ${b} is not a multiple of 8 up to 64`;
    case L.LGW_SIZE: return `GET_DEVICES response is ${b} bytes for count ${c} (needs ${14 + c / 8})`;
    default: return `GET_DEVICES next_offset ${b} is neither 0 nor an aligned offset past the window`;
  }
}
