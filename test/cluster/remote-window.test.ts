// The correlation window of devices imported from another router: the router's own by default,
// or a smaller one of their own (--cluster-window): the far router correlates the same requests
// in its own window, so this hop may keep less state per device. A driver may still have more
// requests in flight than that window: the rest wait in order and every one is answered, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { NatsServer, natsServerMissing } from '../../tools/nats-server.js';
import { Inbox, getStatus, sendAll, startEcho } from '../bus/stream-helpers.js';
import { until as waitFor } from '../helpers/wait.js';

const missing = natsServerMissing();


describe.skipIf(missing !== undefined)(`cluster: the correlation window of imported devices${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  let nats: NatsServer;
  let r1: Router;
  let r2: Router;
  let c2: ClusterNode;

  beforeAll(async () => {
    nats = await NatsServer.start();
    cleanup.push(() => nats.stop());
    r1 = await Router.create({ shards: 1, spinBeforeSleep: 0, window: 64 });
    cleanup.push(() => r1.close());
    r2 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r2.close());
    const echo = await startEcho(r2, [5]);
    cleanup.push(() => echo.stop());
    c2 = await ClusterNode.join(r2, { url: nats.url, node: 'r2', advertise: 'tcp:127.0.0.1:0' });
    cleanup.push(() => c2.close());
  }, 60_000);

  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  }, 60_000);

  it("by default the router's own window, as a direct gateway's devices have", async () => {
    const c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1' });
    try {
      await waitFor(() => r1.hasDevice(5), "r2's device 5 on r1");
      expect(r1.deviceStateBytes(5)).toBe(r1.tables.deviceStateBytes(64));
    } finally {
      await c1.close();
    }
  }, 60_000);

  it('--cluster-window 2: 16 requests in flight to the imported device are all answered, in order', async () => {
    const c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1', remoteWindow: 2 });
    const inbox = new Inbox(new EndpointPort(await r1.attachDriver(), { spinBeforeSleep: 0 }));
    try {
      await waitFor(() => r1.hasDevice(5), "r2's device 5 on r1");
      // The previous case's import of device 5 may still be on its way out (the number then
      // answers UNVALIDATED_DEV_NUM until this node's import replaces it): probe until it answers.
      for (let probe = 0; ; probe++) {
        inbox.clear();
        await sendAll(inbox.port, [getStatus(5, 0x50f0)]);
        await inbox.until(() => inbox.responses.length + inbox.failures.length >= 1, 'the probe of device 5');
        if (inbox.responses.length === 1) break;
        if (probe >= 200) throw new Error(`device 5 never answered: ${JSON.stringify(inbox.failures)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(r1.deviceStateBytes(5)).toBe(r1.tables.deviceStateBytes(2));
      expect(r1.deviceStateBytes(5)).toBeLessThan(r1.tables.deviceStateBytes(64));
      const tokens = Array.from({ length: 16 }, (_, i) => 0x5100 + i);
      inbox.clear();
      await sendAll(inbox.port, tokens.map((t) => getStatus(5, t)));
      await inbox.until(() => inbox.responses.length === tokens.length, 'the 16 answers');
      expect(inbox.failures).toEqual([]);
      expect(inbox.responses.map((r) => r.token)).toEqual(tokens);
      expect(inbox.responses.every((r) => r.dev === 5)).toBe(true);
    } finally {
      await r1.detach(inbox.port.link);
      await c1.close();
    }
  }, 60_000);

  it('Router.addDevice: a window that is not a power of two from 1 to 32768 is refused, naming the device', async () => {
    const link = await r1.attachDevice({});
    try {
      for (const w of [0, 3, 65536]) await expect(r1.addDevice(link, 900, 900, { window: w })).rejects.toThrow(new RegExp(`device 900: window must be a power of two from 1 to 32768, got ${w}`));
      expect(r1.hasDevice(900)).toBe(false);
      await r1.addDevice(link, 900, 900, { window: 4 });
      expect(r1.deviceStateBytes(900)).toBe(r1.tables.deviceStateBytes(4));
    } finally {
      await r1.detach(link);
    }
  });
});
