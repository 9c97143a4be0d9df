// A driver endpoint in its own worker thread that floods the router: per device of `plan`,
// `count` requests with at most `limit` outstanding (no limit: a driver without flow control),
// round-robin over the devices, plus an EVENT_AVAIL to `eventDev` every `eventEvery` requests;
// its own token sequence per device, checking everything that comes back:
//   - every request ends in exactly one response or one failure event (nothing lost or doubled),
//   - per device, responses and failures of forwarded requests arrive in increasing token order.
// Posts one report at the end (control only).
import { parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../../dist/src/endpoint/port.js';

const { link, plan, eventDev = -1, eventEvery = 0, module, limitMs = 60000 } = workerData;
const devices = plan.map((p) => p.dev);
const quota = new Map(plan.map((p) => [p.dev, { count: p.count, limit: p.limit ?? Infinity }]));
const count = plan.reduce((t, p) => t + p.count, 0);
const port = new EndpointPort(link, { spinBeforeSleep: 100 }, module);
const u8 = port.u8;
const NOT_FORWARDED = new Set([10, 39, 45, 4]); // UNVALIDATED, POLICY_DENIED, DEVICE_BUSY, MSG_SIZE_GT_BUS_MAX
const next = new Map(devices.map((d) => [d, 1]));
const lastOrdered = new Map(devices.map((d) => [d, 0]));
const resolved = new Map(devices.map((d) => [d, new Uint8Array(65536)]));
const perDev = Object.fromEntries(devices.map((d) => [d, { sent: 0, responses: 0, failures: {}, settled: 0 }]));
let sent = 0, sentEvents = 0, responses = 0, failures = 0, eventsUsed = 0, orderViolations = 0, doubles = 0, other = 0;
const start = Date.now();

function settle(dev, token, isResponse, reason) {
  const seen = resolved.get(dev);
  if (!seen) { other++; return; }
  if (seen[token]) { doubles++; return; }
  seen[token] = 1;
  const st = perDev[dev];
  st.settled++;
  if (isResponse) { responses++; st.responses++; }
  else { failures++; st.failures[reason] = (st.failures[reason] ?? 0) + 1; }
  if (isResponse || !NOT_FORWARDED.has(reason)) {
    if (token <= lastOrdered.get(dev)) orderViolations++;
    lastOrdered.set(dev, token);
  }
}

function drain() {
  let n = 0;
  for (let f = port.peek(); f !== 0; f = port.peek()) {
    const type = u8[f], id = u8[f + 1];
    if (type === 1) settle(u8[f + 2] | (u8[f + 3] << 8), u8[f + 4] | (u8[f + 5] << 8), true, 0);
    else if (type === 2 && id === 0xc1) settle(u8[f + 8] | (u8[f + 9] << 8), u8[f + 12] | (u8[f + 13] << 8), false, u8[f + 11]);
    else if (type === 0 && id === 0x42) eventsUsed++;
    else if (!(type === 2 && id === 0x40)) other++;
    port.release();
    n++;
  }
  port.flushReceived();
  return n;
}

let i = 0;
while (Date.now() - start < limitMs) {
  let progressed = 0;
  for (let burst = 0; burst < 64 && sent < count; burst++) {
    const s = port.reserve();
    if (s === 0) break;
    if (eventEvery && eventDev >= 0 && i % eventEvery === eventEvery - 1 && sentEvents < count / eventEvery) {
      u8.fill(0, s, s + 16);
      u8[s + 1] = 0x41; u8[s + 2] = eventDev & 0xff; u8[s + 3] = eventDev >> 8; u8[s + 6] = 16;
      port.commit();
      sentEvents++;
      i++;
      continue;
    }
    let dev = -1;
    for (let k = 0; k < devices.length; k++) {
      const d = devices[i++ % devices.length];
      const q = quota.get(d), st = perDev[d];
      if (st.sent < q.count && st.sent - st.settled < q.limit) { dev = d; break; }
    }
    if (dev < 0) break; // every device at its quota or limit: the reserved slot stays unused
    const token = next.get(dev);
    next.set(dev, token + 1);
    u8[s] = 0; u8[s + 1] = 0x07; u8[s + 2] = dev & 0xff; u8[s + 3] = dev >> 8;
    u8[s + 4] = token & 0xff; u8[s + 5] = token >> 8; u8[s + 6] = 8; u8[s + 7] = 0;
    port.commit();
    perDev[dev].sent++;
    sent++;
    progressed++;
  }
  port.flush();
  progressed += drain();
  if (sent === count && responses + failures >= sent) break;
  if (progressed === 0) port.wait(1);
}
drain();
parentPort.postMessage({ sent, sentEvents, responses, failures, eventsUsed, orderViolations, doubles, other, perDev, unresolved: sent - responses - failures });
