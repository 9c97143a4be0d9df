// Shared by the external-bus tests: the C peer (test/peers/vmsg-peer.c) compiled once per test
// process with `cc -O2` into a temporary directory, peer processes, unique window and socket
// paths, the built-in echo device in a worker thread, and an in-process driver that checks
// every answer (token, id, dev_num, order).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll } from 'vitest';
import type { Router } from '../../src/router/router.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import type { EndpointPort } from '../../src/endpoint/port.js';
import { wasmModule } from '../../src/wasm/module.js';
import { compiledModule } from '../../src/util/paths.js';

export const PEER_SOURCE = fileURLToPath(new URL('../peers/vmsg-peer.c', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'vmsg-peer-'));
const windowFiles: string[] = [];
const cleanUp = (): void => {
  rmSync(workDir, { recursive: true, force: true });
  for (const f of windowFiles) rmSync(f, { force: true });
};
// After the importing file's tests (a hook at module level joins the file's own suite), and at
// exit as well: a test worker may be ended without running exit handlers.
afterAll(cleanUp);
process.on('exit', cleanUp);

/**
 * Compile C peer sources (`cc -O2`) to `dir/NAME` for each `NAME.c` in `sources`. Returns why the
 * tests that need them cannot run here (no C compiler: they skip, saying so), or null; any other
 * compiler failure throws.
 */
export function compileCPeers(dir: string, sources: { name: string; path: string }[], what: string): string | null {
  try {
    for (const s of sources) execFileSync('cc', ['-O2', '-o', join(dir, s.name), s.path], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') {
      const why = `no C compiler (cc) on PATH: ${what} are skipped`;
      console.warn(`SKIP: ${why}`);
      return why;
    }
    throw new Error(`cc failed on ${sources.map((s) => s.path).join(', ')}: ${err.stderr?.toString() ?? err.message}`);
  }
}

/** Why the C-peer tests cannot run here (no compiler), or null. Compiles on first use. */
export const peerSkipReason: string | null = compileCPeers(workDir, [{ name: 'vmsg-peer', path: PEER_SOURCE }], 'the external-peer tests (test/peers/vmsg-peer.c)');

export const PEER_BIN = join(workDir, 'vmsg-peer');
const shmDir = (() => {
  try {
    statSync('/dev/shm');
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
})();
let serial = 0;

/** Fresh paths for one window and its doorbell socket (removed at exit). */
export function freshPaths(tag: string): { path: string; sock: string } {
  // The run id lets the suite's final check (test/global-setup.ts) find this run's windows.
  const n = `${process.env.VMSG_TEST_RUN ?? 'x'}-${process.pid}-${tag}-${serial++}`;
  const path = join(shmDir, `vmsg-test-${n}`);
  windowFiles.push(path);
  return { path, sock: join(workDir, `${n}.sock`) };
}

export interface PeerRun {
  proc: ChildProcess;
  /** Resolves when the process ends: exit code (null if killed), stdout, stderr. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function startPeer(args: string[]): PeerRun {
  const proc = spawn(PEER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { proc, done };
}

/** Peer arguments for a window: bus, role, path, size and the socket when `doorbell`. */
export function peerArgs(bus: string, role: 'device' | 'driver', p: { path: string; sock: string }, size: number, doorbell: boolean): string[] {
  return ['--bus', bus, '--role', role, '--path', p.path, '--size', String(size), ...(doorbell ? ['--sock', p.sock] : []), '--wait-ms', '20000'];
}

/** The link URI our side opens for the same window. */
export function linkUri(bus: string, ourRole: 'device' | 'driver', p: { path: string; sock: string }, size: number, doorbell: boolean, extra = ''): string {
  return `${bus}:${p.path}?size=${size}&role=${ourRole}${doorbell ? `&sock=${p.sock}` : ''}${extra}`;
}

export interface EchoDevice {
  link: LinkDescriptor;
  stop(): Promise<void>;
}

/** The built-in echo device (src/device/echo-worker.ts) serving `devices`, in a worker thread. */
export async function startEcho(router: Router, devices: number[]): Promise<EchoDevice> {
  const link = await router.attachDevice({ devices });
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(compiledModule('device/echo-worker.js'), {
    workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), spinBeforeSleep: 200 },
  });
  const ended = new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  return {
    link,
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
      await ended;
      await w.terminate();
      await router.detach(link);
    },
  };
}

