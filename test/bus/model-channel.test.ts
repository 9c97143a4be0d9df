// A driver's channel through a bus model (src/bus/model/model-channel.ts) and `model=` on link
// URIs: the window, the bus answers' token, the frame limit and the slots seen by the driver;
// `vmsg bench --model` against a separately running `vmsg route`; route links over a window refuse it.
import { describe, it, expect, afterEach } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelChannel } from '../../src/bus/model/model-channel.js';
import { loadBusModel } from '../../src/bus/model/bus-model.js';
import { splitModelParam, withModelParam, LinkUriError } from '../../src/bus/uri.js';
import { openBusLink } from '../../src/bus/open.js';
import { packageRoot } from '../../src/util/paths.js';
import { startEchoRouter, type EchoRouter } from '../tools/echo-router.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

function frame(type: number, msgId: number, dev: number, token: number, payload: number[] = []): Uint8Array {
  const f = new Uint8Array(8 + payload.length);
  f.set([type, msgId, dev & 0xff, dev >> 8, token & 0xff, token >> 8, f.length, 0]);
  f.set(payload, 8);
  return f;
}

async function answers(ch: ModelChannel, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for (const end = Date.now() + 10_000; got.length < n && Date.now() < end; ) {
    const f = ch.recv();
    if (f === null) await ch.wait(50);
    else if ((f[0]! & 1) === 1) got.push(f);
  }
  return got;
}

let target: EchoRouter | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  await target?.close();
  target = undefined;
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('model= on link URIs', () => {
  it('is taken out of any URI before the bus sees it', () => {
    expect(splitModelParam('unix:/run/b.sock?name=a&model=vmamp-pci')).toEqual({ text: 'unix:/run/b.sock?name=a', model: 'vmamp-pci' });
    expect(splitModelParam('tcp:h:7000?model=.%2Fmy.json')).toEqual({ text: 'tcp:h:7000', model: './my.json' });
    expect(splitModelParam('vmamp:/dev/shm/w?size=8192')).toEqual({ text: 'vmamp:/dev/shm/w?size=8192', model: undefined });
    expect(withModelParam('unix:/s', 'ffa-fifo')).toBe('unix:/s?model=ffa-fifo');
    expect(() => splitModelParam('unix:/s?model=a&model=b')).toThrow(/"model" given twice/);
  });

  it('a route link over a shared-memory window refuses it, saying why; an unknown model is named', async () => {
    target = await startEchoRouter([1]);
    await expect(openBusLink(target.router, 'vmamp:/dev/shm/vmsg-never?size=8192&model=vmamp-pci', 'driver')).rejects.toThrow(LinkUriError);
    await expect(openBusLink(target.router, 'vmamp:/dev/shm/vmsg-never?size=8192&model=vmamp-pci', 'driver')).rejects.toThrow(/reads the window in place/);
    await expect(openBusLink(target.router, 'unix-listen:/tmp/never.sock?model=nope', 'driver')).rejects.toThrow(/model=nope: unknown bus model/);
  });
});

describe('ModelChannel', () => {
  it('vmamp-pci: requests to one device cross one at a time, answered in order with the driver\'s tokens', async () => {
    target = await startEchoRouter([1]);
    const ch = new ModelChannel(await target.channel(), 'vmamp-pci');
    for (let t = 0; t < 8; t++) expect(ch.send(frame(0, 0x07, 1, 0x300 + t))).toBe(true);
    ch.flush();
    const got = await answers(ch, 8);
    expect(got.map((f) => f[4]! | (f[5]! << 8))).toEqual([0x300, 0x301, 0x302, 0x303, 0x304, 0x305, 0x306, 0x307]);
    expect(ch.counters()).toMatchObject({ requests: 8, responses: 8, inFlightMax: 1, windowHeld: 7 });
    await ch.close();
  });

  it('spsc-v1: the bus answers a PING with token 0; a frame above 64 bytes never crosses (counted)', async () => {
    target = await startEchoRouter([1]);
    const ch = new ModelChannel(await target.channel(), 'spsc-v1');
    expect(ch.maxMessageSize).toBe(64);
    ch.send(frame(2, 0x03, 0, 0x99, [9, 8, 7, 6]));
    expect(ch.send(frame(0, 0x06, 1, 0x98, new Array(60).fill(0)))).toBe(true); // 68 bytes
    ch.flush();
    const [pong] = await answers(ch, 1);
    expect([pong![1], pong![4], pong![5]]).toEqual([0x03, 0, 0]);
    expect(ch.counters().tooLarge).toBe(1);
    await ch.close();
  });

  it('slots: send fails once the model\'s queue holds frames whose notification has not landed', async () => {
    target = await startEchoRouter([1]);
    const slow = loadBusModel('sram-496');
    slow.notify.toDeviceUs = 1e6;
    const ch = new ModelChannel(await target.channel(), slow);
    const avail = (q: number): Uint8Array => frame(0, 0x41, 1, 0, [q, 0, 0, 0, 0, 0, 0, 0]);
    expect([ch.send(avail(0)), ch.send(avail(1)), ch.send(avail(2))]).toEqual([true, true, false]);
    await ch.close();
  });

  it('vmsg bench --model vmamp-pci against a running vmsg route: every answer checked, the window applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-model-bench-'));
    try {
      const sock = join(dir, 'bus.sock');
      const route = spawn(process.execPath, [MAIN, 'route', '--driver-link', `unix-listen:${sock}`, '--device', 'echo:1'], { stdio: 'ignore' });
      children.push(route);
      for (const end = Date.now() + 20_000; !existsSync(sock); ) {
        if (Date.now() > end) throw new Error('route never listened');
        await new Promise((r) => setTimeout(r, 20));
      }
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [MAIN, 'bench', '--target', `unix:${sock}`, '--model', 'vmamp-pci', '--mode', 'init', '--dev', '1', '--count', '300', '--outstanding', '4', '--json'],
          { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? -1), stdout, stderr }));
      });
      expect(out.code, out.stderr).toBe(0);
      const r = JSON.parse(out.stdout) as { sent: number; received: number; errors: number; order_violations: number; bus_model: Record<string, number | string> };
      expect(r).toMatchObject({ sent: 300, received: 300, errors: 0, order_violations: 0 });
      expect(r.bus_model).toMatchObject({ name: 'vmamp-pci', requests: 300, responses: 300, inFlightMax: 1 });
      expect(r.bus_model.windowHeld).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
