// The load engine (`vmsg bench`): drives a device-side bus through a FrameChannel as a driver,
// with a traffic profile in closed loop (K operations in flight per device) or open loop (a
// fixed rate, latency from each operation's intended send time, so a stalled bus cannot hide
// its stall by slowing the sender down: coordinated omission corrected). Every answer is
// verified (response bit, msg_id, dev_num, its request's token, per-device order; PING echo and
// GET_DEVICES windows exactly), latency goes into HdrHistograms, and the run is sampled into a
// timeline for the reports.
import { availableParallelism, cpus, loadavg, release, type } from 'node:os';
import type { Histogram } from 'hdr-histogram-js';
import type { FrameChannel } from '../bus/bus-link.js';
import { Exchange, PingResponder } from '../client/exchange.js';
import { discoverDevices } from '../client/discovery.js';
import { RequestTracker, type TrackedRequest } from '../client/request-tracker.js';
import { reasonName } from '../protocol/reasons.js';
import { devNumAt, msgSizeAt, tokenAt } from '../protocol/header.js';
import { failedDevice, failedMsgId, failedReason, failedToken, isRequestFailed } from '../client/request-failed.js';
import { B_EVENT_DEVICE, HDR_SIZE, TYPE_BUS, TYPE_RESPONSE, T_EVENT_CONFIG, T_EVENT_USED } from '../protocol/constants.js';
import { DeviceSession, newSessionCounters } from './device-session.js';
import { encodeHistogram, newHistogram, percentileCurve, recordMs, summarize } from './latency.js';
import { usesDevices, type ProfileSpec } from './profiles.js';
import { OP_WIRE, buildStep, payloadProblem, type Step } from './requests.js';
import { RESULT_FORMAT, RESULT_VERSION, type EventKind, type LoadCounters, type LoadEvent, type LoadResult, type Timeline } from './result.js';

/** Events listed in the result; later ones are only counted. */
const MAX_LISTED_EVENTS = 200;
/** Sends per loop pass at most, so answers are read while a burst goes out. */
const SEND_BURST = 1024;
/**
 * Open loop: when the next send is due sooner than this, poll instead of sleeping. A sleep
 * ends on a timer (about 1 ms granularity, more on a busy machine) and every late send would
 * show up as latency, since latency counts from the intended time.
 */
const SPIN_BEFORE_DUE_MS = 2;

export interface LoadOptions {
  profile: ProfileSpec;
  /** Devices to drive. Default: every device GET_DEVICES reports (at most `maxDevices`). */
  devices?: number[];
  maxDevices?: number;
  /** Default 'closed'. */
  loop?: 'closed' | 'open';
  /**
   * Closed loop: operations in flight per device. Open loop: the most in flight per device.
   * Default 8; init-storm 1 (each step waits for the previous answer, as a driver's does); open loop 1024.
   */
  outstanding?: number;
  /** Open loop: operations per second over all devices. */
  rate?: number;
  /** Seconds of traffic before measuring. Default: 0 with `count`, else min(1, duration / 5). */
  warmupS?: number;
  /** Measured seconds. Default 5 unless `count` is given. */
  durationS?: number;
  /** Measured operations to send (instead of a duration). */
  count?: number;
  /** An operation unanswered after this long is an error (timeout). Default 2000 ms. */
  timeoutMs?: number;
  /** No answer for this long while operations are in flight is a stall. Default 100 ms. */
  stallMs?: number;
  /** Timeline interval. Default: about 100 intervals over the duration, 50 ms to 1 s. */
  intervalMs?: number;
  /** Ask each device for GET_DEVICE_INFO first (learn config_size and queues). Default true. */
  probe?: boolean;
  /** Called about every `progressEveryMs` (default 250) with the live figures. */
  onProgress?: (p: LoadProgress) => void;
  progressEveryMs?: number;
  /** Stop sending (then collect what is in flight) when aborted, e.g. on SIGINT. */
  signal?: AbortSignal;
}

export interface LoadProgress {
  phase: 'probe' | 'warmup' | 'measure' | 'drain' | 'done';
  elapsed_s: number;
  /** Share of the measured period or count done, 0..1. */
  fraction: number;
  ops_per_s: number;
  p99_us: number;
  errors: number;
  outstanding: number;
}

export class LoadOptionsError extends RangeError {
  override name = 'LoadOptionsError';
}

