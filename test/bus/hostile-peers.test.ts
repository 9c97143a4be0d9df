// A hostile peer process (tools/hostile-peer.ts) attacks one shared-memory link of a router —
// its indices, torn frames, vmamp queue-head states, the window file shrunk under both
// processes — while a well-behaved driver keeps 8 requests in flight to two echo devices on
// other links of the same router. The router survives every attack (a shrunk window is a
// SIGBUS it must absorb), the good driver loses nothing and sees no failure, the attacked link
// goes down or its bad frames are dropped with reasons, and no window file is left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Router } from '../../src/router/router.js';
import { accountingViolations, checkAccounting, waitQuiescent } from '../../src/router/accounting.js';
import { runHostile, hostileWindowPath } from '../../tools/hostile-session.js';
import { startLoadPair } from '../../tools/load-pair.js';
import { ATTACK_BUSES, ATTACKS } from '../../tools/hostile-attacks.js';
import { until } from '../helpers/wait.js';

const HOSTILE_DEV = 3;
const cases = ATTACKS.flatMap((attack) => ATTACK_BUSES[attack].map((bus) => ({ bus, attack })));

describe('a hostile shared-memory peer attacks one link while a good driver routes through others', () => {
  let router: Router;
  beforeAll(async () => {
    // A generous timeout: on a loaded 2-core machine a slow echo must not turn into a failure.
    router = await Router.create({ shards: 1, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await router?.close();
  });

  it.each(cases)('$bus $attack: the router survives, the good driver loses nothing, the attacked link pays', async ({ bus, attack }) => {
    const pair = await startLoadPair(router, { devices: [1, 2], drivers: 1, outstanding: 8, spareDevices: [HOSTILE_DEV] });
    const tag = `test-${bus}-${attack}`;
    let stopped = false;
    try {
      await until(() => pair.sent() > 1000, 'the good driver to get going', 20_000);
      // Truncated to nothing: a partial last page can read as zeros without a SIGBUS, and this test is about the SIGBUS.
      const res = await runHostile(router, { bus, attack, seconds: 3, sessionSeconds: 1.5, dev: HOSTILE_DEV, seed: 0x5eed, tag, shrinkTo: 0 });
      expect(res.peerFailures, JSON.stringify(res)).toBe(0);
      expect(res.sessions).toBeGreaterThan(0);
      const dropped = Object.values(res.drops).reduce((t, n) => t + n, 0);
      switch (attack) {
        case 'indices':
          expect(res.peer.outOfRange).toBeGreaterThan(0);
          break;
        case 'torn':
          expect(res.peer.torn).toBeGreaterThan(0);
          expect(dropped, JSON.stringify(res.drops)).toBeGreaterThan(0); // the torn ones that did not heal
          break;
        case 'states':
          expect(res.peer.stateFlips).toBeGreaterThan(0);
          expect((res.linkDowns['peer-dead'] ?? 0) + (res.linkDowns['peer-shutdown'] ?? 0), JSON.stringify(res.linkDowns)).toBeGreaterThan(0);
          break;
        case 'shrink':
          expect(res.peer.truncated).toBeGreaterThan(0);
          expect(res.windowsLost).toBeGreaterThan(0); // a SIGBUS absorbed, not the end of the process
          expect(res.linkDowns['peer-dead'], JSON.stringify(res.linkDowns)).toBeGreaterThan(0);
          break;
      }
      // The good driver kept routing through the attack and after it.
      const mark = pair.sent();
      await until(() => pair.sent() > mark + 1000, 'the good driver to keep routing after the attack', 20_000);
      const good = await pair.stop();
      stopped = true;
      expect(good.lost).toBe(0);
      expect(good.drivers).toEqual([expect.objectContaining({ failures: 0, orderErrors: 0, other: 0 })]);
      expect(good.drivers[0]!.responses).toBe(good.drivers[0]!.sent);
      const st = await waitQuiescent(router, 15_000);
      expect(accountingViolations(checkAccounting(st))).toEqual([]);
      expect(existsSync(hostileWindowPath(tag))).toBe(false);
    } finally {
      if (!stopped) await pair.stop();
      for (const l of [...pair.deviceLinks, ...pair.driverLinks]) await router.detach(l).catch(() => {});
    }
  }, 90_000);
});
