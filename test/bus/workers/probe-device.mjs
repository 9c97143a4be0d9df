// A device endpoint that shows what reached it, for the bus model tests: every frame it reads is
// logged (type, msg_id, dev_num, token, msg_size) into shared memory, and it answers transport
// and bus requests (same msg_id, dev_num and token; 12 bytes, status 0x0f) — at once, or, in
// mode 'hold', only after control[1] is set (so requests in flight pile up at the device); in
// mode 'noread' it does not read its ring at all until control[1] is set (so its queue fills).
// control[0] = 1 stops it.
import { parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../../dist/src/endpoint/port.js';

const { link, module, control: controlBuf, log: logBuf, mode = 'answer' } = workerData;
const control = new Int32Array(controlBuf);
const log = new Int32Array(logBuf); // [count, then 5 ints per frame]
const port = new EndpointPort(link, { spinBeforeSleep: 200 }, module);
const held = [];

function answer(f) {
  const r = new Uint8Array(12);
  r.set(f.subarray(0, 6));
  r[0] = f[0] | 1;
  r[6] = 12; r[7] = 0;
  r[8] = 0x0f;
  while (!port.send(r)) { port.flush(); port.wait(1); }
}

while (Atomics.load(control, 0) === 0) {
  const released = Atomics.load(control, 1) !== 0;
  if (mode === 'noread' && !released) { Atomics.wait(control, 1, 0, 20); continue; }
  if (released && held.length > 0) { for (const h of held.splice(0)) answer(h); port.flush(); }
  const f = port.recv();
  if (f === null) {
    port.flush();
    port.wait(5);
    continue;
  }
  const n = log[0];
  if (5 * n + 6 <= log.length) {
    log.set([f[0], f[1], f[2] | (f[3] << 8), f[4] | (f[5] << 8), f[6] | (f[7] << 8)], 1 + 5 * n);
    Atomics.store(log, 0, n + 1);
  }
  const request = (f[0] & 1) === 0 && (f[1] & 0x40) === 0;
  if (!request) continue;
  if (mode === 'hold' && !released) held.push(f);
  else { answer(f); port.flush(); }
}
port.flush();
port.flushReceived();
parentPort?.postMessage({ type: 'stopped' });
