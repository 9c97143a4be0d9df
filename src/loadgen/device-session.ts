// One device's side of a load profile: which message comes next, and what the driver learns
// from the answers (offered features, queue sizes, config size, the config generation) so
// that later messages are the ones a real driver would send (docs/PROTOCOL.md §8 driver rules 3–7).
import { MIX_OPS, type MixOp, type OpName, type ProfileSpec } from './profiles.js';
import { INIT_QUEUE_SIZE, type Step } from './requests.js';
import { STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK } from '../protocol/constants.js';

/** What sessions count while reading answers (reported under "counters"). */
export interface SessionCounters {
  /** A GET/SET_CONFIG answer carried a generation other than the last one seen. */
  generation_changes: number;
  /** SET_CONFIG answered with length 0 (stale generation, docs/PROTOCOL.md §8 device rule 6). */
  set_config_rejected: number;
  /** SET_DEVICE_STATUS with FEATURES_OK answered without it (device refused the features). */
  features_refused: number;
  /** Init profiles: whole initialisation sequences completed. */
  sequences_completed: number;
}

export function newSessionCounters(): SessionCounters {
  return { generation_changes: 0, set_config_rejected: 0, features_refused: 0, sequences_completed: 0 };
}

interface WeightedOp {
  op: MixOp;
  weight: number;
  current: number;
}

const ACK_DRIVER = STATUS_ACKNOWLEDGE | STATUS_DRIVER;
const FEATURES_DONE = ACK_DRIVER | STATUS_FEATURES_OK;

export class DeviceSession {
  /** From GET_DEVICE_INFO, when the answer held it. */
  configSize: number | undefined;
  maxQueues: number | undefined;
  /** Offered feature words (blocks 0 and 1) from the latest GET_DEVICE_FEATURES answer. */
  private offered: number[] = [0, 0];
  private readonly queueMax = new Map<number, number>();
  private generation = 0;
  private generationKnown = false;
  private step = 0;
  private writeNext = false;
  private readAfterReject = false;
  private fill = 0;
  private pingData = 0;
  private mix: WeightedOp[] = [];
  private mixTotal = 0;

  constructor(readonly dev: number, private readonly profile: ProfileSpec, private readonly counters: SessionCounters) {
    this.pingData = (dev * 0x9e3779b1) >>> 0; // distinct echo data per device
    this.setMix(profile.mix);
  }

  private setMix(mix: Partial<Record<MixOp, number>> | undefined): void {
    this.mix = MIX_OPS.filter((op) => (mix?.[op] ?? 0) > 0).map((op) => ({ op, weight: mix![op]!, current: 0 }));
    this.mixTotal = this.mix.reduce((t, m) => t + m.weight, 0);
  }

  /** Config window for GET/SET_CONFIG, clamped to config_size when the device reported it. */
  private configWindow(): { offset: number; length: number } {
    const offset = this.profile.configOffset ?? 0;
    let length = this.profile.configLength ?? 4;
    if (this.configSize !== undefined) length = Math.max(0, Math.min(length, this.configSize - offset));
    return { offset, length };
  }

  /**
   * After the probe: refuse what cannot work on this device (an error naming the device and
   * the fix), and drop config messages from a mix for a device without config space.
   */
  checkUsable(): void {
    if (this.configSize === undefined) return;
    const { offset } = this.configWindow();
    const noConfig = this.configSize <= offset;
    if (noConfig && this.profile.name === 'config-rw') {
      throw new RangeError(`device ${this.dev} has config_size ${this.configSize}: config-rw needs a config window at offset ${offset} (choose a device with config space with --dev, or an offset below its config_size: "config": {"offset": N} in a --profile-file, configOffset in the library)`);
    }
    if (noConfig && this.profile.name === 'mixed') {
      const m = { ...this.profile.mix };
      delete m.GET_CONFIG;
      delete m.SET_CONFIG;
      this.setMix(m);
    }
  }

  /** The mix in use (after checkUsable): weight per message. */
  mixWeights(): Partial<Record<MixOp, number>> {
    return Object.fromEntries(this.mix.map((m) => [m.op, m.weight]));
  }

  /** Number of steps of one initialisation sequence. */
  get sequenceLength(): number {
    return 9 + 2 * (this.profile.initQueues ?? 1);
  }

  /** The next message of this device's stream; `takeQueue` gives the virtqueue when it is an EVENT_AVAIL. */
  next(takeQueue: () => number): Step {
    switch (this.profile.name) {
      case 'init':
      case 'init-storm':
        return this.nextInitStep();
      case 'notify-flood':
      case 'avail':
        return { op: 'EVENT_AVAIL', value: takeQueue() };
      case 'config-rw': {
        const write = this.writeNext && !this.readAfterReject;
        this.writeNext = !write;
        this.readAfterReject = false;
        return this.configStep(write ? 'SET_CONFIG' : 'GET_CONFIG');
      }
      case 'ping':
        return this.pingStep();
      case 'mixed':
        return this.mixedStep(takeQueue);
    }
  }

