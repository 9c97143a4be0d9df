// A hostile legacy v0 device side behind one link of a running router: the project's C QEMU
// linux-user peer (test/peers/qemu-v0-peer.c, compiled with cc) in its `hostile` mode — garbage
// after every reply's fields, one request in three never answered, an unsolicited garbage frame
// after each reply — while a driver keeps 4 requests in flight to it. Every request must still
// end in exactly one outcome (a response or a transport failure), in the order it was sent.
// Session after session (a fresh QEMU working directory each), for a while; nothing is left behind.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Router } from '../src/router/router.js';
import { openBusLink } from '../src/bus/open.js';
import { EndpointPort } from '../src/endpoint/port.js';
import { packageRoot } from '../src/util/paths.js';
import { hostileWindowPath } from './hostile-session.js';

export interface HostileLegacyOptions {
  seconds: number;
  sessionSeconds?: number;
  /** The legacy device's number on the router. */
  dev: number;
  tag: string;
  log?: (line: string) => void;
}

export interface HostileLegacyResult {
  bus: 'qemu-v0';
  attack: 'legacy';
  sessions: number;
  /** The hostile device's driver: requests sent, responses, transport failures, lost (neither), answers out of order, other frames. */
  sent: number;
  responses: number;
  failures: number;
  lost: number;
  orderErrors: number;
  other: number;
  /** The peer's own counts, summed (unanswered requests, garbage frames sent, …). */
  peer: Record<string, number>;
  peerFailures: number;
}

const QEMU_MEM_BASE = 0x4000_0000;

export async function runHostileLegacy(router: Router, o: HostileLegacyOptions): Promise<HostileLegacyResult> {
  const res: HostileLegacyResult = { bus: 'qemu-v0', attack: 'legacy', sessions: 0, sent: 0, responses: 0, failures: 0, lost: 0, orderErrors: 0, other: 0, peer: {}, peerFailures: 0 };
  const bin = mkdtempSync(join(tmpdir(), 'vmsg-hostile-legacy-bin-'));
  const mem = `${hostileWindowPath(o.tag)}-ram`;
  const log = o.log ?? (() => {});
  try {
    const peerBin = join(bin, 'qemu-v0-peer');
    execFileSync('cc', ['-O2', '-o', peerBin, join(packageRoot(), 'test', 'peers', 'qemu-v0-peer.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const end = performance.now() + o.seconds * 1000;
    while (performance.now() < end) {
      res.sessions++;
      const dir = mkdtempSync(join(tmpdir(), 'vmsg-hostile-legacy-'));
      const sock = join(dir, 'bell.sock');
      const peer = spawn(peerBin, ['--dir', dir, '--name', 'q', '--sock', sock, '--mem', mem, '--mem-size', String(1 << 20),
        '--mem-offset', `0x${QEMU_MEM_BASE.toString(16)}`, '--mode', 'hostile'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '', stderr = '';
      peer.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      peer.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => peer.once('close', (code) => r(code)));
      try {
        const link = await openBusLink(router, `qemu-v0:${dir}?name=q&sock=${sock}&mem=${mem}&mem_base=0x${QEMU_MEM_BASE.toString(16)}&dev=${o.dev}&reply_ms=20&wait=10000`, 'device');
        const drv = await router.attachDriver();
        try {
          await drive(new EndpointPort(drv), o.dev, (o.sessionSeconds ?? 2) * 1000, res);
        } finally {
          await router.detach(drv);
          await link.close();
        }
      } finally {
        peer.kill('SIGTERM');
        const code = await exited;
        const line = stdout.trim().split('\n').pop() ?? '';
        if (code !== 0 || !line.startsWith('{')) {
          res.peerFailures++;
          log(`hostile legacy session ${res.sessions}: the peer failed (${code}): ${stderr.trim()}`);
        } else {
          for (const [k, v] of Object.entries(JSON.parse(line) as Record<string, number>)) res.peer[k] = (res.peer[k] ?? 0) + v;
        }
        rmSync(dir, { recursive: true, force: true });
        rmSync(mem, { force: true });
      }
    }
  } finally {
    rmSync(bin, { recursive: true, force: true });
    rmSync(mem, { force: true });
  }
  return res;
}

/** GET_DEVICE_STATUS, 4 in flight, for `ms`; then every answer still owed is waited for. */
async function drive(port: EndpointPort, dev: number, ms: number, res: HostileLegacyResult): Promise<void> {
  const fifo: number[] = [];
  const sendUntil = performance.now() + ms;
  let token = 0;
  let lastProgress = performance.now();
  // The router fails an unanswered request after its timeout: nothing stays owed longer than that.
  const owedLimitMs = 30_000;
  while (performance.now() < sendUntil || (fifo.length > 0 && performance.now() - lastProgress < owedLimitMs)) {
    for (let f = port.recv(); f !== null; f = port.recv()) {
      lastProgress = performance.now();
      const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
      let tok = -1;
      if (f[0] === 0x02 && f[1] === 0xc1 && dv.getUint16(8, true) === dev) tok = dv.getUint16(12, true);
      else if (f[0] === 0x01 && f[1] === 0x07 && dv.getUint16(2, true) === dev) tok = dv.getUint16(4, true);
      const at = tok < 0 ? -1 : fifo.indexOf(tok);
      if (at < 0) { res.other++; continue; }
      if (at !== 0) res.orderErrors++;
      fifo.splice(at, 1);
      if (f[0] === 0x01) res.responses++;
      else res.failures++;
    }
    while (performance.now() < sendUntil && fifo.length < 4) {
      token = (token % 65535) + 1;
      const f = new Uint8Array(8);
      const dv = new DataView(f.buffer);
      f[1] = 0x07;
      dv.setUint16(2, dev, true);
      dv.setUint16(4, token, true);
      dv.setUint16(6, 8, true);
      if (!port.send(f)) break;
      fifo.push(token);
      res.sent++;
    }
    port.flush();
    await new Promise((r) => setImmediate(r));
  }
  res.lost += fifo.length;
}
