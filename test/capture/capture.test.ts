// Capture: every frame crossing the router's links is recorded once, with its link, direction
// and bytes as they crossed (tokens as each side saw them), and read back from the .vmc file.
import { describe, it, expect, afterEach } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { readCapture, type CaptureItem } from '../../src/capture/reader.js';
import { CaptureFormatError, DIR_FROM_ROUTER, DIR_TO_ROUTER } from '../../src/capture/vmc.js';
import { bytes, hex, sendAll, receive, sleep } from '../router/helpers.js';
import { vmsg } from '../cli/run-vmsg.js';
import { packageRoot } from '../../src/util/paths.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'vmsg-cap-'));
  dirs.push(d);
  return d;
};
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

async function collect(path: string): Promise<CaptureItem[]> {
  const out: CaptureItem[] = [];
  for await (const r of readCapture(path)) out.push(r);
  return out;
}

/** GET_DEVICE_STATUS request for device 1 with driver token `t`. */
const request = (t: number): string => `00070100${hex(new Uint8Array([t & 0xff, t >> 8]))}0800`;

describe('capture (.vmc)', () => {
  it('records each frame once per link crossing: driver token in, router token to the device, restored on the way back', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 1000 });
    const path = join(tmp(), 'run.vmc');
    try {
      const driver = new EndpointPort(await router.attachDriver());
      const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await receive(driver, 1); // EVENT_DEVICE READY, before the capture starts
      const tap = await router.startCapture(path);
      const n = 50;
      for (let t = 0x100; t < 0x100 + n; t++) sendAll(driver, request(t));
      sendAll(driver, '00070100'); // malformed: 4 bytes, msg_size missing → dropped, still captured
      let answered = 0;
      const deadline = Date.now() + 5000;
      while (answered < n && Date.now() < deadline) {
        const f = device.recv();
        if (f === null) { await sleep(1); continue; }
        f[0] = 1; // the response: same id, dev_num, the router's token
        sendAll(device, f);
        answered++;
      }
      const back = await receive(driver, n);
      expect(back).toHaveLength(n);
      const summary = await tap.stop();
      expect(summary.lost).toBe(0);
      expect(summary.captured).toBe(4 * n + 1);

      const items = await collect(path);
      const links = items.filter((i) => i.kind === 'link').map((i) => i.kind === 'link' && i.link);
      expect(links).toEqual(expect.arrayContaining([
        expect.objectContaining({ link: driver.link.id, kind: 'driver' }),
        expect.objectContaining({ link: device.link.id, kind: 'device', name: expect.stringContaining('devices 1') }),
      ]));
      const frames = items.flatMap((i) => (i.kind === 'frame' ? [i.frame] : []));
      expect(frames).toHaveLength(4 * n + 1);
      const on = (link: number, dir: number): string[] => frames.filter((f) => f.link === link && f.dir === dir).map((f) => hex(f.bytes));
      const fromDriver = on(driver.link.id, DIR_TO_ROUTER);
      expect(fromDriver.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => request(0x100 + i)));
      expect(fromDriver[n]).toMatch(/^00070100/); // the malformed one, as it sat in the ring
      const toDevice = on(device.link.id, DIR_FROM_ROUTER);
      const toDriver = on(driver.link.id, DIR_FROM_ROUTER);
      expect(toDevice).toHaveLength(n);
      expect(on(device.link.id, DIR_TO_ROUTER)).toHaveLength(n);
      for (let i = 0; i < n; i++) {
        expect(toDevice[i]!.slice(0, 8)).toBe('00070100');
        expect(toDriver[i]).toBe('01070100' + request(0x100 + i).slice(8)); // driver token restored
      }
      // Causal order: each request is recorded arriving from the driver before it leaves for the device.
      const order = frames.filter((f) => f.bytes.length >= 6 && f.bytes[1] === 0x07 && f.bytes[0] === 0).map((f) => `${f.link === driver.link.id ? 'in' : 'out'}`);
      expect(order.slice(0, 2 * n)).toEqual(Array.from({ length: n }, () => ['in', 'out']).flat());
      const times = frames.map((f) => f.timeMs);
      expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true); // one shard: file order is time order
      expect(Math.abs(times[0]! - Date.now())).toBeLessThan(60_000);
      expect(items.at(-1)).toMatchObject({ kind: 'trailer', trailer: { captured: 4 * n + 1, lost: 0 } });

      // The dissector view: one line per frame, filters by link, message and device.
      const all = await vmsg('decode', path);
      expect(all.status).toBe(1); // the malformed frame is in there
      expect(all.stdout.trim().split('\n')).toHaveLength(4 * n + 1);
      const drv = await vmsg('decode', path, '--link', String(driver.link.id), '--msg', 'get_device_status');
      const lines = drv.stdout.trim().split('\n');
      expect(drv.status).toBe(1);
      expect(lines).toHaveLength(2 * n + 1); // + the malformed frame, whose msg_id is 0x07 too
      expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{6} driver#\d+ +-> router  REQ  GET_DEVICE_STATUS dev=1 tok=256 size=8$/);
      // Our test device answers with an 8-byte response (no status word): shown, flagged invalid.
      expect(lines.filter((l) => /<- router  INVALID /.test(l))).toHaveLength(n);
      expect(lines.filter((l) => /-> router  INVALID (MSG_SIZE_LT_HEADER|HDR_TRUNCATED)/.test(l))).toHaveLength(1);
      const json = await vmsg('decode', path, '--json', '--dev', '1', '--msg', '0x07', '--link', String(device.link.id));
      const objs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(objs).toHaveLength(2 * n);
      expect(objs[0]).toMatchObject({ link: device.link.id, dir: 'from_router', valid: true, message: 'GET_DEVICE_STATUS', dev_num: 1 });
      expect(objs.filter((o) => o.dir === 'to_router' && o.valid === false)).toHaveLength(n);
      expect((await vmsg('decode', path, '--dev', '2')).stdout).toBe('');
      // Capture off again: traffic goes on, nothing more is recorded and a new capture may start.
      sendAll(driver, request(7));
      expect(await receive(device, 1)).toHaveLength(1);
      await (await router.startCapture(join(tmp(), 'second.vmc'))).stop();
    } finally {
      await router.close();
    }
  });

  it('records every frame on one-frame-per-slot rings too, and nothing before or after', async () => {
    // The slot walks take their common frame without a call unless a capture runs: then a bound
    // set once per walk sends every frame the whole way, where it is recorded.
    const router = await Router.create({ shards: 1, timeoutMs: 1000, packedRings: false });
    const path = join(tmp(), 'slots.vmc');
    try {
      const driver = new EndpointPort(await router.attachDriver());
      const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await receive(driver, 1); // EVENT_DEVICE READY
      const round = async (first: number, n: number): Promise<void> => {
        for (let t = first; t < first + n; t++) sendAll(driver, request(t));
        const got = await receive(device, n);
        expect(got).toHaveLength(n);
        for (const f of got) sendAll(device, '01' + f.slice(2)); // the response: same id, dev_num, the router's token
        expect(await receive(driver, n)).toEqual(Array.from({ length: n }, (_, i) => '01070100' + request(first + i).slice(8)));
      };
      await round(0x10, 20);
      const tap = await router.startCapture(path);
      const n = 40;
      await round(0x100, n);
      expect(await tap.stop()).toMatchObject({ captured: 4 * n, lost: 0 });
      await round(0x200, 20);
      const frames = (await collect(path)).flatMap((i) => (i.kind === 'frame' ? [i.frame] : []));
      expect(frames).toHaveLength(4 * n);
      const on = (link: number, dir: number): string[] => frames.filter((f) => f.link === link && f.dir === dir).map((f) => hex(f.bytes));
      expect(on(driver.link.id, DIR_TO_ROUTER)).toEqual(Array.from({ length: n }, (_, i) => request(0x100 + i)));
      expect(on(device.link.id, DIR_FROM_ROUTER)).toHaveLength(n);
      expect(on(device.link.id, DIR_TO_ROUTER)).toHaveLength(n);
      expect(on(driver.link.id, DIR_FROM_ROUTER)).toEqual(Array.from({ length: n }, (_, i) => '01070100' + request(0x100 + i).slice(8)));
    } finally {
      await router.close();
    }
  });

  it('refuses a second capture while one runs, and a file that is not a capture', async () => {
    const router = await Router.create({ shards: 1 });
    const d = tmp();
    try {
      const tap = await router.startCapture(join(d, 'a.vmc'));
      await expect(router.startCapture(join(d, 'b.vmc'))).rejects.toThrow(/already running/);
      await tap.stop();
    } finally {
      await router.close();
    }
    writeFileSync(join(d, 'junk.vmc'), bytes('93010203'));
    await expect(collect(join(d, 'junk.vmc'))).rejects.toThrow(CaptureFormatError);
  });

  it('a file that cannot be opened: startCapture rejects and leaves nothing running (the process ends on its own)', async () => {
    const d = tmp();
    // A program of its own: a drain timer left behind would keep it alive until execFile's timeout.
    const script = `
      const { Router } = await import(${JSON.stringify(pathToFileURL(join(packageRoot(), 'dist', 'src', 'index.js')).href)});
      const router = await Router.create({ shards: 1 });
      const why = await router.startCapture(${JSON.stringify(d)}).then(() => 'opened', (e) => e.code);
      const tap = await router.startCapture(${JSON.stringify(join(d, 'ok.vmc'))});
      await tap.stop();
      await router.close();
      console.log(why);`;
    const t0 = performance.now();
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 15_000, encoding: 'utf8' }, (e, out, err) => {
        resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, out, err });
      });
    });
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toBe('EISDIR');
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(existsSync(join(d, 'ok.vmc'))).toBe(true);
  });
});
