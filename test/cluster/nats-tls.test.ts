// The directory over TLS with a CA of the user's own (--cluster-ca): a nats-server whose
// certificate a test CA signed. Two routers given that CA join and see each other's devices;
// a router given another CA, or none (the system's trust store), is refused, and so is a
// server without TLS when a CA was given (no silent fallback to plain text).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { NatsServer, natsServerMissing } from '../../tools/nats-server.js';
import { haveOpenssl, makeTestCerts, type TestCerts } from '../bus/tls-certs.js';
import { startEcho } from '../bus/stream-helpers.js';
import { until as waitFor } from '../helpers/wait.js';

const missing = natsServerMissing() ?? (haveOpenssl ? undefined : 'openssl is not installed');


describe.skipIf(missing !== undefined)(`cluster: NATS over TLS with --cluster-ca${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  let certs: TestCerts;
  let nats: NatsServer;
  let r1: Router;

  beforeAll(async () => {
    certs = makeTestCerts();
    cleanup.push(() => certs.remove());
    nats = await NatsServer.start(`tls {\n  cert_file: "${certs.path('server.pem')}"\n  key_file: "${certs.path('server.key')}"\n  timeout: 5\n}\n`);
    cleanup.push(() => nats.stop());
    r1 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r1.close());
  }, 60_000);

  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  }, 60_000);

  it('routers given the CA join over TLS and share the directory', async () => {
    const r2 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    const echo = await startEcho(r2, [5]);
    try {
      const c2 = await ClusterNode.join(r2, { url: nats.url, node: 'r2', advertise: 'tcp:127.0.0.1:0', caFile: certs.path('ca.pem') });
      try {
        const c1 = await ClusterNode.join(r1, { url: nats.url.replace('nats://', 'tls://'), node: 'r1', caFile: certs.path('ca.pem') });
        try {
          await waitFor(() => c1.peers().some((p) => p.node === 'r2' && p.deviceMap.some((m) => m.remote === 5)), "r2's device 5 on r1");
          expect(c1.stats().directoryUp).toBe(true);
          expect(r1.hasDevice(5)).toBe(true);
        } finally {
          await c1.close();
        }
      } finally {
        await c2.close();
      }
    } finally {
      await echo.stop();
      await r2.close();
    }
  }, 60_000);

  it('a server whose certificate the given CA did not sign is refused', async () => {
    // The server's certificate is the test CA's; this router trusts only the other CA.
    await expect(ClusterNode.join(r1, { url: nats.url, node: 'r1', caFile: certs.path('rogue-ca.pem') }))
      .rejects.toThrow(/cannot connect to the NATS server .*(certificate|verify)/i);
    // Without --cluster-ca only the system's trust store counts, which does not hold the test CA.
    await expect(ClusterNode.join(r1, { url: nats.url.replace('nats://', 'tls://'), node: 'r1' }))
      .rejects.toThrow(/cannot connect to the NATS server .*(certificate|verify)/i);
    // Nothing of the failed joins is left on the router (its listener, driver, devices).
    expect(r1.hasDevice(5)).toBe(false);
  }, 60_000);

  it('with a CA, a server without TLS is refused (no plain-text fallback)', async () => {
    const plain = await NatsServer.start();
    try {
      await expect(ClusterNode.join(r1, { url: plain.url, node: 'r1', caFile: certs.path('ca.pem') }))
        .rejects.toThrow(/cannot connect to the NATS server .*tls/i);
    } finally {
      await plain.stop();
    }
  }, 60_000);
});
