// Three routers and one nats-server of the test's own: r1 (this process: a Router, its cluster
// membership, a Virtio driver and a raw driver), r2 (`vmsg route --cluster`, echo devices from a
// config file, hot-added on SIGHUP) and r3 (fixtures/cluster-router.mjs: an entropy device whose
// guest memory is a file r1's driver maps too, and echo devices). Frames between routers go on
// the gateway streams; NATS carries only the directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { VirtioDriver } from '../../src/driver/driver.js';
import { EntropyDriver } from '../../src/driver/entropy-driver.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { DEAD_AFTER_MS } from '../../src/cluster/liveness.js';
import { Reason } from '../../src/protocol/reasons.js';
import { DEVICE_BUS_STATE_READY as READY, DEVICE_BUS_STATE_REMOVED as REMOVED } from '../../src/protocol/constants.js';
import { Inbox, getStatus, sendAll, sleep } from '../bus/stream-helpers.js';
import { MAIN } from '../cli/run-vmsg.js';
import { NatsServer, natsServerMissing } from '../../tools/nats-server.js';
import { mapSharedGuestMemory } from './mapped-guest-memory.js';

const missing = natsServerMissing();
const FIXTURE = fileURLToPath(new URL('./fixtures/cluster-router.mjs', import.meta.url));
const MEM_BYTES = 1 << 20;

interface Proc {
  proc: ChildProcess;
  exited: Promise<unknown>;
  /** stderr lines with the time each arrived. */
  lines: { at: number; line: string }[];
}

function track(proc: ChildProcess): Proc {
  const lines: Proc['lines'] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => lines.push({ at: performance.now(), line }));
  return { proc, exited: new Promise((r) => proc.once('exit', r)), lines };
}

