// A vmamp device side in a worker thread that misbehaves on purpose, by request number within
// each run of `perRun` requests (the load engine's verification is what is under test):
//   badId      answered with msg_id + 1
//   swap       this one is held and answered right after the next one (out of order)
//   dup        answered twice
//   drop       never answered
//   pingBefore before answering it, the device sends a keep-alive PING (data 0xC0FFEE00 + n)
//              and an EVENT_CONFIG (not an answer); the PING's answer is checked.
// Busy-polls (no doorbell socket), naps briefly when idle. When the main thread posts 'stop' it
// closes the window (the file goes with it), then reports {pings, pingErrors}.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMemory } from '../../../dist/src/memory/shared-memory.js';
import { ShmWindow } from '../../../dist/src/bus/shm-window.js';
import { vmampDeviceInit, VmampBringUp, vmampProducer, vmampConsumer, VMAMP_ROLE_DEVICE } from '../../../dist/src/ring/vmamp.js';

const { path, size, perRun, script } = workerData;
const mem = new SharedMemory({ bytes: 2 << 20 });
const win = ShmWindow.create(mem, path, size, 'vmamp');
const layout = vmampDeviceInit(mem, win.base, size);
win.publish();
const bringUp = new VmampBringUp(mem.buffer, layout, VMAMP_ROLE_DEVICE);
const nap = new Int32Array(new SharedArrayBuffer(4));
let stop = false;
parentPort.on('message', (m) => { if (m === 'stop') stop = true; });
parentPort.postMessage('ready');

const turn = () => new Promise((r) => setImmediate(r));
while (bringUp.step() !== 'running') await turn();
const tx = vmampProducer(mem, layout, VMAMP_ROLE_DEVICE, { batch: 1 });
const rx = vmampConsumer(mem, layout, VMAMP_ROLE_DEVICE, { batch: 1 });

function frame(type, id, dev, token, payload = []) {
  const f = new Uint8Array(8 + payload.length);
  const dv = new DataView(f.buffer);
  f[0] = type; f[1] = id; dv.setUint16(2, dev, true); dv.setUint16(4, token, true); dv.setUint16(6, f.length, true);
  f.set(payload, 8);
  return f;
}
const u32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
function push(f) {
  while (!tx.tryPush(f)) Atomics.wait(nap, 0, 0, 0.05);
  tx.flush();
}
function answer(req, idDelta = 0) {
  push(frame(1, req[1] + idDelta, req[2] | (req[3] << 8), req[4] | (req[5] << 8), u32(0x0f)));
}

let n = 0; // requests seen
let held = null;
let pings = 0;
let pingErrors = 0;
const sentPings = new Set();
for (let idle = 0; !stop; ) {
  const f = rx.tryPop();
  if (f === null) {
    if (++idle > 256) { Atomics.wait(nap, 0, 0, 0.05); idle = 0; }
    if ((idle & 63) === 0) await turn(); // hear 'stop'
    continue;
  }
  idle = 0;
  rx.flush();
  if (f[0] === 3 && f[1] === 3) { // our PING answered
    const data = f[8] | (f[9] << 8) | (f[10] << 16) | (f[11] << 24) >>> 0;
    if (sentPings.delete(data >>> 0)) pings++; else pingErrors++;
    continue;
  }
  if (f[0] === 2 && f[1] === 3) { // the driver's PING: echoed
    push(frame(3, 3, 0, f[4] | (f[5] << 8), Array.from(f.subarray(8, 12))));
    continue;
  }
  if (f[0] !== 0) continue; // nothing else is for us
  const i = n++ % perRun;
  const what = script[i];
  if (what === 'pingBefore') {
    const data = (0xc0ffee00 + i) >>> 0;
    sentPings.add(data);
    push(frame(2, 3, 0, 0x7777, u32(data)));
    push(frame(0, 0x40, 1, 0, u32(0))); // EVENT_CONFIG: an event, not an answer
  }
  if (what === 'swap') { held = f; continue; }
  if (what === 'drop') continue;
  answer(f, what === 'badId' ? 1 : 0);
  if (what === 'dup') answer(f);
  if (held !== null) { answer(held); held = null; }
}
bringUp.shutdown();
win.close(true); // before the report: the test checks the file is gone once it has it
parentPort.postMessage({ pings, pingErrors });
