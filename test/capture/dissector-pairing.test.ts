// Time order and the dissector's request/response pairing. A capture whose frames are stored
// out of time order (as shard batches interleave them) is decoded and exported in time order;
// where tshark is installed, tools/wireshark/virtio-msg.lua on the export names source and
// destination (link and router), pairs each request with its answer on the same link
// (virtio_msg.response_in / response_to / time, a VMSG_EVT_REQUEST_FAILED included) and names
// the failure reason.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { packageRoot } from '../../src/util/paths.js';
import { VMC_FORMAT, VMC_VERSION } from '../../src/capture/vmc.js';
import { vmsg } from '../cli/run-vmsg.js';
import { bytes } from '../router/helpers.js';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
// [time ms, link, dir (0 to router, 1 from router), frame], in the order the file holds them.
const STORED: [number, number, number, string][] = [
  [T0, 0, 0, '0007010005000800'], //                            driver → router GET_DEVICE_STATUS dev 1, token 5
  [T0 + 10, 1, 0, '010701000100' + '0c00' + '0f000000'], //     device → router answer (router token 1): stored first
  [T0 + 2, 1, 1, '0007010001000800'], //                        router → device, router token 1
  [T0 + 12, 0, 1, '010701000500' + '0c00' + '0f000000'], //     router → driver answer, token 5 restored
  [T0 + 20, 0, 0, '000501000600' + '1000' + '0000000004000000'], // GET_CONFIG dev 1 token 6
  [T0 + 30, 0, 1, '02c100000000' + '1000' + '01000528' + '06000000'], // VMSG_EVT_REQUEST_FAILED dev 1 GET_CONFIG TIMEOUT token 6
];

let dir: string, vmc: string, out: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmsg-pair-'));
  vmc = join(dir, 'in.vmc');
  out = join(dir, 'out.pcapng');
  const records: unknown[] = [
    { format: VMC_FORMAT, version: VMC_VERSION, started: new Date(T0).toISOString(), tool: 'test' },
    { link: 0, kind: 'driver', name: 'unix-listen:/run/bus.sock' },
    { link: 1, kind: 'device', name: 'echo:1' },
    ...STORED.map(([t, l, d, h]) => [t, l, d, Buffer.from(bytes(h))]),
    { end: new Date(T0).toISOString(), captured: STORED.length, lost: 0 },
  ];
  writeFileSync(vmc, Buffer.concat(records.map((r) => pack(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('captures in time order', () => {
  it('vmsg decode lists the frames by time, whatever order the file holds them in', async () => {
    const r = await vmsg('decode', vmc, '--json');
    const times = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { time_ms: number }).time_ms);
    expect(times).toEqual([...STORED.map(([t]) => t)].sort((a, b) => a - b));
  });
});

const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!tshark)('Wireshark dissector (tshark)', () => {
  it('pairs requests with answers per link, with the response time, and names sources, destinations and reasons', async () => {
    const e = await vmsg('export-pcapng', vmc, out);
    expect(e.status, e.stderr).toBe(0);
    const lua = join(packageRoot(), 'tools', 'wireshark', 'virtio-msg.lua');
    const fields = ['frame.number', 'frame.time_epoch', '_ws.col.Source', '_ws.col.Destination', 'virtio_msg.response_in', 'virtio_msg.response_to', 'virtio_msg.time', 'virtio_msg.reason_name'];
    const r = spawnSync('tshark', ['-2', '-X', `lua_script:${lua}`, '-r', out, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Lua: Error/);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(6);
    // Exported in time order.
    const times = rows.map((x) => Number(x[1]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const col = (n: number, i: number): string => rows[n - 1]![i]!;
    expect([1, 2, 3, 4, 5, 6].map((n) => `${col(n, 2)} -> ${col(n, 3)}`)).toEqual([
      'unix-listen:/run/bus.sock -> router', 'router -> echo:1', 'echo:1 -> router',
      'router -> unix-listen:/run/bus.sock', 'unix-listen:/run/bus.sock -> router', 'router -> unix-listen:/run/bus.sock',
    ]);
    // Pairs: the driver's request and its answer (12 ms), the forwarded request and the device's answer (8 ms), the failed request (10 ms).
    for (const [req, resp, ms] of [[1, 4, 12], [2, 3, 8], [5, 6, 10]] as const) {
      expect(col(req, 4), `response_in of ${req}`).toBe(String(resp));
      expect(col(resp, 5), `response_to of ${resp}`).toBe(String(req));
      expect(Number(col(resp, 6)) * 1000).toBeCloseTo(ms, 3);
    }
    expect(col(6, 7)).toBe('TIMEOUT');
  });
});