async function waitFor(done: () => boolean, what: string, ms = 15_000, also?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${also === undefined ? '' : `\n${also()}`}`);
    await sleep(5);
  }
}

describe.skipIf(missing !== undefined)(`cluster: three routers and a nats-server${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  let nats: NatsServer;
  let dir: string;
  let memPath: string;
  let r1: Router;
  let c1: ClusterNode;
  let inbox: Inbox;
  let driver: VirtioDriver;
  let r2: Proc;
  let r2Config: string;
  let r3: Proc;
  const r1Log: string[] = [];

  const logs = (): string => [
    `r1: ${r1Log.join('\n    ')}`, `r2: ${r2?.lines.map((l) => l.line).join('\n    ')}`, `r3: ${r3?.lines.map((l) => l.line).join('\n    ')}`,
    `peers seen by r1: ${JSON.stringify(c1?.peers())}`, `nats: ${nats?.output.slice(-2000)}`,
  ].join('\n');

  /** The local number on r1 of `node`'s device `remote`, if attached. */
  const localOf = (node: string, remote: number): number | undefined =>
    c1.peers().find((p) => p.node === node)?.deviceMap.find((m) => m.remote === remote)?.local;

  async function startR3(): Promise<Proc> {
    const cfg = { url: nats.url, node: 'r3', advertise: 'tcp:127.0.0.1:0', mem: memPath, memBytes: MEM_BYTES, entropy: 1, echo: [2] };
    const p = track(spawn(process.execPath, [FIXTURE, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] }));
    cleanup.push(() => void p.proc.kill('SIGKILL'));
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: p.proc.stdout! }).once('line', resolve);
      p.proc.once('exit', (code) => reject(new Error(`r3 exited (${code}) before it was ready:\n${p.lines.map((l) => l.line).join('\n')}`)));
    });
    expect(JSON.parse(first)).toMatchObject({ ready: true });
    return p;
  }

  async function r3Command(cmd: string): Promise<unknown> {
    const answer = new Promise<string>((r) => createInterface({ input: r3.proc.stdout! }).once('line', r));
    r3.proc.stdin!.write(`${cmd}\n`);
    return JSON.parse(await answer);
  }

  beforeAll(async () => {
    nats = await NatsServer.start();
    cleanup.push(() => nats.stop());
    dir = mkdtempSync(join(tmpdir(), 'vmsg-cluster-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    memPath = `/dev/shm/vmsg-cluster-test-${process.pid}.mem`;
    const shared = mapSharedGuestMemory(memPath, MEM_BYTES, true);
    cleanup.push(() => rmSync(memPath, { force: true }));
    cleanup.push(() => shared.close());

    r3 = await startR3();

    r2Config = join(dir, 'r2.json');
    writeFileSync(r2Config, JSON.stringify({ devices: ['echo:20'] }));
    r2 = track(spawn(process.execPath, [MAIN, 'route', '--cluster', nats.url, '--node', 'r2', '--advertise', 'tcp:127.0.0.1:0', '--config', r2Config, '--timeout-ms', '30000'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    cleanup.push(() => void r2.proc.kill('SIGKILL'));

    r1 = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 30_000 });
    cleanup.push(() => r1.close());
    inbox = new Inbox(new EndpointPort(await r1.attachDriver(), { spinBeforeSleep: 0 }));
    driver = new VirtioDriver(await r1.attachDriver(), { memory: shared.memory, requestTimeoutMs: 10_000, spinBeforeSleep: 0 });
    cleanup.push(() => driver.close());
    c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1' }, { log: (l) => r1Log.push(l), warning: (l) => r1Log.push(`warning: ${l}`) });
    cleanup.push(() => c1.close());
    await waitFor(() => localOf('r3', 1) !== undefined && localOf('r3', 2) !== undefined && localOf('r2', 20) !== undefined, 'r3 devices 1, 2 and r2 device 20 on r1', 30_000, logs);
  });

  afterAll(async () => {
    for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => {});
  });

  it('a driver on r1 brings up the entropy device on r3 and reads its bytes', async () => {
    const dev = localOf('r3', 1)!;
    const rng = await EntropyDriver.open(driver, dev);
    const a = await rng.read(256);
    const b = await rng.read(256);
    expect(a.length).toBe(256);
    expect(a.some((x) => x !== 0)).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    // The device id travelled in the directory too.
    expect(driver.device(dev).info?.deviceId).toBe(4);
  });

  it('a device hot-added on r2 reaches r1\'s driver as READY within 1 s', async () => {
    inbox.clear();
    writeFileSync(r2Config, JSON.stringify({ devices: ['echo:20', 'echo:21'] }));
    r2.proc.kill('SIGHUP');
    // Timed from when r2 has the device (its worker started and attached).
    await waitFor(() => r2.lines.some((l) => /built-in echo device \[21\]/.test(l.line)), 'r2 adding echo:21', 15_000, logs);
    const added = r2.lines.find((l) => /built-in echo device \[21\]/.test(l.line))!.at;
    await waitFor(() => localOf('r2', 21) !== undefined, 'r2 device 21 on r1', 5000, logs);
    const local = localOf('r2', 21)!;
    await inbox.until(() => inbox.deviceEvents.some((e) => e.dev === local && e.state === READY), `READY ${local}`, 5000);
    const readyAt = performance.now();
    expect(readyAt - added).toBeLessThan(1000);
    // And it answers through r1.
    inbox.clear();
    await sendAll(inbox.port, [getStatus(local, 0x2101)]);
    await inbox.until(() => inbox.responses.length === 1, 'the answer of r2\'s device 21');
    expect(inbox.responses[0]).toMatchObject({ dev: local, token: 0x2101, status: 0x0f });
  });

  let before: { entropy: number; echo: number };

  it('kill -9 of r3: its devices REMOVED on r1 within 3 s, each request in flight fails exactly once', async () => {
    before = { entropy: localOf('r3', 1)!, echo: localOf('r3', 2)! };
    expect(await r3Command('stall')).toEqual({ ok: 'stall' });
    inbox.clear();
    const stuck = [0x3001, 0x3002, 0x3003, 0x3004, 0x3005];
    await sendAll(inbox.port, stuck.map((t) => getStatus(before.echo, t)));
    await waitFor(() => r1.stats().devices.find((d) => d.dev === before.echo)?.inFlight === stuck.length, 'the requests in flight to r3');
    const killedAt = performance.now();
    r3.proc.kill('SIGKILL');
    await r3.exited;
    await inbox.until(() => [before.entropy, before.echo].every((d) => inbox.deviceEvents.some((e) => e.dev === d && e.state === REMOVED)), 'REMOVED of r3\'s devices', 5000);
    expect(performance.now() - killedAt).toBeLessThan(3000);
    await inbox.until(() => inbox.failures.length >= stuck.length, 'failures of the requests in flight');
    // r1 also declares r3 dead once its liveness entry is DEAD_AFTER_MS old; nothing fails twice.
    await waitFor(() => c1.peers().find((p) => p.node === 'r3')?.alive === false, 'r3 dead in the directory', DEAD_AFTER_MS + 3000, logs);
    inbox.pump();
    expect(inbox.failures.map((f) => f.token)).toEqual(stuck);
    expect(inbox.failures.every((f) => f.dev === before.echo && f.reason === Reason.DEVICE_REMOVED)).toBe(true);
    expect(inbox.deviceEvents.filter((e) => e.state === REMOVED).map((e) => e.dev).sort((a, b) => a - b)).toEqual([before.entropy, before.echo].sort((a, b) => a - b));
    expect(r1Log.some((l) => /node r3 dead/.test(l))).toBe(true);
  });

  it('r3 restarted: its devices come back READY on r1 under the same numbers', async () => {
    inbox.clear();
    r3 = await startR3();
    await inbox.until(() => [before.entropy, before.echo].every((d) => inbox.deviceEvents.some((e) => e.dev === d && e.state === READY)), 'READY of r3\'s devices again', 15_000);
    expect({ entropy: localOf('r3', 1), echo: localOf('r3', 2) }).toEqual(before);
    inbox.clear();
    await sendAll(inbox.port, [getStatus(before.echo, 0x4001)]);
    await inbox.until(() => inbox.responses.length === 1, 'an answer from the restarted r3');
  });

  it('NATS stopped: traffic r1 ↔ r3 goes on, the directory is frozen, and resumes when NATS is back', async () => {
    const echo = localOf('r3', 2)!;
    inbox.clear();
    await nats.halt();
    await waitFor(() => !c1.stats().directoryUp, 'r1 noticing NATS is gone', 10_000, logs);
    // A device added on r2 meanwhile cannot be published yet.
    writeFileSync(r2Config, JSON.stringify({ devices: ['echo:20', 'echo:21', 'echo:22'] }));
    r2.proc.kill('SIGHUP');
    // Longer than a node takes to be declared dead: nobody is, and requests keep being answered.
    const until = performance.now() + DEAD_AFTER_MS + 1000;
    let token = 0x5000;
    let sent = 0;
    while (performance.now() < until) {
      await sendAll(inbox.port, [getStatus(echo, token++)]);
      sent++;
      await inbox.until(() => inbox.responses.length === sent, `answer ${sent} while NATS is down`);
    }
    expect(inbox.failures).toEqual([]);
    expect(inbox.deviceEvents.filter((e) => e.state === REMOVED)).toEqual([]);
    expect(c1.stats()).toMatchObject({ directoryUp: false, frozenTotal: 1 });
    expect(r1Log.some((l) => /cluster directory frozen/.test(l))).toBe(true);
    expect(localOf('r2', 22)).toBeUndefined();

    await nats.restart();
    await waitFor(() => c1.stats().directoryUp, 'r1 back on NATS', 15_000, logs);
    await waitFor(() => localOf('r2', 22) !== undefined, 'r2 device 22 on r1 after NATS is back', 15_000, logs);
    const local = localOf('r2', 22)!;
    await inbox.until(() => inbox.deviceEvents.some((e) => e.dev === local && e.state === READY), `READY ${local}`);
    expect(r1Log.some((l) => /cluster directory resumed/.test(l))).toBe(true);
    // Everyone stays alive across the outage.
    expect(c1.peers().filter((p) => p.alive).map((p) => p.node).sort()).toEqual(['r2', 'r3']);
    expect(inbox.deviceEvents.filter((e) => e.state === REMOVED)).toEqual([]);
  });
});
