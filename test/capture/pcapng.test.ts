// pcapng export: block structure per the pcapng spec (one IDB per link, one EPB per frame with
// µs timestamps and direction flags), and, where tshark is installed, the Wireshark dissector
// tools/wireshark/virtio-msg.lua reading it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { packageRoot } from '../../src/util/paths.js';
import { BT_SHB, BT_IDB, BT_EPB, LINKTYPE_USER0, EPB_INBOUND, EPB_OUTBOUND } from '../../src/capture/pcapng.js';
import { VMC_FORMAT, VMC_VERSION } from '../../src/capture/vmc.js';
import { vmsg } from '../cli/run-vmsg.js';
import { bytes } from '../router/helpers.js';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0) + 0.123; // ms, with µs
const FRAMES: [number, number, number, string][] = [
  [T0, 0, 0, '0002010005000800'], //                       driver→router GET_DEVICE_INFO dev 1
  [T0 + 0.001, 1, 1, '0002010001000800'], //               router→device (router token 1)
  [T0 + 0.010, 1, 0, '01020100010020000400000000000000000000000000000010000000000000000000'.slice(0, 64)], // device→router, 32 B
  [T0 + 0.012, 0, 1, '0240000000000c0002000200'], //       router→driver EVENT_DEVICE REMOVED dev 2
  [T0 + 0.020, 0, 0, '00410100000010000300000034120080'], // EVENT_AVAIL vq 3, offset 0x1234 wrap
];

let dir: string;
let vmc: string;
let out: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmsg-pcap-'));
  vmc = join(dir, 'in.vmc');
  out = join(dir, 'out.pcapng');
  const records: unknown[] = [
    { format: VMC_FORMAT, version: VMC_VERSION, started: new Date(T0).toISOString(), tool: 'test' },
    { link: 0, kind: 'driver', name: 'driver#0' },
    { link: 1, kind: 'device', name: 'device#1 devices 1' },
    ...FRAMES.map(([t, l, d, h]) => [t, l, d, Buffer.from(bytes(h))]),
    { end: new Date(T0).toISOString(), captured: FRAMES.length, lost: 0 },
  ];
  writeFileSync(vmc, Buffer.concat(records.map((r) => pack(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Block { type: number; body: DataView; options: Map<number, Uint8Array[]> }

function blocks(file: Buffer, bodyLen: (type: number, body: DataView) => number): Block[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const list: Block[] = [];
  for (let at = 0; at < file.length;) {
    const type = dv.getUint32(at, true);
    const total = dv.getUint32(at + 4, true);
    expect(total % 4).toBe(0);
    expect(dv.getUint32(at + total - 4, true)).toBe(total); // trailing length repeats the leading one
    const body = new DataView(file.buffer, file.byteOffset + at + 8, total - 12);
    const options = new Map<number, Uint8Array[]>();
    for (let o = (bodyLen(type, body) + 3) & ~3; o < body.byteLength;) {
      const code = body.getUint16(o, true);
      const len = body.getUint16(o + 2, true);
      if (code === 0) break;
      options.set(code, [...(options.get(code) ?? []), new Uint8Array(body.buffer, body.byteOffset + o + 4, len)]);
      o += 4 + ((len + 3) & ~3);
    }
    list.push({ type, body, options });
    at += total;
  }
  return list;
}

describe('vmsg export-pcapng', () => {
  it('writes a section header, one interface per link and one packet per frame with µs time and direction', async () => {
    const r = await vmsg('export-pcapng', vmc, out);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/5 frames on 2 links/);
    const file = readFileSync(out);
    const list = blocks(file, (type, body) => (type === BT_SHB ? 16 : type === BT_IDB ? 8 : 20 + body.getUint32(12, true)));
    expect(list.map((b) => b.type)).toEqual([BT_SHB, BT_IDB, BT_EPB, BT_IDB, BT_EPB, BT_EPB, BT_EPB, BT_EPB]);
    expect(list[0]!.body.getUint32(0, true)).toBe(0x1a2b3c4d);
    const idbs = list.filter((b) => b.type === BT_IDB);
    for (const idb of idbs) {
      expect(idb.body.getUint16(0, true)).toBe(LINKTYPE_USER0);
      expect([...idb.options.get(9)![0]!]).toEqual([6]); // if_tsresol: µs
    }
    expect(Buffer.from(idbs[1]!.options.get(3)![0]!).toString()).toBe('device link: device#1 devices 1');
    const epbs = list.filter((b) => b.type === BT_EPB);
    epbs.forEach((e, i) => {
      const [t, link, d, h] = FRAMES[i]!;
      expect(e.body.getUint32(0, true)).toBe(link); // interfaces numbered in order of first use: link 0 → 0, link 1 → 1
      const us = (BigInt(e.body.getUint32(4, true)) << 32n) | BigInt(e.body.getUint32(8, true));
      expect(us).toBe(BigInt(Math.round(t * 1000)));
      const len = e.body.getUint32(12, true);
      expect(len).toBe(h.length / 2);
      expect(Buffer.from(e.body.buffer, e.body.byteOffset + 20, len).toString('hex')).toBe(h);
      expect(new DataView(e.options.get(2)![0]!.buffer, e.options.get(2)![0]!.byteOffset).getUint32(0, true)).toBe(d === 0 ? EPB_INBOUND : EPB_OUTBOUND);
    });
  });

  it('refuses a missing input and a wrong argument count', async () => {
    expect((await vmsg('export-pcapng', join(dir, 'none.vmc'), out)).stderr).toMatch(/cannot read capture .*none\.vmc: no such file or directory/);
    const r = await vmsg('export-pcapng', vmc);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/needs a capture file and an output file/);
  });

  const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;
  if (!tshark) console.warn('pcapng: tshark is not installed; the Wireshark dissector test is skipped (apt install tshark to run it)');
  it.skipIf(!tshark)('the Wireshark dissector decodes the exported frames (tshark)', async () => {
    if ((await vmsg('export-pcapng', vmc, out)).status !== 0) throw new Error('export failed');
    const lua = join(packageRoot(), 'tools', 'wireshark', 'virtio-msg.lua');
    const fields = ['virtio_msg.message', 'virtio_msg.dev_num', 'virtio_msg.token', 'virtio_msg.type.response',
      'virtio_msg.max_virtqueues', 'virtio_msg.device_bus_state', 'virtio_msg.vq_index', 'virtio_msg.next_offset'];
    const text = execFileSync('tshark', ['-X', `lua_script:${lua}`, '-r', out, '-T', 'fields', ...fields.flatMap((x) => ['-e', x])], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000,
    });
    const rows = text.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(5);
    expect(rows[0]!.slice(0, 4)).toEqual(['GET_DEVICE_INFO', '1', '5', '0']); // booleans print as 0/1
    expect(rows[1]!.slice(0, 3)).toEqual(['GET_DEVICE_INFO', '1', '1']);
    expect(rows[2]![0]).toBe('GET_DEVICE_INFO');
    expect(rows[2]![3]).toBe('1');
    expect(rows[2]![4]).toBe('16'); // max_virtqueues at payload @16
    expect(rows[3]![0]).toBe('EVENT_DEVICE');
    expect(rows[3]![5]).toBe('2');
    expect(rows[4]!.slice(6)).toEqual(['3', '0x80001234']);
  });
});
