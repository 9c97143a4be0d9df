// A device endpoint in its own worker thread, for router tests. Modes:
//   echo     answer every request at once (response = request header with the response bit,
//            12 bytes, status word = the request's token); EVENT_AVAIL -> EVENT_USED
//   reverse  collect `batch` requests, answer them in reverse order
//   silent   read requests, never answer
//   stall    never read the ring at all (until stop)
//   dup      answer every request twice (the second is a duplicate)
// Control comes through shared memory: `stop` (Int32Array) index 0 = 1 ends it. The final
// report is posted once (control only, never per message).
import { parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../../dist/src/endpoint/port.js';

const { link, mode, batch = 8, stopBuffer, module } = workerData;
const stop = new Int32Array(stopBuffer);
const port = new EndpointPort(link, { spinBeforeSleep: 200 }, module);
const u8 = port.u8;
let requests = 0, events = 0, answered = 0;
const held = [];

function respond(hdr0, hdr1, dev, token) {
  for (;;) {
    const s = port.reserve();
    if (s !== 0) {
      u8[s] = 1; u8[s + 1] = hdr1; u8[s + 2] = dev & 0xff; u8[s + 3] = dev >> 8;
      u8[s + 4] = token & 0xff; u8[s + 5] = token >> 8; u8[s + 6] = 12; u8[s + 7] = 0;
      port.dv.setUint32(s + 8, token, true);
      port.commit();
      answered++;
      return;
    }
    port.flush();
    if (Atomics.load(stop, 0)) return;
  }
}

function event(id, dev, vq) {
  for (;;) {
    const s = port.reserve();
    if (s !== 0) {
      u8[s] = 0; u8[s + 1] = id; u8[s + 2] = dev & 0xff; u8[s + 3] = dev >> 8;
      u8[s + 4] = 0; u8[s + 5] = 0; u8[s + 6] = 12; u8[s + 7] = 0;
      port.dv.setUint32(s + 8, vq, true);
      port.commit();
      return;
    }
    port.flush();
    if (Atomics.load(stop, 0)) return;
  }
}

while (!Atomics.load(stop, 0)) {
  if (mode === 'stall') { Atomics.wait(stop, 0, 0, 5); continue; } // never reads its ring
  const f = port.peek();
  if (f === 0) {
    port.flush();
    if (mode === 'reverse' && held.length) { while (held.length) { const h = held.pop(); respond(...h); } port.flush(); }
    port.wait(5);
    continue;
  }
  const type = u8[f], id = u8[f + 1], dev = u8[f + 2] | (u8[f + 3] << 8), token = u8[f + 4] | (u8[f + 5] << 8);
  const vq = port.dv.getUint32(f + 8, true);
  port.release();
  if (type & 2) continue; // bus message (EVENT_DEVICE is never sent to devices)
  if (id & 0x40) {
    events++;
    if (id === 0x41 && mode !== 'silent') event(0x42, dev, vq);
    continue;
  }
  requests++;
  if (mode === 'echo') respond(1, id, dev, token);
  else if (mode === 'dup') { respond(1, id, dev, token); respond(1, id, dev, token); }
  else if (mode === 'reverse') {
    held.push([1, id, dev, token]);
    if (held.length >= batch) { while (held.length) respond(...held.pop()); }
  }
}
port.flush();
parentPort.postMessage({ requests, events, answered });
