// The driver side of `vmsg bench` (README "CLI" contract): drives an external device-side bus
// through a FrameChannel with at most `outstanding` frames in flight and verifies every answer.
//   init   the virtio initialisation sequence, over and over (GET_DEVICE_INFO, SET_DEVICE_STATUS
//          ACKNOWLEDGE / DRIVER, GET_DEVICE_FEATURES, SET_DRIVER_FEATURES, SET_DEVICE_STATUS
//          FEATURES_OK, GET_DEVICE_STATUS, GET_VQUEUE, SET_VQUEUE, SET_DEVICE_STATUS DRIVER_OK):
//          each request's response must have the response bit, its msg_id, the device and our token;
//   ping   bus PINGs (dev_num 0) whose 32-bit data must come back unchanged;
//   avail  EVENT_AVAIL for a distinct virtqueue per frame in flight (so a bus may not merge them),
//          each answered by an EVENT_USED for that queue (after one request, so the device's
//          events have a driver to go to).
// Answers must come back in sending order (one device): one that belongs to a later frame is
// an order violation, one that belongs to none an error; frames never answered (no progress
// for `idleMs`) are errors. PINGs the other side sends us (keep-alives) are answered.
import type { FrameChannel } from '../bus/bus-link.js';
import { encodeHeader } from '../protocol/codec.js';
import { PingResponder } from '../client/exchange.js';
import { ShmFrameChannel } from '../bus/shm-channel.js';
import { runFrameEngine } from './frame-engine.js';
import { tryBellAddon } from '../native/bell.js';
import {
  HDR_SIZE, HDR_DEV_NUM, HDR_TOKEN, TYPE_BUS, TYPE_RESPONSE, B_PING, T_GET_DEVICE_INFO, T_GET_DEVICE_FEATURES, T_SET_DRIVER_FEATURES, T_GET_DEVICE_STATUS,
  T_SET_DEVICE_STATUS, T_GET_VQUEUE, T_SET_VQUEUE, T_EVENT_AVAIL, T_EVENT_USED,
} from '../protocol/constants.js';

export { BENCH_MODES, type BenchMode, type FrameBenchOptions, type FrameBenchResult } from './frame-bench-options.js';
import type { FrameBenchOptions, FrameBenchResult } from './frame-bench-options.js';

interface InFlight {
  /** What identifies the answer: our token (init), the PING data (ping), the virtqueue (avail). */
  key: number;
  msgId: number;
  t0: number;
}

// Device status bits (virtio 1.x §2.1).
const ACKNOWLEDGE = 1;
const DRIVER = 2;
const FEATURES_OK = 8;
const DRIVER_OK = 4;

/** One step of the initialisation sequence (10 steps, then again): msg_id and payload. */
export function initStep(i: number): { id: number; payload: number[] } {
  const u32 = (...v: number[]): number[] => v.flatMap((x) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff]);
  switch (i % 10) {
    case 0: return { id: T_GET_DEVICE_INFO, payload: [] };
    case 1: return { id: T_SET_DEVICE_STATUS, payload: u32(ACKNOWLEDGE) };
    case 2: return { id: T_SET_DEVICE_STATUS, payload: u32(ACKNOWLEDGE | DRIVER) };
    case 3: return { id: T_GET_DEVICE_FEATURES, payload: u32(0, 2) };
    case 4: return { id: T_SET_DRIVER_FEATURES, payload: u32(0, 2, 0x00000001, 0x00000001) };
    case 5: return { id: T_SET_DEVICE_STATUS, payload: u32(ACKNOWLEDGE | DRIVER | FEATURES_OK) };
    case 6: return { id: T_GET_DEVICE_STATUS, payload: [] };
    case 7: return { id: T_GET_VQUEUE, payload: u32(0) };
    // index, reserved, size, reserved, then desc / driver / device addresses (u64 each)
    case 8: return { id: T_SET_VQUEUE, payload: u32(0, 0, 256, 0, 0x10000, 0, 0x11000, 0, 0x12000, 0) };
    default: return { id: T_SET_DEVICE_STATUS, payload: u32(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK) };
  }
}

function frame(type: number, id: number, dev: number, token: number, payload: number[]): Uint8Array {
  const f = new Uint8Array(HDR_SIZE + payload.length);
  encodeHeader({ type, msg_id: id, dev_num: dev, token, msg_size: f.length }, f);
  f.set(payload, HDR_SIZE);
  return f;
}

/** The first u32 of the payload: PING data, EVENT_AVAIL / EVENT_USED vq_index. */
const PAYLOAD_U32 = HDR_SIZE;
/** Bus messages carry at least 4 payload bytes here (PING). */
const MIN_ANSWER = HDR_SIZE + 4;

const u32le = (f: Uint8Array, at: number): number => (f[at]! | (f[at + 1]! << 8) | (f[at + 2]! << 16) | (f[at + 3]! << 24)) >>> 0;
const u16le = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Send one request and wait for its answer, untimed: binds us as the device's driver before an avail run. */
async function bindDriver(ch: FrameChannel, dev: number, idleMs: number, pings: PingResponder): Promise<boolean> {
  const token = 0xfffe;
  while (!ch.send(frame(0, T_GET_DEVICE_STATUS, dev, token, []))) await ch.wait(10);
  ch.flush();
  const deadline = Date.now() + idleMs;
  while (Date.now() < deadline) {
    for (let f = ch.recv(); f !== null; f = ch.recv()) {
      if (pings.take(f)) pings.send(ch);
      else if (f[0] === TYPE_RESPONSE && f[1] === T_GET_DEVICE_STATUS && u16le(f, HDR_TOKEN) === token) return true;
    }
    await ch.wait(Math.max(1, deadline - Date.now()));
  }
  return false;
}

