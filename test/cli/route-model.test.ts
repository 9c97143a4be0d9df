// `model=NAME|FILE` on `vmsg route` links: the model sits between the router and that link and
// the far side sees the modelled bus. Here the far side is a device-side stream peer (this test,
// over a Unix socket) serving device 1 behind `--device-link unix:...?model=vmamp-pci`, and an
// external driver reaches it through `--driver-link unix-listen:...`: the peer never has more
// than one request open and sees token 1 in each, the driver gets its own tokens back in
// order, and a request larger than the model's 64-byte frame ends as a counted transport failure.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameReader } from '../../src/bus/stream-framing.js';
import { decodeHello, encodeHello, ROLE_DEVICE, STREAM_HELLO } from '../../src/bus/stream-hello.js';
import { openStreamChannel, type StreamChannel } from '../../src/bus/stream.js';
import { Reason } from '../../src/protocol/reasons.js';
import { MAIN, vmsg } from './run-vmsg.js';

const u16 = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);

/** A device-side stream peer serving device 1: answers the hello, GET_DEVICES and PING; answers each request `holdMs` later. */
function devicePeer(path: string, holdMs: number): Promise<{ tokens: number[]; maxOpen: number; close(): void }> {
  const state = { tokens: [] as number[], maxOpen: 0, close: () => server.close() };
  let open = 0;
  const server = net.createServer((sock) => {
    const reader = new FrameReader(65535);
    sock.on('error', () => {});
    sock.on('data', (c: Buffer) => {
      reader.push(c);
      for (let f = reader.next(); f !== null; f = reader.next()) handle(f.slice());
    });
    function handle(f: Uint8Array): void {
      if (f[0] === 2 && f[1] === STREAM_HELLO) {
        const h = decodeHello(f, false);
        if (h.ok) sock.write(encodeHello({ ...h.hello, role: ROLE_DEVICE, flags: 0, status: 0, name: 'peer' }, true, h.token));
        return;
      }
      if (f[0] === 2 && f[1] === 0x02) { // GET_DEVICES {offset, count} → {offset, count, next_offset 0, bitmap}: device 1
        const count = u16(f, 10);
        const r = new Uint8Array(14 + count / 8);
        r.set(f.subarray(0, 6));
        r[0] = 3; r[6] = r.length; r[8] = f[8]!; r[9] = f[9]!; r[10] = f[10]!; r[11] = f[11]!;
        if (u16(f, 8) === 0 && count > 0) r[14] = 0b10;
        sock.write(r);
        return;
      }
      if (f[0] === 2 && f[1] === 0x03) { // PING: echo
        const r = f.slice();
        r[0] = 3;
        sock.write(r);
        return;
      }
      if ((f[0]! & 1) === 0 && (f[1]! & 0x40) === 0) {
        state.tokens.push(u16(f, 4));
        state.maxOpen = Math.max(state.maxOpen, ++open);
        setTimeout(() => {
          open--;
          const r = new Uint8Array(12);
          r.set(f.subarray(0, 6));
          r[0] = f[0]! | 1; r[6] = 12; r[8] = 0x0f;
          sock.write(r);
        }, holdMs);
      }
    }
  });
  return new Promise((resolve) => server.listen(path, () => resolve(state)));
}

let dir: string | undefined;
let route: ChildProcess | undefined;
let peer: { close(): void } | undefined;
let driver: StreamChannel | undefined;
afterEach(async () => {
  await driver?.close();
  driver = undefined;
  if (route !== undefined && route.exitCode === null) {
    const exited = new Promise((r) => route!.once('exit', r));
    route.kill('SIGKILL');
    await exited;
  }
  route = undefined;
  peer?.close();
  peer = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('vmsg route: model= on a link', () => {
  it('--device-link unix:...?model=vmamp-pci: one request open at the far side, token 1 there, the driver\'s tokens back in order, an oversized request refused and counted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsg-route-model-'));
    const devSock = join(dir, 'dev.sock'), drvSock = join(dir, 'drv.sock');
    const seen = await devicePeer(devSock, 20);
    peer = seen;
    route = spawn(process.execPath, [MAIN, 'route', '--device-link', `unix:${devSock}?model=vmamp-pci`, '--driver-link', `unix-listen:${drvSock}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', stdout = '';
    route.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    route.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    for (const end = Date.now() + 30_000; !/link up: --device-link .*devices \[1\]/.test(stderr) || !/link up: --driver-link/.test(stderr); ) {
      if (Date.now() > end || route.exitCode !== null) throw new Error(`route did not come up: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    driver = await openStreamChannel(`unix:${drvSock}?failure_events=1`);
    const tokens = [0x700, 0x701, 0x702, 0x703, 0x704, 0x705];
    for (const t of tokens) driver.send(Uint8Array.from([0, 0x07, 1, 0, t & 0xff, t >> 8, 8, 0]));
    const big = new Uint8Array(72); // SET_VQUEUE with a payload padded past the model's 64-byte frames
    big.set([0, 0x0a, 1, 0, 0x99, 0, 72, 0]);
    driver.send(big);
    driver.flush();
    const got: { token: number; answered?: true; failed?: number }[] = [];
    for (const end = Date.now() + 15_000; got.length < 7 && Date.now() < end; ) {
      const f = driver.recv();
      if (f === null) { await driver.wait(50); continue; }
      if ((f[0]! & 1) === 1) got.push({ token: u16(f, 4), answered: true });
      else if (f[0] === 2 && f[1] === 0xc1) got.push({ token: u16(f, 12), failed: f[11]! });
    }
    expect(got.filter((g) => g.answered).map((g) => g.token)).toEqual(tokens);
    expect(got.filter((g) => g.failed !== undefined)).toEqual([{ token: 0x99, failed: Reason.MSG_SIZE_GT_BUS_MAX }]);
    expect(seen.tokens).toEqual(new Array(6).fill(1));
    expect(seen.maxOpen).toBe(1);
    // The counters at the end: the refusal is counted (a failure, and a drop by its reason).
    route.kill('SIGTERM');
    await new Promise((r) => route!.once('exit', r));
    const final = JSON.parse(stdout.trim().split('\n').pop()!) as { devices: { dev: number; requests: number; responses: number }[]; totals: { failures: number; drops_by_reason: Record<string, number> } };
    expect(final.devices.find((d) => d.dev === 1)).toMatchObject({ requests: 6, responses: 6 });
    expect(final.totals).toMatchObject({ failures: 1, drops_by_reason: { MSG_SIZE_GT_BUS_MAX: 1 } });
  });

  it('refuses a bad model or a shared-memory window link with the reason, before starting', async () => {
    const bad = await vmsg('route', '--driver-link', 'unix-listen:/tmp/vmsg-never.sock?model=no-such-bus', '--device', 'echo:1');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/model=no-such-bus: unknown bus model "no-such-bus"/);
    const shm = await vmsg('route', '--driver-link', 'vmamp:/dev/shm/vmsg-never?size=8192&model=vmamp-pci', '--device', 'echo:1');
    expect(shm.status).toBe(2);
    expect(shm.stderr).toMatch(/does not apply to a vmamp: route link/);
  });
});
