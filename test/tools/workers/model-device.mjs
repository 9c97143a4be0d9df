// A small virtio-msg device model with its own device-side bus, in a worker thread, on the
// device end of a router-less in-process link pair: the peer the tool tests (conformance, load
// engine) drive directly. Mode 'good' follows the rules the conformance checker observes
// (docs/PROTOCOL.md §7 bus rules as the bus, §8 device rules as the device); each other mode breaks one thing
// on purpose:
//   reorder          answers transport requests in batches of 4, newest first (§7 rule 16)
//   dup              answers every transport request twice (§7 rule 17)
//   answers-events   answers EVENT_AVAIL with a response-typed frame (§7 rule 20)
//   bad-ping         echoes PING data with bit 0 flipped (§7 rule 28)
//   bad-get-devices  answers misaligned GET_DEVICES windows and gives a short bitmap (§7 rule 27)
//   answers-malformed answers frames it should drop (bad msg_size, unknown ids, truncated payloads) (§7 rule 19, §8 device rule 2)
//   wrong-id         answers GET_DEVICE_STATUS with msg_id GET_DEVICE_INFO
//   no-reset         SET_DEVICE_STATUS 0 leaves status and queues as they were (§8 device rule 7)
//   stale-generation SET_CONFIG with a stale generation is applied (§8 device rule 6)
//   pause            stops reading for `pauseMs` once, after `pauseAfter` requests (backpressure)
// and, for every answer (bus and transport responses, EVENT_USED):
//   wrong-token      responses carry their token XOR 0x5555
//   wrong-dev        transport responses and EVENT_USED name device + 100, bus responses device 1
//   reorder-all      responses in batches of 4, newest first
//   dup-all          every response and EVENT_USED twice
// Control through shared memory only: stop[0] = 1 ends it; the final report is posted once.
import { parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../../dist/src/endpoint/port.js';

const { link, module, stop: stopBuf, mode = 'good', devices = [1], pauseAfter = 1000, pauseMs = 300 } = workerData;
const stop = new Int32Array(stopBuf);
const port = new EndpointPort(link, { spinBeforeSleep: 200 }, module);
const MAX = link.maxMessageSize;
const CONFIG_SIZE = 8;
const QUEUES = 2;
const QUEUE_MAX = 128;
const OFFERED = [0x00000003, 0x00000001]; // two device bits and VERSION_1 (bit 32)

const state = new Map(devices.map((d) => [d, fresh()]));
function fresh() {
  return { status: 0, driverFeatures: [0, 0], generation: 7, config: new Uint8Array(CONFIG_SIZE).fill(0x11), queues: Array.from({ length: QUEUES }, () => null) };
}

let requests = 0, answered = 0, paused = false;
const held = [];

function out(type, id, dev, token, payload) {
  const f = new Uint8Array(8 + payload.length);
  const dv = new DataView(f.buffer);
  f[0] = type; f[1] = id; dv.setUint16(2, dev, true); dv.setUint16(4, token, true); dv.setUint16(6, f.length, true);
  f.set(payload, 8);
  return f;
}
function words(...w) {
  const b = new Uint8Array(4 * w.length);
  const dv = new DataView(b.buffer);
  w.forEach((x, i) => dv.setUint32(4 * i, x >>> 0, true));
  return b;
}
function emit(f) {
  const isResponse = (f[0] & 1) !== 0, isUsed = f[0] === 0 && f[1] === 0x42;
  if (mode === 'wrong-token' && isResponse) f[4] ^= 0x55, f[5] ^= 0x55;
  if (mode === 'wrong-dev' && (isResponse || isUsed)) {
    if (f[0] & 2) f[2] = 1, f[3] = 0;
    else f[2] = (f[2] + 100) & 0xff; // devices here are below 100
  }
  if (mode === 'reorder-all' && isResponse) {
    held.push(f);
    if (held.length === 4) while (held.length) send(held.pop());
    return;
  }
  send(f);
  if (mode === 'dup-all' && (isResponse || isUsed)) send(f);
}
function send(f) {
  while (!port.send(f)) {
    port.flush();
    if (Atomics.load(stop, 0)) return;
  }
  answered++;
}
function respond(f) {
  if (mode === 'reorder' && f[0] === 1) {
    held.push(f);
    if (held.length === 4) while (held.length) emit(held.pop());
    return;
  }
  emit(f);
  if (mode === 'dup' && f[0] === 1) emit(f);
}

function bus(f, dv, id, dev, token, size) {
  if (dev !== 0) return; // §7 rule 11
  if (id === 0x03 && size === 12) {
    const data = dv.getUint32(8, true) ^ (mode === 'bad-ping' ? 1 : 0);
    respond(out(3, 3, 0, token, words(data)));
  } else if (id === 0x02 && size === 12) {
    const offset = dv.getUint16(8, true);
    let count = dv.getUint16(10, true);
    if ((offset % 8 !== 0 || count % 8 !== 0) && mode !== 'bad-get-devices' && mode !== 'answers-malformed') return; // §7 rule 27: drop
    count = Math.min(count, Math.floor((MAX - 14) * 8 / 8) * 8, 65536 - offset);
    count -= count % 8;
    const bitmapBytes = mode === 'bad-get-devices' ? 0 : count / 8;
    const p = new Uint8Array(6 + bitmapBytes);
    const pv = new DataView(p.buffer);
    pv.setUint16(0, offset, true); pv.setUint16(2, count, true); pv.setUint16(4, 0, true);
    for (const d of devices) if (d >= offset && d < offset + count && mode !== 'bad-get-devices') p[6 + ((d - offset) >> 3)] |= 1 << ((d - offset) & 7);
    respond(out(3, 2, 0, token, p));
  } else if (mode === 'answers-malformed') {
    respond(out(3, id, 0, token, []));
  }
}

// Exact request sizes (PR28): a request of another size is malformed and dropped (§8 device rule 2).
function expectedSize(id, dv, size) {
  switch (id) {
    case 0x02: case 0x07: return 8;
    case 0x03: case 0x05: return 16;
    case 0x04: return size >= 16 ? 16 + 4 * dv.getUint32(12, true) : 16;
    case 0x06: return size >= 20 ? 20 + dv.getUint32(16, true) : 20;
    case 0x08: case 0x09: case 0x0b: case 0x0c: return 12;
    case 0x0a: return 48;
    default: return -1;
  }
}

function transport(f, dv, id, dev, token, size) {
  const s = state.get(dev);
  if (s === undefined) return; // not our device: drop (§7 rule 14)
  if (id === 0x41) { // EVENT_AVAIL -> EVENT_USED for the queue (this model uses buffers at once)
    if (size !== 16) return;
    if (mode === 'answers-events') emit(out(1, 0x41, dev, token, []));
    emit(out(0, 0x42, dev, 0, words(dv.getUint32(8, true))));
    return;
  }
  if (id & 0x40) return; // other events: nothing to answer
  requests++;
  if (expectedSize(id, dv, size) !== size) {
    if (mode === 'answers-malformed') respond(out(1, id, dev, token, []));
    return;
  }
  const r = (payload) => respond(out(1, mode === 'wrong-id' && id === 0x07 ? 0x02 : id, dev, token, payload));
  switch (id) {
    case 0x02: return r(words(4, 0x1af4, 64, CONFIG_SIZE, QUEUES, 0));
    case 0x03: {
      const block = dv.getUint32(8, true), n = dv.getUint32(12, true);
      if (16 + 4 * n > MAX) return;
      return r(words(block, n, ...Array.from({ length: n }, (_, i) => OFFERED[block + i] ?? 0)));
    }
    case 0x04: {
      const block = dv.getUint32(8, true), n = dv.getUint32(12, true);
      for (let i = 0; i < n; i++) if (block + i < 2) s.driverFeatures[block + i] = dv.getUint32(16 + 4 * i, true);
      return r([]);
    }
    case 0x05: {
      const off = dv.getUint32(8, true), len = dv.getUint32(12, true);
      if (off + len > CONFIG_SIZE) return;
      const p = new Uint8Array(12 + len);
      p.set(words(s.generation, off, len));
      p.set(s.config.subarray(off, off + len), 12);
      return r(p);
    }
    case 0x06: {
      const gen = dv.getUint32(8, true), off = dv.getUint32(12, true), len = dv.getUint32(16, true);
      if (off + len > CONFIG_SIZE) return;
      if (gen !== s.generation && mode !== 'stale-generation') return r(words(s.generation, off, 0));
      const data = f.subarray(20, 20 + len);
      if (data.some((b, i) => b !== s.config[off + i])) {
        s.generation = (s.generation + 1) >>> 0; // bumped before the change is visible (§8 device rule 6)
        s.config.set(data, off);
      }
      return r(words(s.generation, off, len));
    }
    case 0x07: return r(words(s.status));
    case 0x08: {
      const status = dv.getUint32(8, true);
      if (status === 0) {
        if (mode !== 'no-reset') {
          const g = s.generation, c = s.config;
          Object.assign(s, fresh(), { generation: g, config: c }); // generation survives a reset
        }
        return r(words(mode === 'no-reset' ? s.status : 0));
      }
      let st = status;
      if (st & 0x08) {
        const ok = s.driverFeatures.every((w, i) => (w & ~OFFERED[i]) === 0);
        if (!ok) st &= ~0x08;
      }
      s.status = st;
      return r(words(st));
    }
    case 0x09: {
      const i = dv.getUint32(8, true);
      const q = i < QUEUES ? s.queues[i] : null;
      const p = new Uint8Array(40);
      const pv = new DataView(p.buffer);
      pv.setUint32(0, i, true);
      pv.setUint32(4, i < QUEUES ? QUEUE_MAX : 0, true);
      if (q) {
        pv.setUint32(8, q.size, true);
        pv.setBigUint64(16, q.desc, true); pv.setBigUint64(24, q.drv, true); pv.setBigUint64(32, q.dev, true);
      }
      return r(p);
    }
    case 0x0a: {
      const i = dv.getUint32(8, true), size = dv.getUint32(16, true);
      if (i >= QUEUES || size === 0 || size > QUEUE_MAX) return;
      s.queues[i] = { size, desc: dv.getBigUint64(24, true), drv: dv.getBigUint64(32, true), dev: dv.getBigUint64(40, true) };
      return r([]);
    }
    case 0x0b: {
      const i = dv.getUint32(8, true);
      if (i < QUEUES) s.queues[i] = null;
      return r([]);
    }
    case 0x0c: return r(words(dv.getUint32(8, true), 0, 0));
    default:
      if (mode === 'answers-malformed') r([]);
  }
}

parentPort.postMessage('ready');
while (!Atomics.load(stop, 0)) {
  if (mode === 'pause' && !paused && requests >= pauseAfter) {
    paused = true;
    port.flush();
    Atomics.wait(stop, 0, 0, pauseMs);
  }
  const a = port.peek();
  if (a === 0) {
    port.flush();
    if (held.length) { while (held.length) send(held.pop()); port.flush(); }
    port.wait(5);
    continue;
  }
  const size = port.u8[a + 6] | (port.u8[a + 7] << 8);
  const f = port.u8.slice(a, a + Math.max(8, Math.min(size, MAX)));
  port.release();
  const dv = new DataView(f.buffer);
  if (size < 8 || size > MAX) { if (mode === 'answers-malformed') respond(out(f[0] | 1, f[1], dv.getUint16(2, true), dv.getUint16(4, true), [])); continue; }
  const type = f[0] & 3, id = f[1], dev = dv.getUint16(2, true), token = dv.getUint16(4, true);
  if (type & 1) continue; // responses are not for a device to receive
  if (id >= 0x80) { if (mode === 'answers-malformed') respond(out(type | 1, id, dev, token, [])); continue; } // unsupported: dropped
  if (type & 2) bus(f, dv, id, dev, token, size);
  else transport(f, dv, id, dev, token, size);
}
port.flush();
parentPort.postMessage({ requests, answered });
