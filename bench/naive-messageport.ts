// naive-messageport: the pipeline case as a naive user would build it — driver worker → main
// thread "router" → device worker and back, ONE postMessage per frame over the workers'
// MessagePorts, with the same in-flight depth as the pipeline case. The main thread does the
// router's per-frame work in JS: header checks, device lookup, token stamping, remembering the
// driver's token and restoring it in the response. Round trips/s = responses the driver
// accepted over a fixed window after a warm-up.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { N_COUNT, N_ERRORS, N_RESPONSES, type NaiveEndpointData } from './workers/naive-endpoint.js';
import { argInt, emit, isQuick, log, sleep } from './stats.js';

const WORKER = new URL('./workers/naive-endpoint.js', import.meta.url);

function startEndpoint(data: Omit<NaiveEndpointData, 'counters'>, counters: SharedArrayBuffer): Worker {
  const w = new Worker(WORKER, { workerData: { ...data, counters } });
  w.on('error', (e) => {
    throw e;
  });
  return w;
}

async function main(): Promise<void> {
  const quick = isQuick();
  // Same depth as the pipeline case's defaults: 128 devices × 64 in flight.
  const devices = argInt('devices', 128);
  const outstanding = argInt('outstanding', 64);
  const seconds = argInt('seconds', quick ? 1 : 3);
  const devNums = Array.from({ length: devices }, (_, i) => i + 1);
  const countersBuf = new SharedArrayBuffer(8 * N_COUNT);
  const counters = new Float64Array(countersBuf);
  const device = startEndpoint({ role: 'device', devices: devNums, outstanding }, countersBuf);

  // Router state: per device number, the next router token and the driver token per router token.
  const known = new Uint8Array(65536);
  for (const d of devNums) known[d] = 1;
  const nextSeq = new Uint16Array(65536).fill(1);
  const driverToken = devNums.map(() => new Uint16Array(65536));
  const slotOf = new Int32Array(65536).fill(-1);
  devNums.forEach((d, i) => (slotOf[d] = i));
  let dropped = 0;

  const driver = startEndpoint({ role: 'driver', devices: devNums, outstanding }, countersBuf);
  driver.on('message', (f: Uint8Array) => {
    const dev = f[2]! | (f[3]! << 8);
    const size = f[6]! | (f[7]! << 8);
    if (f.length < 8 || size < 8 || size > f.length || f[0] !== 0 || known[dev] === 0) {
      dropped++;
      return;
    }
    const seq = nextSeq[dev]!;
    nextSeq[dev] = seq === 0xffff ? 1 : seq + 1;
    driverToken[slotOf[dev]!]![seq] = f[4]! | (f[5]! << 8);
    f[4] = seq & 0xff;
    f[5] = seq >> 8;
    device.postMessage(f);
  });
  device.on('message', (f: Uint8Array) => {
    const dev = f[2]! | (f[3]! << 8);
    const i = slotOf[dev]!;
    if (i < 0 || f[0] !== 1) {
      dropped++;
      return;
    }
    const t = driverToken[i]![f[4]! | (f[5]! << 8)]!;
    f[4] = t & 0xff;
    f[5] = t >> 8;
    driver.postMessage(f);
  });

  await sleep(quick ? 500 : 1000);
  const r0 = counters[N_RESPONSES]!;
  const t0 = performance.now();
  const elu0 = [performance, driver.performance, device.performance].map((p) => p.eventLoopUtilization());
  await sleep(seconds * 1000);
  const r1 = counters[N_RESPONSES]!;
  const t1 = performance.now();
  // How busy each thread's event loop was over the window (1 = never idle): the bottleneck.
  const [mainBusy, driverBusy, deviceBusy] = [performance, driver.performance, device.performance].map((p, i) => p.eventLoopUtilization(elu0[i]).utilization);
  await driver.terminate();
  await device.terminate();
  const errors = counters[N_ERRORS]! + dropped;
  const rate = ((r1 - r0) * 1000) / (t1 - t0);
  log(`naive-messageport ${(rate / 1e3).toFixed(0)} k round trips/s, errors ${errors}`);
  if (errors !== 0) throw new Error(`naive-messageport: ${errors} wrong or dropped frames`);
  emit({
    samples: { 'naive-messageport': rate },
    info: {
      devices, outstanding, in_flight: devices * outstanding, errors,
      event_loop_utilization: { router_main: Number(mainBusy!.toFixed(2)), driver: Number(driverBusy!.toFixed(2)), device: Number(deviceBusy!.toFixed(2)) },
    },
  });
}

await main();
