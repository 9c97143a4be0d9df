// A driver endpoint in its own worker thread that keeps `outstanding` GET_DEVICE_STATUS requests
// in flight to each device of `devices` until `stop[0]` = 1, then waits (up to `drainMs`) for
// what is still open. It times every request and reports per device: responses, transport
// failures by reason, the longest request latency and the longest gap between two answers
// while requests were open (head-of-line blocking shows up there), plus anything unexpected:
// answers to nothing, doubles, out-of-order answers. One report at the end (control only).
import { parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../../dist/src/endpoint/port.js';

const { link, module, devices, outstanding, stopBuffer, drainMs = 5000 } = workerData;
const stop = new Int32Array(stopBuffer);
const port = new EndpointPort(link, { spinBeforeSleep: 200 }, module);
const u8 = port.u8;
const per = new Map(devices.map((d) => [d, {
  next: 1, open: new Map(), responses: 0, failures: {}, maxLatencyMs: 0, maxGapMs: 0, lastAnswer: 0, lastToken: 0,
}]));
let sent = 0, unexpected = 0, outOfOrder = 0, deviceEvents = 0;

function settle(dev, token, reason) {
  const st = per.get(dev);
  const t0 = st?.open.get(token);
  if (t0 === undefined) { unexpected++; return; }
  st.open.delete(token);
  const now = performance.now();
  st.maxLatencyMs = Math.max(st.maxLatencyMs, now - t0);
  if (st.lastAnswer !== 0) st.maxGapMs = Math.max(st.maxGapMs, now - st.lastAnswer);
  st.lastAnswer = now;
  if (token <= st.lastToken) outOfOrder++;
  st.lastToken = token;
  if (reason === 0) st.responses++;
  else st.failures[reason] = (st.failures[reason] ?? 0) + 1;
}

function drain() {
  let n = 0;
  for (let f = port.peek(); f !== 0; f = port.peek()) {
    const type = u8[f], id = u8[f + 1];
    if (type === 1) settle(u8[f + 2] | (u8[f + 3] << 8), u8[f + 4] | (u8[f + 5] << 8), 0);
    else if (type === 2 && id === 0xc1) settle(u8[f + 8] | (u8[f + 9] << 8), u8[f + 12] | (u8[f + 13] << 8), u8[f + 11]);
    else if (type === 2 && id === 0x40) deviceEvents++;
    else unexpected++;
    port.release();
    n++;
  }
  port.flushReceived();
  return n;
}

const openCount = () => [...per.values()].reduce((t, s) => t + s.open.size, 0);
let stopAt = 0;
for (;;) {
  let progress = 0;
  if (!Atomics.load(stop, 0)) {
    for (const [dev, st] of per) {
      while (st.open.size < outstanding && st.next < 0xffff) {
        const s = port.reserve();
        if (s === 0) break;
        const token = st.next++;
        u8[s] = 0; u8[s + 1] = 0x07; u8[s + 2] = dev & 0xff; u8[s + 3] = dev >> 8;
        u8[s + 4] = token & 0xff; u8[s + 5] = token >> 8; u8[s + 6] = 8; u8[s + 7] = 0;
        port.commit();
        if (st.open.size === 0) st.lastAnswer = performance.now(); // a gap starts when requests are open
        st.open.set(token, performance.now());
        sent++;
        progress++;
      }
    }
    port.flush();
  } else {
    stopAt ||= Date.now();
    if (openCount() === 0 || Date.now() - stopAt > drainMs) break;
  }
  progress += drain();
  if (progress === 0) port.wait(1);
}
drain();
const report = { sent, unexpected, outOfOrder, deviceEvents, open: openCount(), devices: {} };
for (const [dev, st] of per) {
  report.devices[dev] = { responses: st.responses, failures: st.failures, maxLatencyMs: st.maxLatencyMs, maxGapMs: st.maxGapMs, open: st.open.size };
}
parentPort.postMessage(report);
