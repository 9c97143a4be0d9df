// A driver in its own worker thread, for the device/driver tests: runs one scenario with the
// Driver SDK against devices the test started in other workers, and talks to the test only at
// scenario steps (postMessage {type:'step'} → waits for {type:'go'}), never per frame.
import { parentPort, workerData } from 'node:worker_threads';
import { VirtioDriver } from '../../../dist/src/driver/driver.js';
import { BlockDriver } from '../../../dist/src/driver/block-driver.js';
import { EntropyDriver } from '../../../dist/src/driver/entropy-driver.js';
import { EchoDriver } from '../../../dist/src/driver/echo-driver.js';
import { TransportError, DeviceRemovedError, DeviceResetError } from '../../../dist/src/driver/errors.js';
import { VIRTQ_DESC_SIZE, VIRTQ_AVAIL_RING, VIRTQ_AVAIL_IDX, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../../dist/src/virtqueue/split-layout.js';

const { link, memory, module, scenario, params, profile } = workerData;
const driver = new VirtioDriver(link, { memory, module, profile, requestTimeoutMs: 10_000 });

let goResolve;
parentPort.on('message', (m) => { if (m.type === 'go') goResolve?.(m); });
/** Tell the test we reached `name`; resolves when it says go. */
function step(name, data = {}) {
  return new Promise((resolve) => {
    goResolve = resolve;
    parentPort.postMessage({ type: 'step', name, data });
  });
}

/** Bytes of block `k` of a test pattern: differs per block, per byte and per seed. */
function pattern(k, bytes, seed) {
  const out = new Uint8Array(bytes);
  let x = (k * 2654435761 + seed) >>> 0;
  for (let i = 0; i < bytes; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24;
  }
  return out;
}

/** Write `count` chunks of `chunk` bytes from sector `first`, `inFlight` at a time, then read back and compare. */
async function writeThenVerify(blk, { first = 0, count, chunk, inFlight = 8, seed = 1 }) {
  const sectors = chunk / 512;
  let next = 0;
  const writer = async () => { for (let k = next++; k < count; k = next++) await blk.write(first + k * sectors, pattern(k, chunk, seed)); };
  await Promise.all(Array.from({ length: inFlight }, writer));
  await blk.flush();
  let mismatches = 0, verified = 0;
  next = 0;
  const reader = async () => {
    for (let k = next++; k < count; k = next++) {
      const back = await blk.read(first + k * sectors, chunk);
      if (Buffer.compare(Buffer.from(back), Buffer.from(pattern(k, chunk, seed))) !== 0) mismatches++;
      else verified += chunk;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, reader));
  return { written: count * chunk, verified, mismatches };
}

const outcome = (p) => p.then(
  (v) => ({ ok: true, value: v instanceof Uint8Array ? v.length : v }),
  (e) => ({ ok: false, name: e.name, reason: e instanceof TransportError ? e.reason : undefined, message: e.message }),
);

/** Publish a chain whose descriptors the test chose (as a buggy or hostile driver could), then notify. */
function injectChain(dev, descriptors, head = 0) {
  const vq = dev.queue(0);
  const { size, descAddr, driverAddr } = vq.layout;
  const m = driver.memory;
  for (const [i, d] of descriptors) {
    const at = descAddr - m.base + i * VIRTQ_DESC_SIZE;
    m.data.setBigUint64(at, BigInt(d.addr), true);
    m.data.setUint32(at + 8, d.len, true);
    m.data.setUint16(at + 12, d.flags, true);
    m.data.setUint16(at + 14, d.next ?? 0, true);
  }
  const ring = driverAddr - m.base;
  const idx = m.loadAcquireU16(ring + VIRTQ_AVAIL_IDX);
  m.data.setUint16(ring + VIRTQ_AVAIL_RING + 2 * (idx % size), head, true);
  m.storeReleaseU16(ring + VIRTQ_AVAIL_IDX, (idx + 1) & 0xffff);
  dev.notify(0);
}

function waitFor(cond, ms = 10_000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error('condition not reached in time'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

const scenarios = {
  /** Full init of every device given, and one use of each. */
  async initAll({ devices }) {
    const out = { enumerated: await driver.enumerate(), devices: [] };
    for (const { dev, kind } of devices) {
      const r = { dev, kind };
      if (kind === 'block') {
        const blk = await BlockDriver.open(driver, dev);
        Object.assign(r, { capacity: blk.capacity, id: await blk.id(), readOnly: blk.readOnly });
        await blk.write(0, pattern(0, 4096, 7));
        r.roundTrip = Buffer.compare(Buffer.from(await blk.read(0, 4096)), Buffer.from(pattern(0, 4096, 7))) === 0;
        r.device = blk.device;
      } else if (kind === 'entropy') {
        const ent = await EntropyDriver.open(driver, dev);
        const a = await ent.read(4096), b = await ent.read(4096);
        r.lengths = [a.length, b.length];
        r.distinct = Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0;
        r.distinctBytes = new Set(a).size;
        r.device = ent.device;
      } else if (kind === 'echo') {
        const echo = await EchoDriver.open(driver, dev);
        r.echoed = Buffer.from(await echo.echo(new TextEncoder().encode('virtio-msg echo'))).toString();
        r.device = echo.device;
      }
      const d = r.device;
      r.state = d.state;
      r.info = d.info;
      r.features = '0x' + d.features.toString(16);
      delete r.device;
      out.devices.push(r);
    }
    return out;
  },

  /** `mib` MiB written and read back through the block device. */
  async blockIo({ dev, mib, chunk = 65536 }) {
    const blk = await BlockDriver.open(driver, dev);
    const t0 = performance.now();
    const r = await writeThenVerify(blk, { count: (mib << 20) / chunk, chunk });
    return { ...r, ms: performance.now() - t0 };
  },

  /** Config space: writeback via SET_CONFIG, capacity change via EVENT_CONFIG. */
  async config({ dev }) {
    const blk = await BlockDriver.open(driver, dev);
    const before = { capacity: blk.capacity, generation: blk.device.generation };
    const changes = [];
    blk.device.onConfigChange((c) => changes.push({ generation: c.generation, offset: c.offset, length: c.data.length }));
    await blk.setWriteback(false);
    const wce = (await blk.device.readConfig(32, 1))[0];
    await step('resize');
    await waitFor(() => blk.capacity !== before.capacity);
    // A write carrying a stale generation is rejected (length 0); the SDK re-reads the generation and retries.
    blk.device.generation = (blk.device.generation + 1000) >>> 0;
    const requestsBefore = driver.counters.requests;
    await blk.setWriteback(true);
    const requestsForStaleWrite = driver.counters.requests - requestsBefore;
    return { before, after: { capacity: blk.capacity, generation: blk.device.generation }, wce, wceAfter: (await blk.device.readConfig(32, 1))[0], changes, requestsForStaleWrite };
  },

  /** EVENT_DEVICE REMOVED with requests outstanding, then READY: probed and initialised again. */
  async hotplug({ dev }) {
    const events = [];
    driver.onHotplug((e) => events.push({ dev: e.dev, state: e.state }));
    const blk = await BlockDriver.open(driver, dev);
    const first = await writeThenVerify(blk, { count: 16, chunk: 4096, seed: 3 });
    await step('hold-device'); // the test makes the device stop reading its ring
    const pendingConfig = [outcome(blk.device.readConfig(0, 8)), outcome(blk.device.readConfig(8, 4))];
    const pendingIo = [outcome(blk.write(64, pattern(1, 4096, 5))), outcome(blk.read(0, 4096))];
    await new Promise((r) => setTimeout(r, 50)); // let the router forward them
    await step('remove-device'); // the test removes the device from the router
    const failed = { config: await Promise.all(pendingConfig), io: await Promise.all(pendingIo) };
    await waitFor(() => events.some((e) => e.state === 'removed'));
    const stateAfterRemove = blk.device.state;
    const refused = await outcome(blk.write(0, pattern(2, 4096, 5)));
    await step('add-device'); // the test adds it back
    await waitFor(() => blk.device.state === 'ready' && events.some((e) => e.state === 'added'));
    const again = await writeThenVerify(blk, { count: 16, chunk: 4096, seed: 9 });
    return { first, failed, stateAfterRemove, refused, events, again, reinits: blk.device.reinits, counters: driver.counters };
  },

  /** DEVICE_NEEDS_RESET: a device-side fault with I/O in flight; the driver resets, re-inits and retries. */
  async needsReset({ dev }) {
    const blk = await BlockDriver.open(driver, dev, { queueSize: 64 });
    const resets = [];
    blk.device.onStateChange((s, why) => resets.push({ s, why }));
    const before = await writeThenVerify(blk, { count: 32, chunk: 16384, seed: 11 });
    // Writes in the ring while the queue is broken on purpose behind them (a head beyond the
    // queue size): the device stops reading while we set this up, so the order is certain.
    await step('hold-device');
    const inFlight = Array.from({ length: 8 }, (_, k) => blk.write(2048 + k * 32, pattern(k, 16384, 13)));
    await waitFor(() => blk.device.queue(0).outstanding === 8);
    injectChain(blk.device, [], 0xffff);
    await step('release-device');
    await Promise.all(inFlight);
    await waitFor(() => blk.device.state === 'ready' && blk.device.reinits >= 1);
    let mismatches = 0;
    for (let k = 0; k < 8; k++) {
      const back = await blk.read(2048 + k * 32, 16384);
      if (Buffer.compare(Buffer.from(back), Buffer.from(pattern(k, 16384, 13))) !== 0) mismatches++;
    }
    const after = await writeThenVerify(blk, { count: 32, chunk: 16384, seed: 17 });
    return { before, after, mismatches, reinits: blk.device.reinits, states: resets.map((r) => r.s), whys: resets.map((r) => r.why) };
  },

  /** Malformed descriptors of several kinds: each is refused with NEEDS_RESET, the device lives on. */
  async malformed({ dev }) {
    const blk = await BlockDriver.open(driver, dev, { queueSize: 16 });
    const m = driver.memory;
    const kinds = {
      'head beyond queue size': () => injectChain(blk.device, [], 100),
      'address outside guest memory': () => injectChain(blk.device, [[0, { addr: m.end + 4096, len: 16, flags: 0 }]]),
      'address near 2^64': () => injectChain(blk.device, [[0, { addr: 0xffff_ffff_ffff_f000n, len: 4096, flags: 0 }]]),
      'length past the window end': () => injectChain(blk.device, [[0, { addr: m.end - 8, len: 64, flags: 0 }]]),
      'descriptor loop': () => injectChain(blk.device, [[0, { addr: m.base, len: 16, flags: VIRTQ_DESC_F_NEXT, next: 1 }], [1, { addr: m.base, len: 16, flags: VIRTQ_DESC_F_NEXT, next: 0 }]]),
      'next beyond queue size': () => injectChain(blk.device, [[0, { addr: m.base, len: 16, flags: VIRTQ_DESC_F_NEXT, next: 999 }]]),
      'readable after writable': () => injectChain(blk.device, [[0, { addr: m.base, len: 16, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 }], [1, { addr: m.base + 64, len: 16, flags: 0 }]]),
      'indirect without the feature': () => injectChain(blk.device, [[0, { addr: m.base, len: 16, flags: 4 }]]),
    };
    const results = [];
    for (const [kind, inject] of Object.entries(kinds)) {
      const reinits = blk.device.reinits;
      inject();
      await waitFor(() => blk.device.reinits > reinits && blk.device.state === 'ready');
      const ok = await writeThenVerify(blk, { count: 4, chunk: 4096, seed: results.length + 1 });
      results.push({ kind, recovered: ok.mismatches === 0 && ok.verified === 4 * 4096 });
    }
    // A request the device can parse but not serve: a status, not a fault.
    return { results, reinits: blk.device.reinits };
  },

  /** Typed errors: an unvalidated device number, a device that never answers, a request after close. */
  async errors({ silentDev }) {
    const unvalidated = await outcome(driver.request({ message: 'GET_DEVICE_STATUS', response: false, dev_num: 999, token: 0 }));
    const silent = await outcome(driver.request({ message: 'GET_DEVICE_STATUS', response: false, dev_num: silentDev, token: 0 }));
    const deadline = await outcome(driver.request({ message: 'GET_DEVICE_STATUS', response: false, dev_num: silentDev, token: 0 }, 50));
    return { unvalidated, silent, deadline };
  },
};

try {
  const result = await scenarios[scenario](params);
  await driver.close();
  parentPort.postMessage({ type: 'result', result: JSON.parse(JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) });
} catch (e) {
  parentPort.postMessage({ type: 'error', message: e.stack ?? String(e) });
}