interface Pending extends TrackedRequest {
  step: Step;
  token: number;
  owner: DevState;
  fifo: RequestTracker<Pending> | undefined; // undefined: an EVENT_AVAIL (completed by EVENT_USED)
  intended: number;
  sentAt: number;
  measured: boolean;
  settled: boolean;
  /** Position in its fifo's send order. */
  seq: number;
  /** Last step of an init sequence: when its first step was due. */
  seqStart?: number;
}

interface DevState {
  dev: number;
  session: DeviceSession;
  fifo: RequestTracker<Pending>;
  inFlight: number;
  /** EVENT_AVAIL in flight per virtqueue. */
  avails: Map<number, Pending[]>;
  freeQueues: number[];
  nextQueue: number;
  queues: number;
  /** A step built but refused by a full bus: sent before anything new. */
  retry: { step: Step; vq: number } | undefined;
  seqStart: number;
}

function machine(): LoadResult['machine'] {
  return { node: process.version, cpus: availableParallelism(), model: cpus()[0]?.model.trim() ?? 'unknown', os: `${type()} ${release()}`, loadavg: loadavg().map((x) => Number(x.toFixed(2))) };
}

function positiveInt(name: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new LoadOptionsError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
}

function positiveNumber(name: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)) throw new LoadOptionsError(`${name} must be a number from ${min} to ${max}, got ${v}`);
}

function checkOptions(o: LoadOptions): void {
  const loop = o.loop ?? 'closed';
  if (loop !== 'closed' && loop !== 'open') throw new LoadOptionsError(`loop must be closed or open, got ${String(loop)}`);
  if (loop === 'open' && o.rate === undefined) throw new LoadOptionsError('open loop needs a rate (operations per second over all devices)');
  if (loop === 'closed' && o.rate !== undefined) throw new LoadOptionsError('rate applies to the open loop only; add loop: "open" (--open-loop) or drop the rate');
  positiveInt('outstanding', o.outstanding, 1, 32768);
  positiveNumber('rate', o.rate, 0.001, 1e9);
  positiveNumber('warmupS', o.warmupS, 0, 86400);
  positiveNumber('durationS', o.durationS, 0.001, 86400 * 7);
  positiveInt('count', o.count, 1, Number.MAX_SAFE_INTEGER);
  if (o.count !== undefined && o.durationS !== undefined) throw new LoadOptionsError('give a duration or a count, not both');
  positiveInt('timeoutMs', o.timeoutMs, 1, 3_600_000);
  positiveInt('stallMs', o.stallMs, 1, 3_600_000);
  positiveInt('intervalMs', o.intervalMs, 1, 3_600_000);
  positiveInt('maxDevices', o.maxDevices, 1, 65536);
  if (o.devices !== undefined) {
    if (o.devices.length === 0) throw new LoadOptionsError('devices is empty; give device numbers or leave it out to use every device GET_DEVICES reports');
    for (const d of o.devices) positiveInt('devices[]', d, 0, 65535);
    if (new Set(o.devices).size !== o.devices.length) throw new LoadOptionsError(`devices lists a device twice: ${o.devices.join(',')}`);
  }
  const p = o.profile;
  if (p.name === 'mixed' && Object.values(p.mix ?? {}).every((w) => !(w! > 0))) throw new LoadOptionsError('the mixed profile needs a mix with at least one positive weight (profile file "mix")');
  positiveInt('profile.configOffset', p.configOffset, 0, 0xffffffff);
  positiveInt('profile.configLength', p.configLength, 0, 65535);
  positiveInt('profile.queues', p.queues, 1, 65536);
  positiveInt('profile.initQueues', p.initQueues, 1, 1024);
}

