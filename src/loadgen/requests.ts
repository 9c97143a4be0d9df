// The load engine's frames (docs/PROTOCOL.md §5 transport and §6 bus layouts, PR28 / PATCH v1 payloads):
// one Step = one message to send, built into a reused buffer; and what the engine reads back
// from responses (only when the response is long enough to hold the field: a minimal device
// such as the echo device answers every request with 12 bytes, which is still a valid answer
// for the header checks every response gets).
import {
  B_GET_DEVICES, B_PING, HDR_SIZE, TYPE_BUS, T_EVENT_AVAIL, T_GET_CONFIG, T_GET_DEVICE_FEATURES, T_GET_DEVICE_INFO,
  T_GET_DEVICE_STATUS, T_GET_SHM, T_GET_VQUEUE, T_SET_CONFIG, T_SET_DEVICE_STATUS, T_SET_DRIVER_FEATURES, T_SET_VQUEUE,
} from '../protocol/constants.js';
import type { OpName } from './profiles.js';

export interface Step {
  op: OpName;
  /** SET_DEVICE_STATUS status; GET/SET_VQUEUE, GET_SHM and EVENT_AVAIL queue index; PING data. */
  value?: number;
  /** SET_VQUEUE size. */
  size?: number;
  /** SET_DRIVER_FEATURES words (blocks 0..n-1). */
  features?: number[];
  /** GET/SET_CONFIG window and SET_CONFIG generation and fill byte. */
  offset?: number;
  length?: number;
  generation?: number;
  fill?: number;
  /** Which init sequence step this is (init profiles), and whether it ends the sequence. */
  seqStep?: number;
  seqLast?: boolean;
}

export interface OpWire {
  msgId: number;
  bus: boolean;
  event: boolean;
}

export const OP_WIRE: Readonly<Record<OpName, OpWire>> = {
  GET_DEVICE_INFO: { msgId: T_GET_DEVICE_INFO, bus: false, event: false },
  GET_DEVICE_FEATURES: { msgId: T_GET_DEVICE_FEATURES, bus: false, event: false },
  SET_DRIVER_FEATURES: { msgId: T_SET_DRIVER_FEATURES, bus: false, event: false },
  GET_CONFIG: { msgId: T_GET_CONFIG, bus: false, event: false },
  SET_CONFIG: { msgId: T_SET_CONFIG, bus: false, event: false },
  GET_DEVICE_STATUS: { msgId: T_GET_DEVICE_STATUS, bus: false, event: false },
  SET_DEVICE_STATUS: { msgId: T_SET_DEVICE_STATUS, bus: false, event: false },
  GET_VQUEUE: { msgId: T_GET_VQUEUE, bus: false, event: false },
  SET_VQUEUE: { msgId: T_SET_VQUEUE, bus: false, event: false },
  GET_SHM: { msgId: T_GET_SHM, bus: false, event: false },
  EVENT_AVAIL: { msgId: T_EVENT_AVAIL, bus: false, event: true },
  PING: { msgId: B_PING, bus: true, event: false },
  GET_DEVICES: { msgId: B_GET_DEVICES, bus: true, event: false },
};

/** GET_DEVICES window the engine asks for: 64 device numbers (a 22-byte response). */
export const LOAD_GET_DEVICES_COUNT = 64;
/** Queue size the init sequence programs when the device's max_size is unknown. */
export const INIT_QUEUE_SIZE = 256;

/** Guest addresses SET_VQUEUE programs for queue q: made-up but aligned and distinct per queue (nothing reads them). */
export function queueAddresses(q: number): [bigint, bigint, bigint] {
  const base = 0x1000_0000n + BigInt(q) * 0x10_0000n;
  return [base, base + 0x4000n, base + 0x8000n];
}

