// rss-mb: resident memory of a process running a Router with 2 shards and 1024 devices, each
// on its own device endpoint (1024 device links, the realistic layout), plus one driver, with
// default options (264-byte links, 256-slot rings). Read with process.memoryUsage().rss after
// attaching, then again after a burst of traffic through 8 of the devices (the driver and the
// 8 echo devices are run from this thread, so no extra worker threads add their own RSS).
import { readFileSync } from 'node:fs';
import { Router } from '../src/router/router.js';
import { EndpointPort } from '../src/endpoint/port.js';
import { echoSome } from '../src/device/echo.js';
import type { LinkDescriptor } from '../src/endpoint/link.js';
import { argInt, emit, isQuick, log, sleep } from './stats.js';

const MiB = 1024 * 1024;
const GET_DEVICE_STATUS = 0x07;

const rssMiB = (): number => process.memoryUsage().rss / MiB;

/** Resident MiB of the mapping of exactly `bytes` (the shared WebAssembly.Memory), from smaps. */
function mappingResidentMiB(bytes: number): number {
  let size = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (line.startsWith('Size:')) size = Number(line.split(/\s+/)[1]) * 1024;
    else if (line.startsWith('Rss:') && size === bytes) return (Number(line.split(/\s+/)[1]) * 1024) / MiB;
  }
  return NaN;
}

/** Send `total` requests round-robin over the echo devices and wait for every answer. */
async function traffic(drv: EndpointPort, echoes: EndpointPort[], devices: number[], total: number): Promise<number> {
  const u8 = drv.u8;
  let sent = 0;
  let answered = 0;
  const deadline = Date.now() + 30_000;
  while (answered < total) {
    if (Date.now() > deadline) throw new Error(`rss: only ${answered} of ${total} answered in 30 s`);
    for (let slot = sent < total ? drv.reserve() : 0; slot !== 0 && sent - answered < 256; slot = sent < total ? drv.reserve() : 0) {
      const dev = devices[sent % devices.length]!;
      u8.set([0, GET_DEVICE_STATUS, dev & 0xff, dev >> 8, sent & 0xff, (sent >> 8) & 0xff, 8, 0], slot);
      drv.commit();
      sent++;
    }
    drv.flush();
    for (const e of echoes) echoSome(e);
    for (let f = drv.peek(); f !== 0; f = drv.peek()) {
      if (u8[f] === 1) answered++;
      drv.release();
    }
    drv.flushReceived();
    await sleep(0); // the shards are workers: let them run even on one core
  }
  return sent;
}

async function main(): Promise<void> {
  const quick = isQuick();
  const devices = argInt('devices', 1024);
  const burst = argInt('requests', quick ? 50_000 : 200_000);
  await sleep(50);
  const bare = rssMiB();
  const router = await Router.create({ shards: 2 });
  const links: LinkDescriptor[] = [];
  for (let d = 1; d <= devices; d++) links.push(await router.attachDevice({ devices: [d] }));
  const drv = new EndpointPort(await router.attachDriver());
  await sleep(100);
  const attached = rssMiB();
  const memBytes = router.mem.buffer.byteLength;
  const sharedAttached = mappingResidentMiB(memBytes);

  const busy = links.slice(0, 8);
  const echoes = busy.map((l) => new EndpointPort(l));
  await traffic(drv, echoes, busy.map((l) => l.devices[0]!), burst);
  await sleep(100);
  const afterTraffic = rssMiB();
  const sharedAfter = mappingResidentMiB(memBytes);
  const st = router.stats();
  const used = router.mem.used / MiB;
  await router.close();
  log(`rss: bare ${bare.toFixed(1)} MiB, ${devices} devices attached ${attached.toFixed(1)} MiB, after ${burst} requests ${afterTraffic.toFixed(1)} MiB`);
  if (st.totals.dropped !== 0 || st.totals.failures !== 0) throw new Error(`rss: ${st.totals.dropped} drops, ${st.totals.failures} failures`);
  emit({
    samples: { 'rss-mb': attached, 'rss-mb-after-traffic': afterTraffic, 'rss-mb-bare-node': bare },
    info: {
      devices, device_endpoints: devices, shards: 2, requests: burst,
      // Of the shared memory: handed out by the allocator, and actually resident (touched pages).
      shared_memory_allocated_mb: Number(used.toFixed(1)),
      shared_memory_resident_mb: Number(sharedAttached.toFixed(1)),
      shared_memory_resident_after_traffic_mb: Number(sharedAfter.toFixed(1)),
    },
  });
}

await main();
