// The NATS permissions of README "Cluster" (src/cluster/nats-permissions.ts) on a real
// nats-server with NKEY users: an administrator who creates the bucket, and nodes r1 and r2
// who may publish only under their own names. Both join with --cluster-creds seed files and
// see each other's devices; r2 writing or deleting r1's entries, or purging the bucket, is
// refused by the server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { Router } from '../../src/router/router.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { natsPermissionsConfig } from '../../src/cluster/nats-permissions.js';
import { aliveKey, deviceKey } from '../../src/cluster/directory-entry.js';
import { NatsServer, natsServerMissing } from '../../tools/nats-server.js';
import { startEcho } from '../bus/stream-helpers.js';
import { until as waitFor } from '../helpers/wait.js';

const missing = natsServerMissing();
const BUCKET = 'vmsg';

function user(): { seed: string; pub: string } {
  const kp = nkeys.createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), pub: kp.getPublicKey() };
}


describe.skipIf(missing !== undefined)(`cluster: NATS permissions confine a node to its own entries${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  const admin = user();
  const u1 = user();
  const u2 = user();
  let nats: NatsServer;
  let dir: string;
  let c1: ClusterNode;
  let c2: ClusterNode;
  let rogue: NatsConnection;

  beforeAll(async () => {
    nats = await NatsServer.start(`authorization {
  users = [
    { nkey: "${admin.pub}" }
    { nkey: "${u1.pub}", permissions: ${natsPermissionsConfig('r1', BUCKET)} }
    { nkey: "${u2.pub}", permissions: ${natsPermissionsConfig('r2', BUCKET)} }
  ]
}
`);
    cleanup.push(() => nats.stop());
    dir = mkdtempSync(join(tmpdir(), 'vmsg-cluster-perm-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const seedFile = (name: string, seed: string): string => {
      const f = join(dir, `${name}.nk`);
      writeFileSync(f, `${seed}\n`, { mode: 0o600 });
      return f;
    };

    // The administrator creates the bucket once; nodes may not.
    const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(admin.seed)) });
    await new Kvm(nc).create(BUCKET, { history: 1 });
    await nc.close();

    const r1 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r1.close());
    const r2 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r2.close());
    const echo = await startEcho(r2, [7]);
    cleanup.push(() => echo.stop());
    c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1', credsFile: seedFile('r1', u1.seed) });
    cleanup.push(() => c1.close());
    c2 = await ClusterNode.join(r2, { url: nats.url, node: 'r2', advertise: 'tcp:127.0.0.1:0', credsFile: seedFile('r2', u2.seed) });
    cleanup.push(() => c2.close());
    rogue = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(u2.seed)) });
    cleanup.push(() => rogue.close());
  });

  afterAll(async () => {
    for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => {});
  });

  it('nodes with only their own permissions join, publish and import each other\'s devices', async () => {
    await waitFor(() => c1.peers().some((p) => p.node === 'r2' && p.alive && p.deviceMap.some((m) => m.remote === 7)), 'r2 device 7 on r1');
    expect(c1.stats().writeFailures).toBe(0);
    expect(c2.stats()).toMatchObject({ writeFailures: 0, publishedDevices: 1 });
  });

  it('a node publishing another node\'s entry is refused', async () => {
    const kv = await new Kvm(rogue).open(BUCKET);
    const forged = JSON.stringify({ node: 'r1', addr: 'tcp:127.0.0.1:1', beat: 1 });
    await expect(kv.put(aliveKey('r1'), forged, { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    await expect(kv.put(deviceKey('r1', 9), JSON.stringify({ node: 'r1', dev: 9, device_id: 4, vendor_id: 0, addr: 'tcp:127.0.0.1:1' }), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    await expect(kv.delete(aliveKey('r1'), { timeout: 2000 } as never)).rejects.toThrow(/Permissions Violation/);
    // Nor may it purge the bucket's stream under everyone.
    await expect(rogue.request(`$JS.API.STREAM.PURGE.KV_${BUCKET}`, '{}', { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    // Its own keys it may write.
    await kv.put(`r2.test`, 'x', { timeout: 2000 });
    await kv.delete(`r2.test`);
    // What r1 wrote is untouched: r1 alive under its own address (none: it only imports), no device 9.
    const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(admin.seed)) });
    try {
      const adminKv = await new Kvm(nc).open(BUCKET);
      const e = await adminKv.get(aliveKey('r1'));
      expect(JSON.parse(e!.string())).toMatchObject({ node: 'r1', addr: null });
      expect(await adminKv.get(deviceKey('r1', 9))).toBeNull();
    } finally {
      await nc.close();
    }
  });
});
