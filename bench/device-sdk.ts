// device-sdk: what one Device SDK worker serves on the control plane. The entropy (and block)
// reference device runs in its own worker thread (spawnDeviceWorker, defaults) on a router-less
// in-process link (createInprocPair); this thread is its driver and sends the initialisation
// sequence of `vmsg bench --mode init` over and over with 8 requests in flight. The driver side
// allocates nothing per frame (ten prebuilt requests copied into the ring slot, token stamped in
// place) so the figure is the device worker's, and it verifies every answer: response bit,
// msg_id, device, token, in sending order. Samples: requests/s per device kind (target
// >= 200 k); info: the device worker's CPU share and requests per CPU second, and the device's
// own cost with no thread in between (host stepped in this thread; per second and per CPU second).
//
// Knobs: --kinds entropy,block (entropy,block) --outstanding K (8) --device-spin N (the worker's
//        spinBeforeSleep; default: spawnDeviceWorker's)
import { createInprocPair } from '../src/bus/inproc-channel.js';
import { EndpointPort } from '../src/endpoint/port.js';
import { spawnDeviceWorker } from '../src/device/spawn.js';
import type { DeviceKind } from '../src/device/device-worker.js';
import { initStep } from '../src/driver/frame-bench.js';
import { GuestMemory } from '../src/virtqueue/guest-memory.js';
import { DeviceHost } from '../src/device/host.js';
import { EntropyDevice } from '../src/device/entropy.js';
import { BlockDevice } from '../src/device/block.js';
import { EchoVirtioDevice } from '../src/device/echo-virtio.js';
import { HDR_SIZE, HDR_TOKEN, HDR_DEV_NUM, HDR_MSG_ID, HDR_TYPE, HDR_MSG_SIZE, TYPE_RESPONSE } from '../src/protocol/constants.js';
import { encodeHeader } from '../src/protocol/codec.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argInt, argStr, emit, isQuick, log, sig } from './stats.js';
import { ThreadRoles, newThreads, threadCpuSeconds, threadIds } from './threads.js';

const DEV = 1;
const STEPS = 10;
/** The driver returns to the event loop this often (the worker's messages, timers). */
const SLICE_MS = 50;
/** `--device-spin N`: the device worker's spinBeforeSleep (default: spawnDeviceWorker's). */
const SPIN = argInt('device-spin', -1);

interface Run {
  requests: number;
  seconds: number;
  deviceCpu: number;
}

/** Drive `port` for `ms`, K in flight; returns the answers received. Throws on a wrong answer. */
async function drive(port: EndpointPort, k: number, ms: number, counter: { sent: number; received: number }): Promise<void> {
  const frames: Uint8Array[] = [];
  const ids = new Uint8Array(STEPS);
  for (let i = 0; i < STEPS; i++) {
    const { id, payload } = initStep(i);
    const f = new Uint8Array(HDR_SIZE + payload.length);
    encodeHeader({ type: 0, msg_id: id, dev_num: DEV, token: 0, msg_size: f.length }, f);
    f.set(payload, HDR_SIZE);
    frames.push(f);
    ids[i] = id;
  }
  const u8 = port.u8;
  const end = performance.now() + ms;
  let { sent, received } = counter;
  let stopping = false;
  while (!stopping || sent > received) {
    const slice = performance.now() + SLICE_MS;
    for (;;) {
      let moved = false;
      while (!stopping && sent - received < k) {
        const slot = port.reserve();
        if (slot === 0) break;
        const token = (sent % 0xffff) + 1;
        u8.set(frames[sent % STEPS]!, slot);
        u8[slot + HDR_TOKEN] = token & 0xff;
        u8[slot + HDR_TOKEN + 1] = token >>> 8;
        port.commit();
        sent++;
        moved = true;
      }
      if (moved) port.flush();
      for (let at = port.peek(); at !== 0; at = port.peek()) {
        const token = (received % 0xffff) + 1;
        const size = u8[at + HDR_MSG_SIZE]! | (u8[at + HDR_MSG_SIZE + 1]! << 8);
        if (u8[at + HDR_TYPE] !== TYPE_RESPONSE || u8[at + HDR_MSG_ID] !== ids[received % STEPS] || size < HDR_SIZE ||
          (u8[at + HDR_DEV_NUM]! | (u8[at + HDR_DEV_NUM + 1]! << 8)) !== DEV || (u8[at + HDR_TOKEN]! | (u8[at + HDR_TOKEN + 1]! << 8)) !== token) {
          throw new Error(`answer ${received}: unexpected frame ${Buffer.from(u8.subarray(at, at + Math.max(HDR_SIZE, size))).toString('hex')}`);
        }
        port.release();
        received++;
        moved = true;
      }
      port.flushReceived();
      if (!moved && !port.wait(1000)) throw new Error(`no answer for 1 s (${sent - received} in flight)`);
      const now = performance.now();
      if (now >= end) stopping = true;
      if (now >= slice || (stopping && sent === received)) break;
    }
    counter.sent = sent;
    counter.received = received;
    await new Promise((r) => setImmediate(r));
  }
}

