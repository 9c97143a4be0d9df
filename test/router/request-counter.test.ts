// A device's request counter (DS_C_REQUESTS) is written with the sequence and the token as each
// request opens its correlation entry (one 16-byte read-modify-write; in the scalar build, whole
// u64 stores), and its response counter (DS_C_RESPONSES) with the head as each answer is
// delivered in order. Read from the main thread while a shard worker routes, neither goes back;
// at rest both are the exact number of requests forwarded and answered, across the u32
// sequences' wrap and the token's 65535 -> 1, with each forwarded request stamped the token after its predecessor's.
import { describe, it, expect } from 'vitest';
import { Router } from '../../src/router/router.js';
import type { RouterOptions } from '../../src/router/options.js';
import { scalarModule } from '../../src/wasm/module.js';
import { ROUTER_INTERNALS } from '../../src/router/internals.js';
import { continueTokensFrom, createRouterWithModule } from '../../src/router/test-hooks.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { until } from '../helpers/wait.js';

/** GET_DEVICE_STATUS for device 1, driver token `t`, header only. */
function request(t: number): Uint8Array {
  const f = new Uint8Array(8);
  const dv = new DataView(f.buffer);
  f[1] = 0x07;
  dv.setUint16(2, 1, true); dv.setUint16(4, t & 0xffff, true); dv.setUint16(6, 8, true);
  return f;
}

// Both builds of the hot path: vmsg.wasm (Wasm SIMD: one 16-byte read-modify-write) and
// vmsg.scalar.wasm (separate whole u64 stores), which CPUs without SIMD run.
const BUILDS: [string, (opts: RouterOptions) => Promise<Router>][] = [
  ['simd', (opts) => Router.create(opts)],
  ['scalar', (opts) => createRouterWithModule(opts, scalarModule())],
];

describe.each(BUILDS)('DS_C_REQUESTS and DS_C_RESPONSES with the sequences and the token (%s build)', (_build, create) => {
  it('never goes back while read mid-traffic, and is exact at rest across both wraps', async () => {
    const router = await create({ shards: 1, timeoutMs: 20_000 });
    try {
      const FIRST_TOKEN = 0xff00;
      continueTokensFrom(router, 1, FIRST_TOKEN);
      const driver = new EndpointPort(await router.attachDriver());
      const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await until(() => driver.recv() !== null, 'EVENT_DEVICE READY');
      const { mem, tables } = router[ROUTER_INTERNALS];
      const L = tables.L;
      const ds = mem.u32[(tables.devTable >>> 2) + 1]!;
      // Nothing is in flight: start the sequences just below the u32 wrap, as a state made there.
      const FIRST_SEQ = 0xffffff00;
      for (const f of [L.DS_NEXT_SEQ, L.DS_HEAD_SEQ, L.DS_BASE_SEQ]) Atomics.store(mem.u32, (ds + f) >>> 2, FIRST_SEQ);
      const N = 4000;
      let sent = 0;
      let received = 0;
      let reads = 0;
      let lastToken = 0;
      let last = { requests: 0, responses: 0 };
      const look = (): void => {
        const d = router.stats().devices.find((x) => x.dev === 1)!;
        expect(d.requests).toBeGreaterThanOrEqual(last.requests);
        expect(d.responses).toBeGreaterThanOrEqual(last.responses);
        expect(d.requests).toBeLessThanOrEqual(sent);
        expect(d.responses).toBeLessThanOrEqual(d.requests);
        last = { requests: d.requests, responses: d.responses };
        reads++;
      };
      await until(() => {
        while (sent < N && sent - received < 32 && driver.send(request(sent))) sent++;
        driver.flush();
        for (let f = device.recv(); f !== null; f = device.recv()) {
          const token = new DataView(f.buffer, f.byteOffset).getUint16(4, true);
          expect(token).toBe(lastToken === 0 ? FIRST_TOKEN : lastToken === 0xffff ? 1 : lastToken + 1);
          lastToken = token;
          const a = f.slice(0, 8);
          a[0] = 1; // the response: same id, dev_num and the router's token
          if (!device.send(a)) throw new Error('device ring full');
        }
        device.flush();
        while (driver.recv() !== null) received++;
        look();
        return received === N;
      }, `${N} answers`, 20_000);
      look();
      expect(last).toEqual({ requests: N, responses: N });
      expect(reads).toBeGreaterThan(10);
      expect(mem.u32[(ds + L.DS_NEXT_SEQ) >>> 2]).toBe((FIRST_SEQ + N) >>> 0);
      expect(mem.u32[(ds + L.DS_HEAD_SEQ) >>> 2]).toBe((FIRST_SEQ + N) >>> 0);
      expect(mem.u32[(ds + L.DS_NEXT_TOKEN) >>> 2]).toBe(((FIRST_TOKEN - 1 + N) % 0xffff) + 1);
      expect(router.stats().devices.find((x) => x.dev === 1)!.inFlight).toBe(0);
    } finally {
      await router.close();
    }
  });
});
