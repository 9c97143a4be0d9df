// sequence-op-cost: the profile load tool's WASM engine (assembly/loadgen/sequence.ts) per
// operation, with no second thread and no waiting: one thread alternates one engine pass
// (read the answers, verify and record them, send the next requests) with the WASM echo device
// (assembly/device/echo.ts) answering them on a router-less in-process pair. What varies between
// two builds is then the engine's own work: the figure is the fastest chunk of calls (another
// process on the core only slows chunks down). `--engine mode`: the `vmsg bench --mode` engine
// (assembly/loadgen/driver.ts) the same way, for comparison.
//   node dist/bench/sequence-op-cost.js [--ops N] [--profile init|ping] [--outstanding K] [--engine profile|mode]
import { createInprocPair } from '../src/bus/inproc-channel.js';
import { EndpointPort } from '../src/endpoint/port.js';
import { engineLayout } from '../src/loadgen/engine-layout.js';
import { InFlight } from '../src/loadgen/in-flight.js';
import { LoadMetrics } from '../src/loadgen/load-metrics.js';
import type { ProfileSpec } from '../src/loadgen/profiles.js';
import { deviceCycle, setupSequenceMemory } from '../src/loadgen/sequence-setup.js';
import { argInt, argStr } from './stats.js';

const ops = argInt('ops', 3_000_000);
const outstanding = argInt('outstanding', 1);
const name = argStr('profile', 'init');
if (name !== 'init' && name !== 'ping') throw new Error(`--profile init or ping, got ${name}`);
const engine = argStr('engine', 'profile');
if (engine !== 'profile' && engine !== 'mode') throw new Error(`--engine profile or mode, got ${engine}`);
/** Engine calls per timed chunk. */
const CHUNK = 250_000;

const L = engineLayout();
const pair = createInprocPair({ maxMessageSize: 264, ringCapacity: 256 });
const driver = new EndpointPort(pair.driver);
const device = new EndpointPort(pair.device);
const { wasm, dv } = pair.mem;

/** Call `step` (one engine pass) and the echo in turn until `step` says done: the fastest chunk's ns per operation. */
function timed(step: () => boolean): number {
  let best = Infinity;
  for (let more = true; more;) {
    const c0 = performance.now();
    let i = 0;
    for (; i < CHUNK && (more = step()); i++) wasm.echoSome(device.in, device.out, 64);
    // With the window full a call answers and sends `outstanding` operations.
    if (i === CHUNK) best = Math.min(best, ((performance.now() - c0) * 1e6) / CHUNK / outstanding);
  }
  return Math.round(best);
}

/** lgRun on its own state, set up as src/driver/frame-engine.ts does. */
function modeEngine(): number {
  const st = pair.mem.alloc(L.LG_STATE_SIZE);
  const u32 = (off: number, v: number): void => dv.setUint32(st + off, v, true);
  u32(L.LG_MODE, name === 'ping' ? L.LG_MODE_PING : L.LG_MODE_INIT);
  u32(L.LG_DEV, 1);
  u32(L.LG_TX, driver.out);
  u32(L.LG_RX, driver.in);
  u32(L.LG_OUTSTANDING, outstanding);
  u32(L.LG_FIFO, pair.mem.alloc(Math.max(64, outstanding * L.LG_ENTRY_SIZE)));
  u32(L.LG_HIST, pair.mem.alloc(L.HIST_BUCKETS * 8));
  u32(L.LG_SPINS, 1);
  dv.setBigUint64(st + L.LG_COUNT, BigInt(ops), true);
  wasm.lgSetup(st);
  const ns = timed(() => wasm.lgRun(st, 1) !== L.LG_DONE);
  const answered = Number(dv.getBigUint64(st + L.LG_RECEIVED, true));
  if (answered !== ops || dv.getBigUint64(st + L.LG_ERRORS, true) !== 0n) throw new Error(`${answered} of ${ops} answered, or errors`);
  return ns;
}

/** lgSeqRun on the memory the load tool sets up (src/loadgen/sequence-setup.ts), as sequence-run.ts starts it. */
function profileEngine(): number {
  const profile: ProfileSpec = { name: name as 'init' | 'ping' };
  const flight = new InFlight(name === 'ping' ? [] : [1], profile, outstanding, new LoadMetrics(1000, 10_000), 10_000);
  const m = setupSequenceMemory(pair.mem, flight.devices, flight.devices.map((o) => deviceCycle(o, profile)!), profile, {
    outstanding, queues: outstanding, maxMessageSize: 264,
  });
  if (m === undefined) throw new Error('no room for the engine');
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
  const ns = timed(() => {
    const r = wasm.lgSeqRun(st, 1, m.scratch);
    if (dv.getUint32(st + L.LGS_LOG_N, true) !== 0) throw new Error('the engine logged an event: the echo answered wrongly');
    return r !== L.LG_DONE;
  });
  const completed = Number(dv.getBigUint64(st + L.LGS_COMPLETED, true));
  if (completed !== ops) throw new Error(`${completed} of ${ops} operations completed`);
  return ns;
}

try {
  const ns = engine === 'mode' ? modeEngine() : profileEngine();
  console.log(JSON.stringify({ engine, profile: name, outstanding, ops, ns_per_op: ns }));
} finally {
  driver.close();
  device.close();
}