  private pingStep(): Step {
    this.pingData = (this.pingData + 0x01000193) >>> 0;
    return { op: 'PING', value: this.pingData };
  }

  private configStep(op: 'GET_CONFIG' | 'SET_CONFIG'): Step {
    const w = this.configWindow();
    if (op === 'GET_CONFIG') return { op, ...w };
    this.fill = (this.fill + 1) & 0xff;
    return { op, ...w, generation: this.generation, fill: this.fill };
  }

  private mixedStep(takeQueue: () => number): Step {
    // Smooth weighted round-robin: exact proportions, evenly spread, no randomness.
    let best = this.mix[0]!;
    for (const m of this.mix) {
      m.current += m.weight;
      if (m.current > best.current) best = m;
    }
    best.current -= this.mixTotal;
    const op: OpName = best.op;
    switch (best.op) {
      case 'GET_CONFIG':
      case 'SET_CONFIG':
        return this.configStep(best.op);
      case 'EVENT_AVAIL':
        return { op, value: takeQueue() };
      case 'PING':
        return this.pingStep();
      default:
        return { op, value: 0 };
    }
  }

  private nextInitStep(): Step {
    const queues = this.profile.initQueues ?? 1;
    const s = this.step;
    this.step = (s + 1) % this.sequenceLength;
    const seq = { seqStep: s, seqLast: s === this.sequenceLength - 1 };
    switch (s) {
      case 0: return { op: 'SET_DEVICE_STATUS', value: 0, ...seq }; // reset (§8 device rule 7)
      case 1: return { op: 'GET_DEVICE_INFO', ...seq };
      case 2: return { op: 'SET_DEVICE_STATUS', value: STATUS_ACKNOWLEDGE, ...seq };
      case 3: return { op: 'SET_DEVICE_STATUS', value: ACK_DRIVER, ...seq };
      case 4: return { op: 'GET_DEVICE_FEATURES', ...seq };
      // Accept what the device offers (as a driver that knows every feature would).
      case 5: return { op: 'SET_DRIVER_FEATURES', features: [...this.offered], ...seq };
      case 6: return { op: 'SET_DEVICE_STATUS', value: FEATURES_DONE, ...seq };
      case 7: return { op: 'GET_DEVICE_STATUS', ...seq };
      default: {
        const q = (s - 8) >> 1;
        if (q < queues) {
          if (((s - 8) & 1) === 0) return { op: 'GET_VQUEUE', value: q, ...seq };
          const max = this.queueMax.get(q);
          return { op: 'SET_VQUEUE', value: q, size: max === undefined || max === 0 ? INIT_QUEUE_SIZE : Math.min(INIT_QUEUE_SIZE, max), ...seq };
        }
        return { op: 'SET_DEVICE_STATUS', value: FEATURES_DONE | STATUS_DRIVER_OK, ...seq };
      }
    }
  }

  /** Learn from a verified response `f` to `step` (fields read only when present). */
  onResponse(step: Step, f: Uint8Array, dv: DataView): void {
    const n = f.length;
    switch (step.op) {
      case 'GET_DEVICE_INFO':
        if (n >= 32) {
          this.configSize = dv.getUint32(20, true);
          this.maxQueues = dv.getUint32(24, true);
        }
        break;
      case 'GET_DEVICE_FEATURES':
        if (n >= 16) {
          const blocks = Math.min(dv.getUint32(12, true), 2, Math.floor((n - 16) / 4));
          for (let i = 0; i < blocks; i++) this.offered[i] = dv.getUint32(16 + 4 * i, true);
        }
        break;
      case 'GET_VQUEUE':
        if (n >= 20) this.queueMax.set(dv.getUint32(8, true), dv.getUint32(12, true));
        break;
      case 'SET_DEVICE_STATUS':
        if (n >= 12 && (step.value ?? 0) & STATUS_FEATURES_OK && (dv.getUint32(8, true) & STATUS_FEATURES_OK) === 0) this.counters.features_refused++;
        break;
      case 'GET_CONFIG':
        if (n >= 20) this.seeGeneration(dv.getUint32(8, true));
        break;
      case 'SET_CONFIG':
        if (n >= 20) {
          this.seeGeneration(dv.getUint32(8, true));
          if (dv.getUint32(16, true) === 0 && (step.length ?? 0) > 0) {
            this.counters.set_config_rejected++;
            this.readAfterReject = true; // re-read, then retry with the new generation (§8 driver rule 5)
          }
        }
        break;
      default:
        break;
    }
    if (step.seqLast === true) this.counters.sequences_completed++;
  }

  private seeGeneration(g: number): void {
    if (this.generationKnown && g !== this.generation) this.counters.generation_changes++;
    this.generation = g;
    this.generationKnown = true;
  }
}