/** Build `step` for device `dev` with `token` into `out` (≥ the bus maximum); returns msg_size. */
export function buildStep(out: Uint8Array, dv: DataView, step: Step, dev: number, token: number): number {
  const wire = OP_WIRE[step.op];
  let size = HDR_SIZE;
  const p = HDR_SIZE;
  switch (step.op) {
    case 'GET_DEVICE_INFO':
    case 'GET_DEVICE_STATUS':
      break;
    case 'GET_DEVICE_FEATURES':
      dv.setUint32(p, 0, true);
      dv.setUint32(p + 4, 2, true);
      size += 8;
      break;
    case 'SET_DRIVER_FEATURES': {
      const f = step.features ?? [0, 0];
      dv.setUint32(p, 0, true);
      dv.setUint32(p + 4, f.length, true);
      f.forEach((w, i) => dv.setUint32(p + 8 + 4 * i, w >>> 0, true));
      size += 8 + 4 * f.length;
      break;
    }
    case 'GET_CONFIG':
      dv.setUint32(p, step.offset ?? 0, true);
      dv.setUint32(p + 4, step.length ?? 0, true);
      size += 8;
      break;
    case 'SET_CONFIG': {
      const len = step.length ?? 0;
      dv.setUint32(p, step.generation ?? 0, true);
      dv.setUint32(p + 4, step.offset ?? 0, true);
      dv.setUint32(p + 8, len, true);
      out.fill(step.fill ?? 0, p + 12, p + 12 + len);
      size += 12 + len;
      break;
    }
    case 'SET_DEVICE_STATUS':
    case 'GET_VQUEUE':
    case 'GET_SHM':
      dv.setUint32(p, step.value ?? 0, true);
      size += 4;
      break;
    case 'SET_VQUEUE': {
      const q = step.value ?? 0;
      const [desc, drv, devArea] = queueAddresses(q);
      dv.setUint32(p, q, true);
      dv.setUint32(p + 4, 0, true);
      dv.setUint32(p + 8, step.size ?? INIT_QUEUE_SIZE, true);
      dv.setUint32(p + 12, 0, true);
      dv.setBigUint64(p + 16, desc, true);
      dv.setBigUint64(p + 24, drv, true);
      dv.setBigUint64(p + 32, devArea, true);
      size += 40;
      break;
    }
    case 'EVENT_AVAIL':
      dv.setUint32(p, step.value ?? 0, true);
      dv.setUint32(p + 4, 0, true); // next_offset 0: NOTIFICATION_DATA is not negotiated (§8 driver rule 8)
      size += 8;
      break;
    case 'PING':
      dv.setUint32(p, step.value ?? 0, true);
      size += 4;
      break;
    case 'GET_DEVICES':
      dv.setUint16(p, 0, true);
      dv.setUint16(p + 2, LOAD_GET_DEVICES_COUNT, true);
      size += 4;
      break;
  }
  out[0] = wire.bus ? TYPE_BUS : 0;
  out[1] = wire.msgId;
  dv.setUint16(2, wire.bus ? 0 : dev, true);
  dv.setUint16(4, wire.event ? 0 : token, true); // events carry token 0 (§7 rule 10)
  dv.setUint16(6, size, true);
  return size;
}

/**
 * What is wrong with the payload of a response to `step`, or undefined. Only what a bus must
 * keep exact is judged (PING echo, GET_DEVICES window rules); device payloads are read, not judged.
 */
export function payloadProblem(step: Step, f: Uint8Array, dv: DataView): string | undefined {
  if (step.op === 'PING') {
    if (f.length < 12) return `PING response is ${f.length} bytes, needs 12`;
    const data = dv.getUint32(8, true);
    if (data !== (step.value ?? 0) >>> 0) return `PING echoed 0x${data.toString(16)} for 0x${((step.value ?? 0) >>> 0).toString(16)}`;
  } else if (step.op === 'GET_DEVICES') {
    if (f.length < 14) return `GET_DEVICES response is ${f.length} bytes, needs 14 or more`;
    const offset = dv.getUint16(8, true), count = dv.getUint16(10, true), next = dv.getUint16(12, true);
    if (offset !== 0) return `GET_DEVICES response offset ${offset}, asked 0`;
    if (count % 8 !== 0 || count > LOAD_GET_DEVICES_COUNT) return `GET_DEVICES response count ${count} is not a multiple of 8 up to ${LOAD_GET_DEVICES_COUNT}`;
    if (f.length !== 14 + count / 8) return `GET_DEVICES response is ${f.length} bytes for count ${count} (needs ${14 + count / 8})`;
    if (next !== 0 && (next % 8 !== 0 || next < count)) return `GET_DEVICES next_offset ${next} is neither 0 nor an aligned offset past the window`;
  }
  return undefined;
}