async function one(kind: DeviceKind, k: number, seconds: number, dir: string): Promise<Run> {
  const pair = createInprocPair({ maxMessageSize: 264, ringCapacity: 256 });
  const bytes = 1 << 20;
  const memory = new GuestMemory({ buffer: new SharedArrayBuffer(bytes), offset: 0, length: bytes, base: 0x10000 });
  let block;
  if (kind === 'block') {
    const path = join(dir, 'disk.img');
    writeFileSync(path, Buffer.alloc(1 << 20));
    block = { path };
  }
  const before = threadIds();
  const w = spawnDeviceWorker({ link: { ...pair.device, devices: [DEV] }, memory: memory.describe(), devices: [{ dev: DEV, kind, block }], ...(SPIN >= 0 ? { spinBeforeSleep: SPIN } : {}) });
  await w.ready;
  const roles = new ThreadRoles();
  roles.add('device', newThreads(before));
  const port = new EndpointPort(pair.driver, { spinBeforeSleep: 2000 });
  const counter = { sent: 0, received: 0 };
  try {
    await drive(port, k, isQuick() ? 200 : 500, counter); // warm-up: JIT and tier-up on both sides
    const r0 = counter.received;
    roles.mark();
    const t0 = performance.now();
    await drive(port, k, seconds * 1000, counter);
    const wall = (performance.now() - t0) / 1000;
    const cpu = roles.cpuShare().device ?? 0;
    return { requests: counter.received - r0, seconds: wall, deviceCpu: cpu };
  } finally {
    await w.stop();
  }
}

/**
 * The device's own cost, without threads: the same host and device stepped in this thread,
 * requests put in and answers taken out in batches of `k`. What one worker could serve if no
 * wake-up were ever needed (info only).
 */
function inline(kind: DeviceKind, k: number, ms: number, dir: string): { perS: number; perCpuS: number } {
  const pair = createInprocPair({ maxMessageSize: 264, ringCapacity: 256 });
  const bytes = 1 << 20;
  const memory = new GuestMemory({ buffer: new SharedArrayBuffer(bytes), offset: 0, length: bytes, base: 0x10000 });
  const host = new DeviceHost(pair.device, { memory });
  host.add(DEV, kind === 'block' ? new BlockDevice({ path: join(dir, 'disk.img') }) : kind === 'echo' ? new EchoVirtioDevice() : new EntropyDevice());
  const port = new EndpointPort(pair.driver, { spinBeforeSleep: 0 });
  const frames = Array.from({ length: STEPS }, (_, i) => {
    const { id, payload } = initStep(i);
    const f = new Uint8Array(HDR_SIZE + payload.length);
    encodeHeader({ type: 0, msg_id: id, dev_num: DEV, token: 1, msg_size: f.length }, f);
    f.set(payload, HDR_SIZE);
    return f;
  });
  let sent = 0, received = 0;
  const run = (until: number): void => {
    while (performance.now() < until) {
      for (let i = 0; i < k; i++) port.send(frames[sent++ % STEPS]!);
      port.flush();
      host.step();
      for (let at = port.peek(); at !== 0; at = port.peek()) {
        port.release();
        received++;
      }
      port.flushReceived();
    }
  };
  run(performance.now() + ms / 4);
  const r0 = received;
  const cpu0 = threadCpuSeconds(process.pid); // this (the main) thread only: load on the machine does not count
  const t0 = performance.now();
  run(t0 + ms);
  if (sent !== received) throw new Error(`inline: ${sent - received} requests unanswered`);
  const n = received - r0;
  const cpu = threadCpuSeconds(process.pid) - cpu0;
  return { perS: (n * 1000) / (performance.now() - t0), perCpuS: cpu > 0 ? n / cpu : NaN };
}

async function main(): Promise<void> {
  const k = argInt('outstanding', 8);
  const seconds = isQuick() ? 1 : 2;
  const kinds = argStr('kinds', 'entropy,block').split(',') as DeviceKind[];
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-bench-device-sdk-'));
  const samples: Record<string, number> = {};
  const info: Record<string, unknown> = { outstanding: k, seconds_per_run: seconds, link: 'in-process pair, 264-byte frames, 256 slots' };
  try {
    for (const kind of kinds) {
      const r = await one(kind, k, seconds, dir);
      const rate = r.requests / r.seconds;
      log(`device-sdk ${kind} init k${k}: ${sig(rate)} requests/s, device worker CPU ${r.deviceCpu}`);
      samples[`device-sdk-${kind}-init-k${k}`] = sig(rate);
      info[`${kind}-device-cpu`] = r.deviceCpu;
      info[`${kind}-requests-per-cpu-s`] = r.deviceCpu > 0 ? sig(rate / r.deviceCpu) : null;
      const own = inline(kind, k, seconds * 500, dir);
      info[`${kind}-inline-requests-per-s`] = sig(own.perS);
      info[`${kind}-inline-requests-per-cpu-s`] = sig(own.perCpuS);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ samples, info });
}

await main();
