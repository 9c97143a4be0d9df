// The load engine (`vmsg bench`): drives a device-side bus through a FrameChannel as a driver,
// with a traffic profile in closed loop (K operations in flight per device) or open loop (a
// fixed rate, latency from each operation's intended send time, so a stalled bus cannot hide
// its stall by slowing the sender down: coordinated omission corrected). Every answer is
// verified, latency goes into HdrHistograms, and the run is sampled into a timeline for the
// reports. This file is the run itself: discovery, the probe, the loop and its phases; the rooms
// it drives are load-options.ts (plan), send-schedule.ts and load-sender.ts (sending),
// in-flight.ts and answer-reader.ts (operations and their answers), load-metrics.ts (what is
// measured) and build-result.ts (the result document). On a channel that hands over its rings
// (shared-memory windows, in-process links) the load after the probe runs in WASM instead
// (sequence-run.ts), with the same checks and the same result.
import type { FrameChannel } from '../bus/bus-link.js';
import { Exchange } from '../client/exchange.js';
import { discoverDevices } from '../client/discovery.js';
import { AnswerReader } from './answer-reader.js';
import { buildResult } from './build-result.js';
import { InFlight } from './in-flight.js';
import { LoadMetrics } from './load-metrics.js';
import { planLoad, type LoadOptions, type LoadPlan } from './load-options.js';
import { LoadSender } from './load-sender.js';
import type { Step } from './requests.js';
import type { LoadResult } from './result.js';
import { SPIN_BEFORE_DUE_MS, SendSchedule } from './send-schedule.js';
import { SequenceRun } from './sequence-run.js';

export { LoadOptionsError, type LoadOptions, type LoadProgress } from './load-options.js';

/** The devices to drive: as given, or every device GET_DEVICES reports (at most maxDevices). */
async function devicesToDrive(channel: FrameChannel, opts: LoadOptions, plan: LoadPlan): Promise<number[]> {
  if (!plan.talksToDevices) return [];
  if (opts.devices !== undefined) return [...opts.devices];
  const found = await discoverDevices(new Exchange(channel), plan.timeoutMs);
  if (found.length === 0) throw new Error('GET_DEVICES reports no device on this bus: nothing to load');
  return opts.maxDevices !== undefined ? found.slice(0, opts.maxDevices) : found;
}

