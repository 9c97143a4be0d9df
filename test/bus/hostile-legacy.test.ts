// A hostile legacy v0 device side (the C QEMU peer's `hostile` mode: garbage after every reply's
// fields, one request in three never answered, an unsolicited garbage frame after each reply)
// behind one link, session after session, while a well-behaved driver keeps 8 requests in
// flight to two echo devices on other links. The hostile device's own driver gets exactly one
// outcome per request, in order, and no garbage; the good driver loses nothing and sees no
// failure; nothing is left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Router } from '../../src/router/router.js';
import { accountingViolations, checkAccounting, waitQuiescent } from '../../src/router/accounting.js';
import { runHostileLegacy } from '../../tools/hostile-legacy.js';
import { hostileWindowPath } from '../../tools/hostile-session.js';
import { startLoadPair } from '../../tools/load-pair.js';
import { legacySkipReason, removeLegacyFiles } from './legacy-helpers.js';
import { until } from '../helpers/wait.js';

describe.skipIf(legacySkipReason !== null)('a hostile legacy device side at full speed beside good links', () => {
  let router: Router;
  beforeAll(async () => {
    router = await Router.create({ shards: 1, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await router?.close();
    await removeLegacyFiles();
  });

  it('every request to it ends once and in order, the good driver loses nothing', async () => {
    const pair = await startLoadPair(router, { devices: [1, 2], drivers: 1, outstanding: 8 });
    let stopped = false;
    try {
      await until(() => pair.sent() > 1000, 'the good driver to get going', 20_000);
      const res = await runHostileLegacy(router, { seconds: 3, sessionSeconds: 1.5, dev: 7, tag: 'test-legacy' });
      expect(res.peerFailures, JSON.stringify(res)).toBe(0);
      expect(res.peer.unanswered).toBeGreaterThan(0);
      expect(res.peer.garbage_frames).toBeGreaterThan(0);
      expect(res).toMatchObject({ lost: 0, orderErrors: 0, other: 0 });
      expect(res.responses).toBeGreaterThan(0);
      expect(res.failures).toBeGreaterThan(0); // the never-answered ones, each failed once
      expect(res.responses + res.failures).toBe(res.sent);
      const mark = pair.sent();
      await until(() => pair.sent() > mark + 1000, 'the good driver to keep routing', 20_000);
      const good = await pair.stop();
      stopped = true;
      expect(good.lost).toBe(0);
      expect(good.drivers).toEqual([expect.objectContaining({ failures: 0, orderErrors: 0, other: 0 })]);
      expect(accountingViolations(checkAccounting(await waitQuiescent(router, 15_000)))).toEqual([]);
      expect(existsSync(`${hostileWindowPath('test-legacy')}-ram`)).toBe(false);
    } finally {
      if (!stopped) await pair.stop();
      for (const l of [...pair.deviceLinks, ...pair.driverLinks]) await router.detach(l).catch(() => {});
    }
  }, 90_000);
});
