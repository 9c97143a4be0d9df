// wake-hops: what one thread wake-up costs here, by the mechanisms the wake-up chain of
// `vmsg bench --target vmamp:…&sock=…` → `vmsg route --device …` uses (docs/ARCHITECTURE.md
// "The wake-up chain"). Each is a ping-pong between two sides, one request at a time; a hop is
// half a round trip (median):
//   futex       Atomics.wait / Atomics.notify between two worker threads (shard ↔ device worker);
//   wait-async  the main thread on Atomics.waitAsync ↔ a worker on Atomics.wait (shard → the
//               main thread's doorbell bridge, Device SDK devices);
//   socket-loop a Unix socket, both ends in Node event loops ('data' events: the router's main
//               thread side of a doorbell socket);
//   socket-sys  a Unix socket, both ends blocking in poll(2)/recv(2) via src/native/bell.ts (the
//               load engine's side, what the C peer does, and a shard asleep in ppoll(2) on its
//               links' sockets: src/wait/poll-doorbell.ts);
//   eventfd     two threads asleep in ppoll(2) on an eventfd each, woken by a write to it (an
//               in-process waker — main thread, device worker, other shard — waking a shard
//               that sleeps in poll(2) instead of a futex: DOORBELL_ASLEEP_POLL).
import { Worker } from 'node:worker_threads';
import { createServer, createConnection, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emit, isQuick, log, median } from './stats.js';

const quick = isQuick();
const N = quick ? 2000 : 5000;

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const w = new Int32Array(workerData.sab);
const n = workerData.n;
if (workerData.kind === 'socket-sys') {
  const bell = require(workerData.addon);
  parentPort.once('message', (fd) => {
    for (let i = 0; i < n; i++) { while (bell.wait(fd, 1000) !== 1); bell.ring(fd); }
    parentPort.postMessage('done');
  });
} else if (workerData.kind === 'eventfd') {
  const bell = require(workerData.addon);
  parentPort.once('message', ({ mine, theirs }) => {
    const none = new Int32Array(1);
    for (let i = 0; i < n; i++) { while (bell.take(mine, none, 0, 1000, none) === 0); bell.signal(theirs); }
    parentPort.postMessage('done');
  });
} else {
  // w[0]: ping counter (main → worker), w[1]: pong counter (worker → main)
  for (let i = 1; i <= n; i++) {
    while (Atomics.load(w, 0) < i) Atomics.wait(w, 0, i - 1, 1000);
    Atomics.store(w, 1, i);
    Atomics.notify(w, 1);
  }
  parentPort.postMessage('done');
}`;

function spawnWorker(kind: string, sab: SharedArrayBuffer, addon = ''): Worker {
  return new Worker(WORKER, { eval: true, workerData: { kind, sab, n: N, addon } });
}

/** Median half round trip (µs) of `rounds` samples. */
function hop(samples: number[]): number {
  return Number(((median(samples) * 1000) / 2).toFixed(2));
}

async function futexPair(): Promise<number> {
  // Both sides blocking on Atomics.wait: the main thread plays a worker's part here.
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const worker = spawnWorker('futex', sab);
  const t: number[] = [];
  for (let i = 1; i <= N; i++) {
    const t0 = performance.now();
    Atomics.store(w, 0, i);
    Atomics.notify(w, 0);
    while (Atomics.load(w, 1) < i) Atomics.wait(w, 1, i - 1, 1000);
    t.push(performance.now() - t0);
  }
  await new Promise((r) => worker.once('message', r));
  await worker.terminate();
  return hop(t);
}

async function waitAsyncPair(): Promise<number> {
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const worker = spawnWorker('futex', sab);
  const t: number[] = [];
  for (let i = 1; i <= N; i++) {
    const t0 = performance.now();
    Atomics.store(w, 0, i);
    Atomics.notify(w, 0);
    while (Atomics.load(w, 1) < i) {
      const r = Atomics.waitAsync(w, 1, i - 1, 1000);
      if (r.async) await r.value;
    }
    t.push(performance.now() - t0);
  }
  await new Promise((r) => worker.once('message', r));
  await worker.terminate();
  return hop(t);
}

async function socketPair(dir: string): Promise<{ a: Socket; b: Socket; close(): Promise<void> }> {
  const path = join(dir, `s-${Math.random().toString(36).slice(2)}`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, () => r()));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = createConnection(path);
  await new Promise((r) => a.once('connect', r));
  const b = await accepted;
  a.setNoDelay(true);
  b.setNoDelay(true);
  return { a, b, close: async () => { a.destroy(); b.destroy(); await new Promise((r) => server.close(r)); } };
}

async function socketLoop(dir: string): Promise<number> {
  const { a, b, close } = await socketPair(dir);
  b.on('data', () => b.write(Buffer.of(1)));
  const t: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const got = new Promise((r) => a.once('data', r));
    a.write(Buffer.of(1));
    await got;
    t.push(performance.now() - t0);
  }
  await close();
  return hop(t);
}

async function socketSys(dir: string): Promise<number> {
  const { bellAddon } = await import('../src/native/bell.js');
  const { packageRoot } = await import('../src/util/paths.js');
  const bell = bellAddon();
  const { a, b, close } = await socketPair(dir);
  a.pause();
  b.pause();
  const fd = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;
  const worker = spawnWorker('socket-sys', new SharedArrayBuffer(8), join(packageRoot(), 'build', 'Release', 'vmsg_bell.node'));
  worker.postMessage(fd(b));
  const t: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    bell.ring(fd(a));
    while (bell.wait(fd(a), 1000) !== 1);
    t.push(performance.now() - t0);
  }
  await new Promise((r) => worker.once('message', r));
  await worker.terminate();
  await close();
  return hop(t);
}

async function eventfdPair(): Promise<number> {
  const { bellAddon } = await import('../src/native/bell.js');
  const { packageRoot } = await import('../src/util/paths.js');
  const bell = bellAddon();
  const mine = bell.eventAcquire();
  const theirs = bell.eventAcquire();
  const worker = spawnWorker('eventfd', new SharedArrayBuffer(8), join(packageRoot(), 'build', 'Release', 'vmsg_bell.node'));
  worker.postMessage({ mine: theirs, theirs: mine });
  const none = new Int32Array(1);
  const t: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    bell.signal(theirs);
    while (bell.take(mine, none, 0, 1000, none) === 0);
    t.push(performance.now() - t0);
  }
  await new Promise((r) => worker.once('message', r));
  await worker.terminate();
  bell.eventRelease(mine);
  bell.eventRelease(theirs);
  return hop(t);
}

const dir = mkdtempSync(join(tmpdir(), 'vmsg-wake-hops-'));
try {
  const samples: Record<string, number> = {};
  samples['hop-futex-us'] = await futexPair();
  samples['hop-wait-async-us'] = await waitAsyncPair();
  samples['hop-socket-loop-us'] = await socketLoop(dir);
  samples['hop-socket-sys-us'] = await socketSys(dir);
  samples['hop-eventfd-us'] = await eventfdPair();
  for (const [k, v] of Object.entries(samples)) log(`${k}: ${v} µs`);
  emit({ samples, info: { round_trips: N } });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