export async function runFrameBench(ch: FrameChannel, o: FrameBenchOptions): Promise<FrameBenchResult> {
  const { mode, dev, outstanding } = o;
  let count = o.count;
  const idleMs = o.idleMs ?? 5000;
  let errors = 0;
  // The bus may PING us (keep-alive): answered on the side, never counted as an answer.
  const pings = new PingResponder();
  if (mode === 'avail' && !(await bindDriver(ch, dev, idleMs, pings))) errors++;
  // The engine needs the doorbell addon (src/native/bell.ts); without it the JS loop below runs.
  if (o.engine !== 'js' && ch instanceof ShmFrameChannel && tryBellAddon() !== null) {
    pings.send(ch);
    const r = await runFrameEngine(ch.rings(), o);
    return { ...r, errors: r.errors + errors };
  }
  const inFlight: InFlight[] = [];
  // Latencies of the first answers (all of them up to 20 M) for the percentiles.
  const latencies = new Float64Array(Math.min(count, 20_000_000));
  let sent = 0;
  let received = 0;
  let order = 0;
  const t0 = performance.now();
  let lastProgress = t0;

  /** Match one answer against the frames in flight: the oldest is expected. */
  const settle = (matches: (x: InFlight) => boolean): void => {
    const at = inFlight.findIndex(matches);
    if (at < 0) {
      errors++;
      return;
    }
    if (at !== 0) order++;
    const [x] = inFlight.splice(at, 1);
    if (received < latencies.length) latencies[received] = performance.now() - x!.t0;
    received++;
  };

  while (sent < count || inFlight.length > 0) {
    let progress = false;
    for (let f = ch.recv(); f !== null; f = ch.recv()) {
      progress = true;
      const type = f[0]!;
      const id = f[1]!;
      if (pings.take(f)) continue;
      if (mode === 'ping') {
        if (type === (TYPE_BUS | TYPE_RESPONSE) && id === B_PING && f.length >= MIN_ANSWER) settle((x) => x.key === u32le(f, PAYLOAD_U32));
        else if (!(type & TYPE_BUS)) errors++;
      } else if (mode === 'avail') {
        if (type === 0 && id === T_EVENT_USED && u16le(f, HDR_DEV_NUM) === dev && f.length >= MIN_ANSWER) settle((x) => x.key === u32le(f, PAYLOAD_U32));
        else if (!(type & TYPE_BUS)) errors++;
      } else if (type & TYPE_BUS) {
        // EVENT_DEVICE and other bus events: not ours to count
      } else if (!(type & TYPE_RESPONSE)) {
        // transport events (EVENT_CONFIG, EVENT_USED) are not answers
      } else {
        // Our token names the request; it must also come back with its msg_id and device.
        const token = u16le(f, HDR_TOKEN);
        const req = inFlight.find((x) => x.key === token);
        if (req !== undefined && (id !== req.msgId || u16le(f, HDR_DEV_NUM) !== dev)) errors++;
        settle((x) => x === req);
      }
    }
    pings.send(ch);
    if (o.stopSendingAfterMs !== undefined && sent < count && performance.now() - t0 > o.stopSendingAfterMs) count = sent;
    while (sent < count && inFlight.length < outstanding) {
      let f: Uint8Array;
      let x: InFlight;
      const now = performance.now();
      if (mode === 'init') {
        const step = initStep(sent);
        const token = (sent % 0xffff) + 1; // never 0 (events), unique among ≤ 65535 in flight
        f = frame(0, step.id, dev, token, step.payload);
        x = { key: token, msgId: step.id, t0: now };
      } else if (mode === 'ping') {
        const data = sent >>> 0;
        f = frame(TYPE_BUS, B_PING, 0, (sent % 0xffff) + 1, [data & 0xff, (data >>> 8) & 0xff, (data >>> 16) & 0xff, data >>> 24]);
        x = { key: data, msgId: B_PING, t0: now };
      } else {
        const vq = sent % 65536;
        f = frame(0, T_EVENT_AVAIL, dev, 0, [vq & 0xff, vq >> 8, 0, 0, sent & 0xff, (sent >>> 8) & 0xff, (sent >>> 16) & 0xff, 0]);
        x = { key: vq, msgId: T_EVENT_AVAIL, t0: now };
      }
      if (!ch.send(f)) break;
      inFlight.push(x);
      sent++;
      progress = true;
    }
    ch.flush();
    const now = performance.now();
    if (progress) {
      lastProgress = now;
      continue;
    }
    if (now - lastProgress > idleMs) break;
    await ch.wait(Math.min(100, idleMs));
  }
  errors += inFlight.length; // never answered
  const seconds = (performance.now() - t0) / 1000;
  const n = Math.min(received, latencies.length);
  const sorted = latencies.subarray(0, n).sort();
  const us = (ms: number): number => Number((ms * 1000).toFixed(2));
  return {
    mode,
    sent,
    received,
    errors,
    order_violations: order,
    seconds: Number(seconds.toFixed(6)),
    round_trips_per_s: seconds > 0 ? Math.round(received / seconds) : 0,
    p50_us: us(percentile(sorted, 50)),
    p99_us: us(percentile(sorted, 99)),
  };
}
