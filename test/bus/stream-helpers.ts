// Shared pieces of the stream bus tests: a local driver that collects what the router sends it
// (polling, so the main thread's event loop keeps running the stream bridges), frame builders,
// the remote-router fixture process, a raw socket peer speaking STREAM_HELLO by hand.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EndpointPort } from '../../src/endpoint/port.js';
import type { Router } from '../../src/router/router.js';
import { wasmModule } from '../../src/wasm/module.js';
import { compiledModule } from '../../src/util/paths.js';
import { FrameReader } from '../../src/bus/stream-framing.js';

import { sleep } from '../helpers/wait.js';
export { sleep };
export const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const u16 = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);

/** GET_DEVICE_STATUS request (8 bytes) for `dev` with driver token `token`. */
export const getStatus = (dev: number, token: number): Uint8Array =>
  Uint8Array.from([0x00, 0x07, dev & 0xff, dev >> 8, token & 0xff, token >> 8, 0x08, 0x00]);

export interface DeviceEvent { dev: number; state: number }
export interface Failure { dev: number; msgId: number; reason: number; token: number }
export interface Response { dev: number; msgId: number; token: number; status: number }

/** What a driver received, sorted by kind. */
export class Inbox {
  readonly frames: Uint8Array[] = [];
  constructor(readonly port: EndpointPort) {}

  pump(): void {
    for (let f = this.port.recv(); f !== null; f = this.port.recv()) this.frames.push(f);
  }

  get deviceEvents(): DeviceEvent[] {
    return this.frames.filter((f) => f[0] === 0x02 && f[1] === 0x40).map((f) => ({ dev: u16(f, 8), state: u16(f, 10) }));
  }

  get failures(): Failure[] {
    return this.frames.filter((f) => f[0] === 0x02 && f[1] === 0xc1).map((f) => ({ dev: u16(f, 8), msgId: f[10]!, reason: f[11]!, token: u16(f, 12) }));
  }

  get responses(): Response[] {
    return this.frames.filter((f) => f[0] === 0x01).map((f) => ({ dev: u16(f, 2), msgId: f[1]!, token: u16(f, 4), status: f.length >= 12 ? f[8]! : -1 }));
  }

  /** Wait (polling) until `done()` holds; the error lists what arrived. */
  async until(done: () => boolean, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      this.pump();
      if (done()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received ${this.frames.map(hex).join(' ')}`);
      await sleep(2);
    }
  }

  clear(): void {
    this.frames.length = 0;
  }
}

/** Send frames, waiting (polling) for ring room. */
export async function sendAll(port: EndpointPort, frames: Uint8Array[]): Promise<void> {
  for (const f of frames) {
    while (!port.send(f)) {
      port.flush();
      await sleep(1);
    }
  }
  port.flush();
}

/** The built-in echo device on `devices` of `router`, in a worker thread. */
export async function startEcho(router: Router, devices: number[]): Promise<{ stop(): Promise<void> }> {
  const link = await router.attachDevice({ devices });
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(compiledModule('device/echo-worker.js'), {
    workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), spinBeforeSleep: 100 },
  });
  return {
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
      await w.terminate();
    },
  };
}

const FIXTURE = fileURLToPath(new URL('./fixtures/remote-router.mjs', import.meta.url));

export interface RemoteRouter {
  proc: ChildProcess;
  port: number | undefined;
  path: string | undefined;
  /** Send a stdin command; resolves with the fixture's JSON answer. */
  command(line: string): Promise<Record<string, unknown>>;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start the remote router fixture in its own node process; resolves once it listens. */
export function startRemoteRouter(uri: string, devices: number[]): Promise<RemoteRouter> {
  const proc = spawn(process.execPath, [FIXTURE, uri, devices.join(',')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const lines = createInterface({ input: proc.stdout! });
  const waiting: ((o: Record<string, unknown>) => void)[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('remote router fixture did not get ready in 30 s')), 30_000);
    void exited.then((e) => reject(new Error(`remote router fixture exited early: ${JSON.stringify(e)}`)));
    lines.on('line', (line) => {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.ready === true) {
        clearTimeout(t);
        resolve({
          proc,
          port: o.port as number | undefined,
          path: o.path as string | undefined,
          exited,
          command: (cmd) => new Promise((r) => {
            waiting.push(r);
            proc.stdin!.write(cmd + '\n');
          }),
        });
      } else {
        waiting.shift()?.(o);
      }
    });
  });
}

/** A hand-driven stream peer: raw socket, frames in order. */
export class RawPeer {
  readonly reader = new FrameReader(65535);
  readonly closed: Promise<void>;
  private wake: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      this.wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.once('close', () => {
      this.wake?.();
      r();
    }));
  }

  static connect(opts: net.NetConnectOpts): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(opts, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(...frames: Uint8Array[]): void {
    for (const f of frames) this.socket.write(f);
  }

  /** The next frame, or null when the peer closed first / nothing came within `ms`. */
  async next(ms = 5000): Promise<Uint8Array | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.reader.next();
      if (f !== null) return f.slice();
      if (this.socket.destroyed || Date.now() > deadline) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }
}