import { sleep } from '../helpers/wait.js';
export { sleep };

export interface DriveResult {
  sent: number;
  answered: number;
  failed: number;
  orderViolations: number;
  errors: string[];
  /** Bus events seen meanwhile (EVENT_DEVICE as hex). */
  busEvents: string[];
  /** The failure events (hex). */
  failures: string[];
}

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

/** Bus frames (hex) that reach `port` within `ms`, stopping early once `want` was among them. */
export async function busFramesUntil(port: EndpointPort, want: string, ms = 3000): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + ms;
  while (!seen.includes(want) && Date.now() < deadline) {
    const f = port.recv();
    if (f === null) await sleep(2);
    else if (f[0]! & 0x02) seen.push(hex(f));
  }
  return seen;
}

/**
 * Send `count` requests (GET_DEVICE_STATUS, or EVENT_AVAIL with avail) to `dev` through an
 * in-process driver port, at most `outstanding` in flight, and check each answer: response bit,
 * msg_id, dev_num, the driver's token, order. A transport failure event (0xC1) counts as the
 * request's one answer. Stops after `idleMs` without progress.
 */
export async function driveRequests(
  port: EndpointPort, dev: number, count: number, outstanding: number, opts: { avail?: boolean; idleMs?: number; stopOnFailure?: boolean } = {},
): Promise<DriveResult> {
  const r: DriveResult = { sent: 0, answered: 0, failed: 0, orderViolations: 0, errors: [], busEvents: [], failures: [] };
  const fifo: number[] = []; // tokens (or vq indices) in flight, oldest first
  let last = Date.now();
  const idleMs = opts.idleMs ?? 5000;
  const more = (): boolean => r.sent < count && !(opts.stopOnFailure === true && r.failed > 0);
  while ((more() || fifo.length > 0) && Date.now() - last < idleMs) {
    let progress = false;
    for (let f = port.recv(); f !== null; f = port.recv()) {
      progress = true;
      const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
      if (f[0] === 0x02 && f[1] === 0xc1) { // VMSG_EVT_REQUEST_FAILED: device @8, reason @11, token @12
        const tok = dv.getUint16(12, true);
        const at = dv.getUint16(8, true) === dev ? fifo.indexOf(tok) : -1;
        r.failures.push(hex(f));
        if (at < 0) r.errors.push(`failure for nothing in flight: ${hex(f)}`);
        else {
          if (at !== 0) r.orderViolations++;
          fifo.splice(at, 1);
          r.failed++;
        }
        continue;
      }
      if (f[0]! & 0x02) { r.busEvents.push(hex(f)); continue; }
      const key = opts.avail ? dv.getUint32(8, true) : dv.getUint16(4, true);
      const wantType = opts.avail ? 0x00 : 0x01;
      const wantId = opts.avail ? 0x42 : 0x07;
      if (f[0] !== wantType || f[1] !== wantId || dv.getUint16(2, true) !== dev) {
        r.errors.push(`unexpected frame ${hex(f)}`);
        continue;
      }
      const at = fifo.indexOf(key);
      if (at < 0) r.errors.push(`answer for nothing in flight: ${hex(f)}`);
      else {
        if (at !== 0) r.orderViolations++;
        fifo.splice(at, 1);
        r.answered++;
      }
    }
    // After a failure (the device went away) send nothing more; collect what is in flight.
    while (r.sent < count && fifo.length < outstanding && !(opts.stopOnFailure === true && r.failed > 0)) {
      const f = new Uint8Array(opts.avail ? 16 : 8);
      const dv = new DataView(f.buffer);
      const key = opts.avail ? r.sent % 65536 : (r.sent % 65535) + 1;
      f[0] = 0;
      f[1] = opts.avail ? 0x41 : 0x07;
      dv.setUint16(2, dev, true);
      dv.setUint16(4, opts.avail ? 0 : key, true);
      dv.setUint16(6, f.length, true);
      if (opts.avail) dv.setUint32(8, key, true);
      if (!port.send(f)) break;
      fifo.push(key);
      r.sent++;
      progress = true;
    }
    port.flush();
    if (progress) last = Date.now();
    else await new Promise((res) => setImmediate(res));
  }
  if (fifo.length > 0) r.errors.push(`${fifo.length} request(s) never answered`);
  return r;
}
