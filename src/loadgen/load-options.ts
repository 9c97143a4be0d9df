// What a load run is asked to do (`LoadOptions`), the live figures it reports while it runs
// (`LoadProgress`), and the checks and defaults that turn the options into one settled plan
// before anything is sent: bad options are a LoadOptionsError naming the option and its range.
import { usesDevices, type ProfileSpec } from './profiles.js';

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
  /**
   * Where the per-frame work runs. Default 'wasm' where the channel hands over its rings
   * (shared-memory windows, in-process links: src/loadgen/sequence-run.ts), else JavaScript;
   * 'js' keeps JavaScript everywhere (for comparing the two).
   */
  engine?: 'wasm' | 'js';
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

/** The options with every default applied: what the run actually does. */
export interface LoadPlan {
  profile: ProfileSpec;
  loop: 'closed' | 'open';
  outstanding: number;
  /** Measured seconds, or undefined when the run is a count. */
  durationS: number | undefined;
  warmupS: number;
  timeoutMs: number;
  stallMs: number;
  intervalMs: number;
  progressEveryMs: number;
  /** The profile sends device messages (not only bus ones). */
  talksToDevices: boolean;
}

/** Check `o` against a bus carrying at most `maxMsg` bytes, and apply the defaults. */
export function planLoad(o: LoadOptions, maxMsg: number): LoadPlan {
  checkOptions(o);
  const profile = o.profile;
  const loop = o.loop ?? 'closed';
  const durationS = o.count === undefined ? (o.durationS ?? 5) : undefined;
  if ((profile.configLength ?? 4) + 20 > maxMsg && (profile.name === 'config-rw' || profile.mix?.SET_CONFIG !== undefined || profile.mix?.GET_CONFIG !== undefined)) {
    throw new LoadOptionsError(`configLength ${profile.configLength} does not fit the bus maximum of ${maxMsg} bytes (GET_CONFIG answers carry 20 + length)`);
  }
  return {
    profile,
    loop,
    outstanding: o.outstanding ?? (loop === 'open' ? 1024 : profile.name === 'init-storm' ? 1 : 8),
    durationS,
    warmupS: o.warmupS ?? (o.count !== undefined ? 0 : Math.min(1, durationS! / 5)),
    timeoutMs: o.timeoutMs ?? 2000,
    stallMs: o.stallMs ?? 100,
    intervalMs: o.intervalMs ?? (durationS !== undefined ? Math.min(1000, Math.max(50, (durationS * 1000) / 100)) : 100),
    progressEveryMs: o.progressEveryMs ?? 250,
    talksToDevices: usesDevices(profile),
  };
}