/** Run one load and return its result. Throws LoadOptionsError for bad options, Error when the bus cannot be used at all. */
export async function runLoad(channel: FrameChannel, opts: LoadOptions): Promise<LoadResult> {
  checkOptions(opts);
  const profile = opts.profile;
  const loop = opts.loop ?? 'closed';
  const outstanding = opts.outstanding ?? (loop === 'open' ? 1024 : profile.name === 'init-storm' ? 1 : 8);
  const durationS = opts.count === undefined ? (opts.durationS ?? 5) : undefined;
  const warmupS = opts.warmupS ?? (opts.count !== undefined ? 0 : Math.min(1, durationS! / 5));
  const timeoutMs = opts.timeoutMs ?? 2000;
  const stallMs = opts.stallMs ?? 100;
  const intervalMs = opts.intervalMs ?? (durationS !== undefined ? Math.min(1000, Math.max(50, (durationS * 1000) / 100)) : 100);
  const progressEvery = opts.progressEveryMs ?? 250;
  const maxMsg = channel.maxMessageSize;
  if ((profile.configLength ?? 4) + 20 > maxMsg && (profile.name === 'config-rw' || profile.mix?.SET_CONFIG !== undefined || profile.mix?.GET_CONFIG !== undefined)) {
    throw new LoadOptionsError(`configLength ${profile.configLength} does not fit the bus maximum of ${maxMsg} bytes (GET_CONFIG answers carry 20 + length)`);
  }

  // ---- devices
  const talksToDevices = usesDevices(profile);
  let devices: number[] = [];
  if (talksToDevices) {
    if (opts.devices !== undefined) devices = [...opts.devices];
    else {
      devices = await discoverDevices(new Exchange(channel), timeoutMs);
      if (devices.length === 0) throw new Error('GET_DEVICES reports no device on this bus: nothing to load');
      if (opts.maxDevices !== undefined) devices = devices.slice(0, opts.maxDevices);
    }
  }
  const sessionCounters = newSessionCounters();
  const counters: LoadCounters = { ...sessionCounters, events_used: 0, extra_events: 0, config_events: 0, device_events: 0, pings_answered: 0, window_full: 0, other_frames: 0 };
  const queues = profile.queues ?? outstanding;
  const owners: DevState[] = (talksToDevices ? devices : [0]).map((dev) => ({
    dev,
    session: new DeviceSession(dev, profile, counters),
    fifo: new RequestTracker<Pending>(),
    inFlight: 0,
    avails: new Map(),
    freeQueues: Array.from({ length: Math.min(queues, 65536) }, (_, i) => i),
    nextQueue: 0,
    queues,
    retry: undefined,
    seqStart: 0,
  }));
  const byDev = new Map(talksToDevices ? owners.map((o) => [o.dev, o]) : []);
  const busFifo = new RequestTracker<Pending>();

  // ---- measurement state
  const overall = newHistogram();
  const perMessage = new Map<string, Histogram>();
  const sequenceHist = newHistogram();
  // Per device (the report's per-device table) and per init sequence per device.
  const perDevice = new Map<number, Histogram>();
  const perDeviceSeq = new Map<number, Histogram>();
  let interval = newHistogram();
  const errorKinds: Record<string, number> = {};
  const events: (LoadEvent & { at: number })[] = [];
  let eventsNotListed = 0;
  const timeline: Timeline = { interval_s: intervalMs / 1000, t_s: [], ops: [], errors: [], queue_full: [], stalls: [], p50_us: [], p99_us: [], hdr: [] };
  let sent = 0, received = 0, completed = 0, errors = 0, orderViolations = 0, timeouts = 0, transportFailures = 0;
  let queueFull = 0, stalls = 0, stallTotalMs = 0;
  let iOps = 0, iErrors = 0, iQueueFull = 0, iStalls = 0;
  let inFlight = 0;
  let measuredIssued = 0;
  let lastMeasuredCompletion = 0;
  let queueBlocked = false;
  let windowBlocked = false;
  let lastCompletion = performance.now();
  let stallSince: number | undefined;

  const scratch = new Uint8Array(Math.max(maxMsg, 64));
  const scratchDv = new DataView(scratch.buffer);
  const started = new Date();
  let measureStart = Infinity; // set when the probe is done
  let stopAt = Infinity;

  const note = (at: number, kind: EventKind, detail: string): void => {
    if (events.length < MAX_LISTED_EVENTS) events.push({ at, t_s: 0, kind, detail });
    else eventsNotListed++;
  };
  const error = (now: number, kind: string, detail: string, eventKind: EventKind = 'error'): void => {
    errors++;
    iErrors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    note(now, eventKind, `${kind}: ${detail}`);
  };

  const settle = (p: Pending, now: number, ok: boolean): void => {
    // A stall is judged from the answers as the driver saw them: a gap over stallMs with
    // something in flight, even if this thread was not looking while it happened.
    if (stallSince === undefined && now - lastCompletion > stallMs) stallSince = lastCompletion;
    if (p.fifo !== undefined) p.fifo.settle(p);
    else p.settled = true;
    p.owner.inFlight--;
    inFlight--;
    lastCompletion = now;
    if (stallSince !== undefined) {
      const d = now - stallSince;
      stalls++;
      iStalls++;
      stallTotalMs += d;
      note(stallSince, 'stall', `no answer for ${d.toFixed(1)} ms with operations in flight`);
      stallSince = undefined;
    }
    if (!ok || !p.measured) return;
    const ms = now - p.intended;
    recordMs(overall, ms);
    recordMs(interval, ms);
    let h = perMessage.get(p.step.op);
    if (h === undefined) perMessage.set(p.step.op, (h = newHistogram()));
    recordMs(h, ms);
    let hd = perDevice.get(p.owner.dev);
    if (hd === undefined) perDevice.set(p.owner.dev, (hd = newHistogram()));
    recordMs(hd, ms);
    completed++;
    iOps++;
    lastMeasuredCompletion = now;
  };

  // ---- sending
  const issue = (o: DevState, intended: number, now: number, measured: boolean, forced?: Step): boolean => {
    let vq = -1;
    let step: Step;
    if (forced !== undefined) step = forced;
    else if (o.retry !== undefined) ({ step, vq } = o.retry);
    else {
      // A queue with nothing in flight when there is one; otherwise the next in turn (its
      // notifications then share one EVENT_USED, as merged notifications do).
      step = o.session.next(() => (vq = o.freeQueues.length > 0 ? o.freeQueues.shift()! : (o.nextQueue = (o.nextQueue + 1) % o.queues)));
    }
    const wire = OP_WIRE[step.op];
    const fifo = wire.event ? undefined : wire.bus ? busFifo : o.fifo;
    const token = fifo === undefined ? 0 : fifo.token();
    buildStep(scratch, scratchDv, step, o.dev, token);
    if (!channel.send(scratch)) {
      if (forced === undefined) o.retry = { step, vq };
      if (!queueBlocked) {
        queueBlocked = true;
        queueFull++;
        iQueueFull++;
        note(now, 'queue_full', 'the bus refused a frame (its ring is full)');
      }
      return false;
    }
    queueBlocked = false;
    if (forced === undefined) o.retry = undefined;
    sent++;
    const p: Pending = { step, token, owner: o, fifo, intended, sentAt: now, measured, settled: false, seq: 0 };
    if (fifo !== undefined) fifo.add(p);
    else {
      let list = o.avails.get(step.value ?? 0);
      if (list === undefined) o.avails.set(step.value ?? 0, (list = []));
      list.push(p);
    }
    if (step.seqStep === 0) o.seqStart = intended;
    if (step.seqLast === true) p.seqStart = o.seqStart;
    // A stall is time without answers while something is in flight: the clock starts now if nothing was.
    if (inFlight === 0) lastCompletion = now;
    o.inFlight++;
    inFlight++;
    return true;
  };

  // ---- receiving
  const completeResponse = (p: Pending, f: Uint8Array, dv: DataView, now: number): void => {
    const problem = payloadProblem(p.step, f, dv);
    if (problem !== undefined) {
      error(now, p.step.op === 'PING' ? 'ping_echo' : 'get_devices_window', problem);
      settle(p, now, false);
      return;
    }
    p.owner.session.onResponse(p.step, f, dv);
    settle(p, now, true);
    if (p.seqStart !== undefined && p.measured) {
      recordMs(sequenceHist, now - p.seqStart);
      let hs = perDeviceSeq.get(p.owner.dev);
      if (hs === undefined) perDeviceSeq.set(p.owner.dev, (hs = newHistogram()));
      recordMs(hs, now - p.seqStart);
    }
  };

  const handle = (frameIn: Uint8Array, now: number): void => {
    let f = frameIn;
    received++;
    if (f.length < HDR_SIZE) return error(now, 'malformed', `a ${f.length}-byte frame (shorter than the header)`);
    const size = msgSizeAt(f, 0);
    if (size < HDR_SIZE || size > f.length) return error(now, 'malformed', `msg_size ${size} in a ${f.length}-byte frame`);
    if (size < f.length) f = f.subarray(0, size); // receivers look only at msg_size bytes (docs/PROTOCOL.md §3)
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const type = f[0]! & 3; // bits 2–7 are reserved: ignored on receive (§8 driver rule 1)
    const id = f[1]!;
    const dev = devNumAt(f, 0);
    const token = tokenAt(f, 0);
    if (type & TYPE_RESPONSE) {
      const bus = (type & TYPE_BUS) !== 0;
      const fifo = bus ? busFifo : byDev.get(dev)?.fifo;
      const p = fifo?.get(token);
      if (bus && dev !== 0) error(now, 'bus_dev_num', `bus response msg_id 0x${id.toString(16)} carries dev_num ${dev} (must be 0)`);
      if (fifo === undefined || p === undefined) {
        return error(now, 'unexpected_response', `${bus ? 'bus' : `device ${dev}`} response msg_id 0x${id.toString(16)} token ${token} matches no request in flight`);
      }
      if (!fifo.answeredInOrder(p)) {
        orderViolations++;
        note(now, 'order', `${bus ? 'the bus' : `device ${dev}`} answered token ${token} before older requests`);
      }
      if (OP_WIRE[p.step.op].msgId !== id) {
        error(now, 'id_mismatch', `${p.step.op} (token ${token}, device ${dev}) answered with msg_id 0x${id.toString(16)}`);
        return settle(p, now, false);
      }
      return completeResponse(p, f, dv, now);
    }
    if (type === TYPE_BUS) {
      if (isRequestFailed(f, 0, f.length)) {
        const fdev = failedDevice(f, 0), fid = failedMsgId(f, 0), reason = failedReason(f, 0), ftok = failedToken(f, 0);
        const fifo = byDev.get(fdev)?.fifo ?? (fdev === 0 ? busFifo : undefined);
        const p = fifo?.get(ftok);
        transportFailures++;
        error(now, 'transport_failure', `msg_id 0x${fid.toString(16)} to device ${fdev} (token ${ftok}) failed: ${reasonName(reason)}`, 'transport_failure');
        if (p !== undefined) {
          if (!fifo!.answeredInOrder(p)) orderViolations++;
          settle(p, now, false);
        }
        return;
      }
      if (id === B_EVENT_DEVICE) return void counters.device_events++;
      return void counters.other_frames++;
    }
    if (id === T_EVENT_USED && f.length >= 12) {
      const list = byDev.get(dev)?.avails.get(dv.getUint32(8, true));
      if (list === undefined || list.length === 0) return void counters.extra_events++;
      // One EVENT_USED answers every notification in flight on its queue: the bus may have
      // merged them (router EVENT_AVAIL coalescing).
      counters.events_used++;
      const vq = dv.getUint32(8, true);
      for (const p of list.splice(0)) settle(p, now, true);
      byDev.get(dev)!.freeQueues.push(vq);
      return;
    }
    if (id === T_EVENT_CONFIG) return void counters.config_events++;
    counters.other_frames++;
  };

  const pings = new PingResponder();
  const receiveAll = (): number => {
    let n = 0;
    for (let f = channel.recv(); f !== null; f = channel.recv()) {
      if (pings.take(f)) received++; // the bus's keep-alive: answered below, counted as a frame
      else handle(f, performance.now());
      n++;
    }
    const answered = pings.send(channel);
    counters.pings_answered += answered;
    sent += answered;
    return n;
  };

  const expire = (now: number): void => {
    const old = now - timeoutMs;
    const expireTracker = (fifo: RequestTracker<Pending>): void => {
      for (let p = fifo.first(); p !== undefined && p.sentAt < old; p = fifo.first()) {
        timeouts++;
        error(now, 'timeout', `${p.step.op} to ${p.fifo === busFifo ? 'the bus' : `device ${p.owner.dev}`} (token ${p.token}) unanswered after ${timeoutMs} ms`, 'timeout');
        settle(p, now, false);
      }
    };
    expireTracker(busFifo);
    for (const o of owners) {
      expireTracker(o.fifo);
      for (const [vq, list] of o.avails) {
        while (list.length > 0 && list[0]!.sentAt < old) {
          const p = list.shift()!;
          timeouts++;
          error(now, 'timeout', `EVENT_AVAIL to device ${o.dev} queue ${vq} got no EVENT_USED within ${timeoutMs} ms`, 'timeout');
          settle(p, now, false);
          if (list.length === 0) o.freeQueues.push(vq);
        }
      }
    }
    if (stallSince === undefined && inFlight > 0 && now - lastCompletion > stallMs) stallSince = lastCompletion;
  };

  const closeInterval = (end: number): void => {
    timeline.t_s.push(Number(((end - measureStart) / 1000).toFixed(4)));
    timeline.ops.push(iOps);
    timeline.errors.push(iErrors);
    timeline.queue_full.push(iQueueFull);
    timeline.stalls.push(iStalls);
    const s = summarize(interval);
    timeline.p50_us.push(s.p50_us);
    timeline.p99_us.push(s.p99_us);
    // The interval's whole histogram: the comparison's bootstrap and the report's merged
    // intervals work from these (a percentile of percentiles would not be one).
    timeline.hdr!.push(encodeHistogram(interval));
    iOps = iErrors = iQueueFull = iStalls = 0;
    interval = newHistogram();
  };

  // ---- the loop
  let lastYield = performance.now();
  // A socket channel's answers come in only while the event loop runs: yield to it often, or
  // they wait (and count as latency) until the next yield.
  const yieldEveryMs = channel.eventDriven === true ? 0.05 : 10;
  const pump = async (idleWaitMs: number, progressed: boolean): Promise<void> => {
    channel.flush();
    const now = performance.now();
    if (!progressed && receiveAll() === 0 && idleWaitMs >= SPIN_BEFORE_DUE_MS) {
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
  if (talksToDevices && opts.probe !== false) {
    const isInit = profile.name === 'init' || profile.name === 'init-storm';
    const probe: Step[] = [
      { op: 'GET_DEVICE_INFO' },
      ...(isInit ? [{ op: 'GET_DEVICE_FEATURES' } as Step, ...Array.from({ length: profile.initQueues ?? 1 }, (_, q): Step => ({ op: 'GET_VQUEUE', value: q }))] : []),
    ];
    for (const o of owners) {
      for (const step of probe) while (!issue(o, performance.now(), performance.now(), false, step)) await pump(SPIN_BEFORE_DUE_MS, receiveAll() > 0);
    }
    let lastExpire = 0;
    while (inFlight > 0) {
      const now = performance.now();
      if (now - lastExpire > 20) { expire(now); lastExpire = now; }
      await pump(5, receiveAll() > 0);
    }
    for (const o of owners) o.session.checkUsable();
  }
  queueFull = 0; // a probe burst into a small ring is not the load's backpressure
  const loadStart = performance.now();
  measureStart = loadStart + warmupS * 1000;
  if (durationS !== undefined) stopAt = measureStart + durationS * 1000;
  let nextInterval = measureStart + intervalMs;
  let nextProgress = loadStart + progressEvery;
  let lastProgressOps = 0, lastProgressAt = loadStart;
  const period = loop === 'open' ? 1000 / opts.rate! : 0;
  let nextDue = loadStart;
  let rr = 0;
  let lastExpire = loadStart;

  // Whether operations are still to be sent. Open loop asks about the next operation's intended
  // time, so a generator that fell behind still sends every operation due before the end.
  const issuing = (now: number): boolean => {
    if (opts.signal?.aborted === true) return false;
    if (opts.count !== undefined) return now < measureStart || measuredIssued < opts.count;
    return now < stopAt;
  };

  for (;;) {
    const now = performance.now();
    const sending = issuing(loop === 'open' ? nextDue : now);
    if (!sending && inFlight === 0) break;
    let progressed = receiveAll() > 0;
    if (sending) {
      let burst = 0;
      if (loop === 'closed') {
        for (const o of owners) {
          while (o.inFlight < outstanding && burst < SEND_BURST && issuing(now)) {
            const measured = now >= measureStart;
            if (!issue(o, now, now, measured)) break;
            if (measured) measuredIssued++;
            burst++;
          }
        }
      } else {
        while (nextDue <= now && burst < SEND_BURST && issuing(nextDue)) {
          // Round-robin over devices with room; the operation keeps its intended time however late it goes.
          let o: DevState | undefined;
          for (let i = 0; i < owners.length && o === undefined; i++) {
            const c = owners[(rr + i) % owners.length]!;
            if (c.inFlight < outstanding) o = c;
          }
          if (o === undefined) {
            if (!windowBlocked) counters.window_full++;
            windowBlocked = true;
            break;
          }
          windowBlocked = false;
          const measured = nextDue >= measureStart;
          if (!issue(o, nextDue, now, measured)) break;
          rr = (owners.indexOf(o) + 1) % owners.length;
          if (measured) measuredIssued++;
          nextDue += period;
          burst++;
        }
      }
      progressed ||= burst > 0;
    }
    if (now - lastExpire >= 20) {
      expire(now);
      lastExpire = now;
    }
    while (now >= nextInterval && (sending || inFlight > 0)) {
      closeInterval(nextInterval);
      nextInterval += intervalMs;
    }
    if (opts.onProgress !== undefined && now >= nextProgress) {
      const dt = (now - lastProgressAt) / 1000;
      const fraction = opts.count !== undefined ? measuredIssued / opts.count : Math.max(0, Math.min(1, (now - measureStart) / (stopAt - measureStart)));
      opts.onProgress({
        phase: !sending ? 'drain' : now < measureStart ? 'warmup' : 'measure',
        elapsed_s: (now - loadStart) / 1000,
        fraction,
        ops_per_s: dt > 0 ? (completed - lastProgressOps) / dt : 0,
        p99_us: overall.totalCount > 0 ? overall.getValueAtPercentile(99) / 1000 : 0,
        errors: errors + orderViolations,
        outstanding: inFlight,
      });
      lastProgressOps = completed;
      lastProgressAt = now;
      nextProgress = now + progressEvery;
    }
    // Open loop: sleep until just before the next send is due, then poll.
    const idle = loop === 'open' && sending ? Math.min(5, nextDue - performance.now() - SPIN_BEFORE_DUE_MS / 2) : 5;
    await pump(idle, progressed);
  }
  const end = performance.now();
  opts.onProgress?.({ phase: 'done', elapsed_s: (end - loadStart) / 1000, fraction: 1, ops_per_s: completed / Math.max(1e-6, (Math.max(lastMeasuredCompletion, measureStart) - measureStart) / 1000), p99_us: overall.totalCount > 0 ? overall.getValueAtPercentile(99) / 1000 : 0, errors: errors + orderViolations, outstanding: 0 });
  if (stallSince !== undefined) {
    stalls++;
    stallTotalMs += end - stallSince;
    note(stallSince, 'stall', `no answer for ${(end - stallSince).toFixed(1)} ms with operations in flight`);
  }
  if (iOps + iErrors + iQueueFull + iStalls > 0 || timeline.t_s.length === 0) closeInterval(Math.max(end, measureStart));

  for (const e of events) e.t_s = Number(((e.at - measureStart) / 1000).toFixed(4));
  const measuredEnd = lastMeasuredCompletion > measureStart ? lastMeasuredCompletion : Math.max(end, measureStart);
  const seconds = Math.max(1e-6, (measuredEnd - measureStart) / 1000);
  const opsPerS = Math.round(completed / seconds);
  const lat = summarize(overall);
  const byMessage: Record<string, ReturnType<typeof summarize>> = {};
  for (const [name, h] of [...perMessage].sort((a, b) => a[0].localeCompare(b[0]))) byMessage[name] = summarize(h);
  const isInit = profile.name === 'init' || profile.name === 'init-storm';
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    mode: profile.name,
    profile,
    loop,
    outstanding,
    rate: loop === 'open' ? opts.rate! : null,
    devices: talksToDevices ? devices : [],
    warmup_s: warmupS,
    duration_s: durationS ?? null,
    count: opts.count ?? null,
    started: started.toISOString(),
    seconds: Number(seconds.toFixed(6)),
    sent,
    received,
    completed,
    errors,
    error_kinds: errorKinds,
    order_violations: orderViolations,
    timeouts,
    transport_failures: transportFailures,
    queue_full: queueFull,
    stalls,
    stall_ms: Number(stallTotalMs.toFixed(3)),
    ops_per_s: opsPerS,
    round_trips_per_s: opsPerS,
    p50_us: lat.p50_us,
    p90_us: lat.p90_us,
    p99_us: lat.p99_us,
    p999_us: lat.p999_us,
    max_us: lat.max_us,
    mean_us: lat.mean_us,
    latency: { ...lat, corrected: loop === 'open', curve: percentileCurve(overall), hdr: encodeHistogram(overall) },
    by_message: byMessage,
    sequence: isInit ? summarize(sequenceHist) : null,
    by_device: Object.fromEntries([...perDevice].sort((a, b) => a[0] - b[0]).map(([dev, h]) => {
      const seq = perDeviceSeq.get(dev);
      return [String(dev), { ...summarize(h), ops_per_s: Math.round(h.totalCount / seconds), ...(isInit ? { sequence: seq === undefined ? null : summarize(seq) } : {}) }];
    })),
    counters,
    timeline,
    events: events.map(({ t_s, kind, detail }) => ({ t_s, kind, detail })),
    events_not_listed: eventsNotListed,
    machine: machine(),
  };
}
