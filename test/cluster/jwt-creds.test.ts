// --cluster-creds with JWT .creds files (NATS decentralized auth): a nats-server in operator mode
// trusting an operator minted by the test (nats-jwt.ts), one account with JetStream, and users
// whose JWTs carry the permissions of README "Cluster" for their node. r2 is `vmsg route
// --cluster-creds r2.creds`, r1 a ClusterNode with r1.creds; they share the directory and r1
// reaches r2's device. r2's user writing r1's entry is refused; a user of an operator the
// server does not trust cannot join.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { natsPermissionsFor } from '../../src/cluster/nats-permissions.js';
import { aliveKey } from '../../src/cluster/directory-entry.js';
import { NatsServer, natsServerMissing } from '../../tools/nats-server.js';
import { Inbox, getStatus, sendAll } from '../bus/stream-helpers.js';
import { MAIN } from '../cli/run-vmsg.js';
import { NatsOperator } from './nats-jwt.js';
import { until as waitFor } from '../helpers/wait.js';

const missing = natsServerMissing();
const BUCKET = 'vmsg';


describe.skipIf(missing !== undefined)(`cluster: --cluster-creds with JWT .creds files${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  const op = new NatsOperator();
  let nats: NatsServer;
  let dir: string;
  let r1: Router;
  let c1: ClusterNode;
  let r2: ChildProcess;
  const r2Lines: string[] = [];
  const creds = (name: string, text: string): string => {
    const f = join(dir, `${name}.creds`);
    writeFileSync(f, text, { mode: 0o600 });
    return f;
  };
  const logs = (): string => `r2: ${r2Lines.join('\n    ')}\nnats: ${nats.output.slice(-2000)}`;

  beforeAll(async () => {
    nats = await NatsServer.start(op.serverConfig());
    cleanup.push(() => nats.stop());
    dir = mkdtempSync(join(tmpdir(), 'vmsg-cluster-jwt-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));

    // An administrator of the account creates the bucket; the nodes' users may not.
    const admin = creds('admin', op.userCreds('admin'));
    const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new Uint8Array(readFileSync(admin))) });
    await new Kvm(nc).create(BUCKET, { history: 1 });
    await nc.close();

    const r2Creds = creds('r2', op.userCreds('r2', natsPermissionsFor('r2', BUCKET)));
    r2 = spawn(process.execPath, [MAIN, 'route', '--cluster', nats.url, '--node', 'r2', '--cluster-creds', r2Creds, '--advertise', 'tcp:127.0.0.1:0', '--device', 'echo:7'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const r2Exited = new Promise((r) => r2.once('exit', r));
    cleanup.push(async () => {
      if (r2.exitCode === null && r2.signalCode === null) r2.kill('SIGKILL');
      await r2Exited;
    });
    createInterface({ input: r2.stderr! }).on('line', (l) => r2Lines.push(l));

    r1 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r1.close());
    c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1', credsFile: creds('r1', op.userCreds('r1', natsPermissionsFor('r1', BUCKET))) });
    cleanup.push(() => c1.close());
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => {});
  }, 60_000);

  it('nodes with JWT users join, publish and import each other\'s devices', async () => {
    await waitFor(() => c1.peers().some((p) => p.node === 'r2' && p.alive && p.deviceMap.some((m) => m.remote === 7)), "r2's device 7 on r1", 30_000, logs);
    expect(c1.stats().writeFailures).toBe(0);
    const local = c1.peers().find((p) => p.node === 'r2')!.deviceMap.find((m) => m.remote === 7)!.local;
    const inbox = new Inbox(new EndpointPort(await r1.attachDriver(), { spinBeforeSleep: 0 }));
    try {
      await sendAll(inbox.port, [getStatus(local, 0x7701)]);
      await inbox.until(() => inbox.responses.length === 1, "the answer of r2's device 7");
      expect(inbox.responses[0]).toMatchObject({ dev: local, token: 0x7701 });
    } finally {
      await r1.detach(inbox.port.link);
    }
    expect(r2Lines.join('\n')).not.toMatch(/write failed|Permissions Violation/);
  }, 60_000);

  it("r2's user writing r1's entry is refused by the server", async () => {
    let rogue: NatsConnection | undefined;
    try {
      rogue = await connect({ servers: nats.url, authenticator: credsAuthenticator(new Uint8Array(readFileSync(join(dir, 'r2.creds')))) });
      const kv = await new Kvm(rogue).open(BUCKET);
      await expect(kv.put(aliveKey('r1'), JSON.stringify({ node: 'r1', addr: 'tcp:127.0.0.1:1', beat: 1 }), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    } finally {
      await rogue?.close();
    }
  }, 60_000);

  it('a user of an operator the server does not trust cannot join', async () => {
    const stranger = creds('stranger', new NatsOperator().userCreds('r9'));
    const r9 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    try {
      await expect(ClusterNode.join(r9, { url: nats.url, node: 'r9', credsFile: stranger })).rejects.toThrow(/cannot connect to the NATS server .*(Authorization Violation|authorization)/i);
    } finally {
      await r9.close();
    }
  }, 60_000);
});
