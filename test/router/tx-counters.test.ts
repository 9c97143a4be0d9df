// The per-frame output counters (EC_TX and EC_TX_BYTES, added to together: one 16-byte
// read-modify-write, or two whole u64 stores in the scalar build): read from the main thread
// while a shard worker routes, neither ever goes back, and at rest each is the exact total of
// the frames written to the link.
import { describe, it, expect } from 'vitest';
import { Router } from '../../src/router/router.js';
import type { RouterOptions } from '../../src/router/options.js';
import { scalarModule } from '../../src/wasm/module.js';
import { createRouterWithModule } from '../../src/router/test-hooks.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { until } from '../helpers/wait.js';

/** GET_DEVICE_STATUS for device 1, token `t`, padded to `size` bytes. */
function request(t: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  const dv = new DataView(f.buffer);
  f[1] = 0x07;
  dv.setUint16(2, 1, true); dv.setUint16(4, t & 0xffff, true); dv.setUint16(6, size, true);
  return f;
}

// Both builds of the hot path: vmsg.wasm (Wasm SIMD: one 16-byte read-modify-write) and
// vmsg.scalar.wasm (separate whole u64 stores), which CPUs without SIMD run.
const BUILDS: [string, (opts: RouterOptions) => Promise<Router>][] = [
  ['simd', (opts) => Router.create(opts)],
  ['scalar', (opts) => createRouterWithModule(opts, scalarModule())],
];

describe.each(BUILDS)('EC_TX and EC_TX_BYTES (%s build)', (_build, create) => {
  it('never go back while read mid-traffic, and are exact at rest', async () => {
    const router = await create({ shards: 1, timeoutMs: 20_000 });
    try {
      const driver = new EndpointPort(await router.attachDriver());
      const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await until(() => driver.recv() !== null, 'EVENT_DEVICE READY');
      const deviceLink = device.link.id;
      const SIZE = 24;
      const N = 4000;
      let sent = 0;
      let answered = 0;
      let received = 0;
      let reads = 0;
      let last = { tx: 0, txBytes: 0 };
      const look = (): void => {
        const ep = router.stats().endpoints.find((e) => e.id === deviceLink)!;
        expect(ep.tx).toBeGreaterThanOrEqual(last.tx);
        expect(ep.txBytes).toBeGreaterThanOrEqual(last.txBytes);
        expect(ep.tx).toBeLessThanOrEqual(sent);
        expect(ep.txBytes).toBeLessThanOrEqual(sent * SIZE);
        last = { tx: ep.tx, txBytes: ep.txBytes };
        reads++;
      };
      await until(() => {
        // Keep up to 32 requests in flight; the device answers each; stats read on every turn.
        while (sent < N && sent - received < 32 && driver.send(request(sent, SIZE))) sent++;
        driver.flush();
        for (let f = device.recv(); f !== null; f = device.recv()) {
          const a = f.slice(0, 8);
          a[0] = 1; // the response: same id, dev_num and the router's token, header only
          new DataView(a.buffer).setUint16(6, 8, true);
          if (!device.send(a)) throw new Error('device ring full');
          answered++;
        }
        device.flush();
        while (driver.recv() !== null) received++;
        look();
        return received === N;
      }, `${N} answers`, 20_000);
      expect(answered).toBe(N);
      look();
      expect(last).toEqual({ tx: N, txBytes: N * SIZE });
      expect(reads).toBeGreaterThan(10);
    } finally {
      await router.close();
    }
  });
});