/** Run one load and return its result. Throws LoadOptionsError for bad options, Error when the bus cannot be used at all. */
export async function runLoad(channel: FrameChannel, opts: LoadOptions): Promise<LoadResult> {
  const plan = planLoad(opts, channel.maxMessageSize);
  const { profile, intervalMs } = plan;
  const devices = await devicesToDrive(channel, opts, plan);
  const metrics = new LoadMetrics(intervalMs, plan.stallMs);
  const flight = new InFlight(devices, profile, profile.queues ?? plan.outstanding, metrics, plan.timeoutMs);
  const sender = new LoadSender(channel, flight, metrics);
  const answers = new AnswerReader(channel, flight, metrics);
  const schedule = new SendSchedule(plan, opts, flight, sender, metrics);
  const started = new Date();

  let lastYield = performance.now();
  // A socket channel's answers come in only while the event loop runs: yield to it often, or
  // they wait (and count as latency) until the next yield.
  const yieldEveryMs = channel.eventDriven === true ? 0.05 : 10;
  const pump = async (idleWaitMs: number, progressed: boolean): Promise<void> => {
    channel.flush();
    const now = performance.now();
    if (!progressed && answers.receiveAll() === 0 && idleWaitMs >= SPIN_BEFORE_DUE_MS) {
      await channel.wait(idleWaitMs);
      lastYield = performance.now();
    } else if (now - lastYield > yieldEveryMs) {
      lastYield = now;
      await new Promise((r) => setImmediate(r)); // timers, signals, socket reads, other tasks on this thread
    }
  };

  // Probe, unmeasured: GET_DEVICE_INFO to every device so sessions know config_size, and for
  // the init profiles the offered features and queue sizes, so that even pipelined sequences
  // accept the right features and program sizes the device takes from the first round on.
  if (plan.talksToDevices && opts.probe !== false) {
    const isInit = profile.name === 'init' || profile.name === 'init-storm';
    const probe: Step[] = [
      { op: 'GET_DEVICE_INFO' },
      ...(isInit ? [{ op: 'GET_DEVICE_FEATURES' } as Step, ...Array.from({ length: profile.initQueues ?? 1 }, (_, q): Step => ({ op: 'GET_VQUEUE', value: q }))] : []),
    ];
    for (const o of flight.devices) {
      for (const step of probe) while (!sender.issue(o, performance.now(), performance.now(), false, step)) await pump(SPIN_BEFORE_DUE_MS, answers.receiveAll() > 0);
    }
    let lastExpire = 0;
    while (flight.count > 0) {
      const now = performance.now();
      if (now - lastExpire > 20) { flight.expire(now); lastExpire = now; }
      await pump(5, answers.receiveAll() > 0);
    }
    for (const o of flight.devices) o.session.checkUsable();
  }
  metrics.queueFull = 0; // a probe burst into a small ring is not the load's backpressure
  // The per-frame work in WASM over the rings where the channel hands them over (sequence-run.ts).
  const wasmRun = SequenceRun.create({ channel, plan, opts, flight, metrics });
  const loadStart = performance.now();
  const measureStart = (metrics.measureStart = loadStart + plan.warmupS * 1000);
  if (wasmRun !== undefined) {
    await wasmRun.run(loadStart);
    return finish(loadStart);
  }
  schedule.start(loadStart);
  let nextInterval = measureStart + intervalMs;
  const progressEvery = plan.progressEveryMs;
  let nextProgress = loadStart + progressEvery;
  let lastProgressOps = 0, lastProgressAt = loadStart;
  let lastExpire = loadStart;

  for (;;) {
    const now = performance.now();
    const sending = schedule.sending(now);
    if (!sending && flight.count === 0) break;
    let progressed = answers.receiveAll() > 0;
    if (sending) progressed = schedule.sendDue(now) > 0 || progressed;
    if (now - lastExpire >= 20) {
      flight.expire(now);
      lastExpire = now;
    }
    while (now >= nextInterval && (sending || flight.count > 0)) {
      metrics.closeInterval(nextInterval);
      nextInterval += intervalMs;
    }
    if (opts.onProgress !== undefined && now >= nextProgress) {
      const dt = (now - lastProgressAt) / 1000;
      opts.onProgress({
        phase: !sending ? 'drain' : now < measureStart ? 'warmup' : 'measure',
        elapsed_s: (now - loadStart) / 1000,
        fraction: schedule.fraction(now),
        ops_per_s: dt > 0 ? (metrics.completed - lastProgressOps) / dt : 0,
        p99_us: metrics.p99Us(),
        errors: metrics.errors + metrics.orderViolations,
        outstanding: flight.count,
      });
      lastProgressOps = metrics.completed;
      lastProgressAt = now;
      nextProgress = now + progressEvery;
    }
    await pump(schedule.idleMs(sending), progressed);
  }
  return finish(loadStart);

  function finish(loadStart: number): LoadResult {
    const end = performance.now();
    const measuredFor = Math.max(1e-6, (Math.max(metrics.lastMeasuredCompletion, measureStart) - measureStart) / 1000);
    opts.onProgress?.({ phase: 'done', elapsed_s: (end - loadStart) / 1000, fraction: 1, ops_per_s: metrics.completed / measuredFor, p99_us: metrics.p99Us(), errors: metrics.errors + metrics.orderViolations, outstanding: 0 });
    metrics.finish(end);
    return buildResult({ plan, opts, devices, started, end, metrics });
  }
}
