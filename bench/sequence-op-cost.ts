// sequence-op-cost: the profile load tool's WASM engine (assembly/loadgen/sequence.ts) per
// operation, with no second thread and no waiting: one thread alternates one engine pass
// (read the answer, verify and record it, send the next request) with the WASM echo device
// (assembly/device/echo.ts) answering it on a router-less in-process pair. What varies between
// two builds is then the engine's own work, so the figure is steady under load: run it under
// `perf stat -e instructions:u` at two counts and divide the difference by the extra
// operations for instructions per operation, or read its ns per operation.
//   node dist/bench/sequence-op-cost.js [--ops N] [--profile init|ping] [--outstanding K]
import { createInprocPair } from '../src/bus/inproc-channel.js';
import { EndpointPort } from '../src/endpoint/port.js';
import { engineLayout } from '../src/loadgen/engine-layout.js';
import { InFlight } from '../src/loadgen/in-flight.js';
import { LoadMetrics } from '../src/loadgen/load-metrics.js';
import type { ProfileSpec } from '../src/loadgen/profiles.js';
import { deviceCycle, setupSequenceMemory } from '../src/loadgen/sequence-setup.js';
import { argInt, argStr } from './stats.js';

const ops = argInt('ops', 2_000_000);
const outstanding = argInt('outstanding', 1);
const name = argStr('profile', 'init');
if (name !== 'init' && name !== 'ping') throw new Error(`--profile init or ping, got ${name}`);
const profile: ProfileSpec = { name };

const L = engineLayout();
const pair = createInprocPair({ maxMessageSize: 264, ringCapacity: 256 });
const driver = new EndpointPort(pair.driver);
const device = new EndpointPort(pair.device);
const metrics = new LoadMetrics(1000, 10_000);
const flight = new InFlight(profile.name === 'ping' ? [] : [1], profile, outstanding, metrics, 10_000);
const m = setupSequenceMemory(pair.mem, flight.devices, flight.devices.map((o) => deviceCycle(o, profile)!), profile, {
  outstanding, queues: outstanding, maxMessageSize: 264,
});
if (m === undefined) throw new Error('no room for the engine');
const dv = pair.mem.dv;
const st = m.st;
const start = performance.now();
dv.setUint32(st + L.LGS_TX, driver.out, true);
dv.setUint32(st + L.LGS_RX, driver.in, true);
dv.setUint32(st + L.LGS_SPINS, 1, true);
dv.setFloat64(st + L.LGS_MEASURE_AT, start, true);
dv.setFloat64(st + L.LGS_STOP_AT, Infinity, true);
dv.setBigUint64(st + L.LGS_COUNT, BigInt(ops), true);
for (const at of [L.LGS_LAST_COMPLETION, L.LGS_LAST_EXPIRE, L.LGS_LAST, L.LGS_NEXT_DUE]) dv.setFloat64(st + at, start, true);
dv.setFloat64(st + L.LGS_TIMEOUT_MS, 10_000, true);
dv.setFloat64(st + L.LGS_STALL_MS, 10_000, true);

const w = pair.mem.wasm;
const u64 = (off: number): bigint => dv.getBigUint64(st + off, true);
for (;;) {
  // One pass a call: the answer the echo wrote, then the next request.
  const r = w.lgSeqRun(st, 1, m.scratch);
  if (dv.getUint32(st + L.LGS_LOG_N, true) !== 0) throw new Error('the engine logged an event: the echo answered wrongly');
  if (r === L.LG_DONE) break;
  w.echoSome(device.in, device.out, 64);
}
const ms = performance.now() - start;
const completed = Number(u64(L.LGS_COMPLETED));
if (completed !== ops) throw new Error(`${completed} of ${ops} operations completed`);
console.log(JSON.stringify({ profile: profile.name, outstanding, ops, ns_per_op: Math.round((ms * 1e6) / ops), sent: Number(u64(L.LGS_SENT)) }));
driver.close();
device.close();
