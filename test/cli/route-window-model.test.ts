// `model=NAME|FILE` on the shared-memory window links of `vmsg route` (vmamp:, spsc:): the
// router attaches the link's endpoint through the model and a bridge copies frames between the
// window and the model's side. The far side is the project's C peer (test/peers/vmsg-peer.c) on
// the window: a device side behind `?model=vmamp-pci` sees one request at a time with token 1
// while an external driver's requests all come back in order and an over-size one ends as
// MSG_SIZE_GT_BUS_MAX; a C driver on an SPSC window behind `?model=sram-496` (2 slots) and on a
// polled vmamp window gets every answer in order and discovers the devices through the model.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStreamChannel, type StreamChannel } from '../../src/bus/stream.js';
import { Reason } from '../../src/protocol/reasons.js';
import { freshPaths, linkUri, peerArgs, peerSkipReason, startPeer, type PeerRun } from '../bus/helpers.js';
import { MAIN } from './run-vmsg.js';

const u16 = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);

interface Route { proc: ChildProcess; stderr(): string; stdout(): string; exited: Promise<unknown> }

let dir: string | undefined;
let route: Route | undefined;
let peer: PeerRun | undefined;
let driver: StreamChannel | undefined;
afterEach(async () => {
  await driver?.close();
  driver = undefined;
  for (const p of [route?.proc, peer?.proc]) {
    if (p !== undefined && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  await route?.exited;
  await peer?.done;
  route = undefined;
  peer = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function startRoute(args: string[]): Route {
  const proc = spawn(process.execPath, [MAIN, 'route', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', stdout = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  return { proc, stderr: () => stderr, stdout: () => stdout, exited };
}

/** Wait until every pattern is in the route's stderr (it may take a while to start on a loaded machine). */
async function routeSays(r: Route, patterns: RegExp[]): Promise<void> {
  for (const end = Date.now() + 30_000; !patterns.every((p) => p.test(r.stderr())); ) {
    if (Date.now() > end || r.proc.exitCode !== null) throw new Error(`route did not come up: ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Stop the route with SIGTERM: its final counters (the JSON line on stdout). */
async function stopRoute(r: Route): Promise<{ devices: { dev: number; requests: number; responses: number }[]; totals: { failures: number; drops_by_reason: Record<string, number> } }> {
  r.proc.kill('SIGTERM');
  await r.exited;
  return JSON.parse(r.stdout().trim().split('\n').pop()!) as never;
}

describe.skipIf(peerSkipReason !== null)('vmsg route: model= on vmamp/spsc window links', () => {
  it('--device-link vmamp:...?model=vmamp-pci: the C device sees one request at a time with token 1; the driver gets its tokens back in order and an over-size request as MSG_SIZE_GT_BUS_MAX', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsg-route-wmodel-'));
    const p = freshPaths('wmodel');
    peer = startPeer([...peerArgs('vmamp', 'device', p, 8192, true), '--devices', '1']);
    const drvSock = join(dir, 'drv.sock');
    const uri = linkUri('vmamp', 'driver', p, 8192, true, '&model=vmamp-pci');
    route = startRoute(['--device-link', uri, '--driver-link', `unix-listen:${drvSock}`]);
    await routeSays(route, [/link up: --device-link .*devices \[1\]; bus model vmamp-pci \(frames copied/, /link up: --driver-link/]);
    driver = await openStreamChannel(`unix:${drvSock}?failure_events=1`);
    const tokens = [0x700, 0x701, 0x702, 0x703, 0x704, 0x705];
    for (const t of tokens) driver.send(Uint8Array.from([0, 0x07, 1, 0, t & 0xff, t >> 8, 8, 0]));
    const big = new Uint8Array(72); // SET_VQUEUE padded past the model's (and the window's) 64-byte frames
    big.set([0, 0x0a, 1, 0, 0x99, 0, 72, 0]);
    driver.send(big);
    driver.flush();
    const got: { token: number; answered?: true; failed?: number }[] = [];
    for (const end = Date.now() + 20_000; got.length < 7 && Date.now() < end; ) {
      const f = driver.recv();
      if (f === null) { await driver.wait(50); continue; }
      if ((f[0]! & 1) === 1) got.push({ token: u16(f, 4), answered: true });
      else if (f[0] === 2 && f[1] === 0xc1) got.push({ token: u16(f, 12), failed: f[11]! });
    }
    expect(got.filter((g) => g.answered).map((g) => g.token)).toEqual(tokens);
    expect(got.filter((g) => g.failed !== undefined)).toEqual([{ token: 0x99, failed: Reason.MSG_SIZE_GT_BUS_MAX }]);
    const final = await stopRoute(route);
    expect(final.devices.find((d) => d.dev === 1)).toMatchObject({ requests: 6, responses: 6 });
    expect(final.totals).toMatchObject({ failures: 1, drops_by_reason: { MSG_SIZE_GT_BUS_MAX: 1 } });
    // Our side of the window said SHUTDOWN: the C device ends and prints what it saw.
    peer.proc.kill('SIGTERM');
    const out = await peer.done;
    expect(out.stderr).toMatch(/requests 6, requests_at_once 1, tokens 1\.\.1/);
  });

  it('--driver-link spsc:...?model=sram-496 (2 slots): a C driver with 8 requests outstanding gets every answer in order, devices discovered through the model', async () => {
    const p = freshPaths('wmodel');
    const uri = linkUri('spsc', 'device', p, 8192, true, '&model=sram-496');
    route = startRoute(['--driver-link', uri, '--device', 'echo:1']);
    await routeSays(route, [/link up: --driver-link .*; bus model sram-496 \(frames copied/]);
    peer = startPeer([...peerArgs('spsc', 'driver', p, 8192, true), '--discover', '--count', '300', '--outstanding', '8', '--dev', '1', '--idle-ms', '10000']);
    const out = await peer.done;
    const res = JSON.parse(out.stdout.trim()) as Record<string, unknown>;
    expect(res, out.stdout + out.stderr + route.stderr()).toMatchObject({ sent: 300, received: 300, errors: 0, order_violations: 0, devices: [1] });
    expect(out.code).toBe(0);
    const final = await stopRoute(route);
    expect(final.devices.find((d) => d.dev === 1)).toMatchObject({ requests: 300, responses: 300 });
  });

  it('--driver-link vmamp:...?model=vmamp-pci without a doorbell socket: the bridge polls the window', async () => {
    const p = freshPaths('wmodel');
    const uri = linkUri('vmamp', 'device', p, 8192, false, '&model=vmamp-pci');
    route = startRoute(['--driver-link', uri, '--device', 'echo:1']);
    // A vmamp link is up once the peer's queue head says RUN: the driver starts first.
    await routeSays(route, [/routing: 1 link/]);
    peer = startPeer([...peerArgs('vmamp', 'driver', p, 8192, false), '--discover', '--count', '100', '--outstanding', '4', '--dev', '1', '--idle-ms', '10000']);
    await routeSays(route, [/link up: --driver-link .*; bus model vmamp-pci/]);
    const out = await peer.done;
    expect(JSON.parse(out.stdout.trim()), out.stdout + out.stderr + route.stderr()).toMatchObject({ sent: 100, received: 100, errors: 0, order_violations: 0, devices: [1] });
    const final = await stopRoute(route);
    expect(final.devices.find((d) => d.dev === 1)).toMatchObject({ requests: 100, responses: 100 });
  });
});
