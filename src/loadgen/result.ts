// The load engine's result: one JSON document per run (`vmsg bench --json`), from which every
// other output is made (table, CSV, HTML report, comparison), so a saved result can be
// reported or compared later. Top-level keys of the `vmsg bench --target` contract (README "CLI")
// are kept as they are: mode, sent, received, errors, order_violations, seconds,
// round_trips_per_s, p50_us, p99_us.
import type { LatencySummary } from './latency.js';
import type { ProfileSpec } from './profiles.js';
import type { SessionCounters } from './device-session.js';

export const RESULT_FORMAT = 'vmsg-bench';
export const RESULT_VERSION = 1;

export type EventKind = 'queue_full' | 'stall' | 'error' | 'order' | 'timeout' | 'transport_failure';

export interface LoadEvent {
  /** Seconds from the start of the measured period (negative: during warm-up or the probe). */
  t_s: number;
  kind: EventKind;
  detail: string;
}

/** Per-interval samples of the measured period, one array entry per interval (columnar: compact JSON). */
export interface Timeline {
  interval_s: number;
  /** End of each interval, seconds from the start of the measured period. */
  t_s: number[];
  /** Operations completed in the interval. */
  ops: number[];
  errors: number[];
  queue_full: number[];
  stalls: number[];
  /** Latency of operations completed in the interval (0 when none). */
  p50_us: number[];
  p99_us: number[];
  /**
   * Each interval's whole latency histogram (HdrHistogram compressed base64, ns). Absent in
   * results of earlier versions; comparisons and merged report intervals need it.
   */
  hdr?: string[];
}

/** One device's measured operations (the report's per-device table). */
export interface DeviceResult extends LatencySummary {
  ops_per_s: number;
  /** Init profiles: this device's whole initialisation sequences. */
  sequence?: LatencySummary | null;
}

/** How the run was made, for the report and for reading a saved result later. */
export interface RunProvenance {
  /** The command line as typed (argv after the program). */
  command: string;
  target: string;
  tool_version: string;
  /** `git rev-parse HEAD` of the tool's checkout, when it runs from one. */
  commit: string | null;
}

export interface LoadCounters extends SessionCounters {
  /** EVENT_USED that completed notifications (notify-flood, avail, mixed). */
  events_used: number;
  /** EVENT_USED for a queue with nothing outstanding (e.g. one per notification the bus merged). */
  extra_events: number;
  /** EVENT_CONFIG and EVENT_DEVICE received. */
  config_events: number;
  device_events: number;
  /** PINGs the bus sent us, answered. */
  pings_answered: number;
  /** Open loop: operations that waited because their device had `outstanding` in flight. */
  window_full: number;
  /** Frames that fit nothing above (counted, otherwise ignored). */
  other_frames: number;
}

export interface MachineInfo {
  node: string;
  cpus: number;
  model: string;
  os: string;
  loadavg: number[];
}

export interface LoadResult {
  format: typeof RESULT_FORMAT;
  version: number;
  /** The profile's name (the `--mode` of the original `vmsg bench` contract). */
  mode: string;
  profile: ProfileSpec;
  loop: 'closed' | 'open';
  /** Closed loop: operations in flight per device. Open loop: the cap per device. */
  outstanding: number;
  /** Open loop: operations per second over all devices; null in closed loop. */
  rate: number | null;
  devices: number[];
  warmup_s: number;
  /** Measured period asked for (null: --count). */
  duration_s: number | null;
  count: number | null;
  started: string;
  /** Measured seconds: start of measurement to the last measured completion. */
  seconds: number;
  /** Frames sent and received over the whole run (probe and warm-up included). */
  sent: number;
  received: number;
  /** Measured operations completed with a correct answer. */
  completed: number;
  /** Every verification failure (all phases): wrong answers, timeouts, transport failures, malformed frames. */
  errors: number;
  error_kinds: Record<string, number>;
  /** Answers that overtook an older request of the same device (counted apart from errors). */
  order_violations: number;
  timeouts: number;
  transport_failures: number;
  queue_full: number;
  stalls: number;
  stall_ms: number;
  ops_per_s: number;
  /** The same figure under its name in the original `vmsg bench` contract. */
  round_trips_per_s: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  latency: LatencySummary & {
    /** Coordinated-omission corrected (open loop: from the intended send time). */
    corrected: boolean;
    curve: [number, number][];
    /** The full histogram, HdrHistogram compressed base64 (ns). */
    hdr: string;
  };
  by_message: Record<string, LatencySummary>;
  /** Init profiles: one whole initialisation sequence, first step sent to last step answered. */
  sequence: LatencySummary | null;
  /** Per device (key: device number; 0 = bus messages only). Absent in results of earlier versions. */
  by_device?: Record<string, DeviceResult>;
  /** Filled in by the CLI; absent for library runs. */
  run?: RunProvenance;
  counters: LoadCounters;
  timeline: Timeline;
  events: LoadEvent[];
  events_not_listed: number;
  machine: MachineInfo;
}

/** True when a result passes: no errors and no order violations (the `vmsg bench` exit rule). */
export function passed(r: Pick<LoadResult, 'errors' | 'order_violations'>): boolean {
  return r.errors === 0 && r.order_violations === 0;
}
