// A doorbell whose owner sleeps in poll(2) on doorbell sockets and an eventfd
// (src/wait/poll-doorbell.ts, the DOORBELL_ASLEEP_POLL half of the argument in
// src/wait/doorbell.ts), over a real Unix socket pair: an in-process waker that rings between
// the last look and poll(2), a peer's byte sent then, and a peer that closes its end. A waker
// racing the sleeper across threads, through the WASM publish path, is
// test/bus/shard-doorbell.test.ts (a router shard).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { compiledModule } from '../../src/util/paths.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { DoorbellSocket } from '../../src/bus/doorbell-socket.js';
import { tryBellAddon, MODE_DATA, MODE_NO_IN, MODE_OUT, READY_IN, READY_OUT, TAKE_DATA } from '../../src/native/bell.js';
import { ringDoorbell, Doorbell, DOORBELL_ASLEEP_POLL, DOORBELL_AWAKE } from '../../src/wait/doorbell.js';
import { PollDoorbell, type SocketSet } from '../../src/wait/poll-doorbell.js';
import { publishRacingSleeper, until } from '../helpers/wait.js';

const addon = tryBellAddon();
const LONG_MS = 10_000;

/** One socket, as the shard's set of its links' sockets; remembers what the last poll reported. */
class OneSocket implements SocketSet {
  readonly fds = new Int32Array(1);
  count = 1;
  reported: number[] = [];
  constructor(fd: number) {
    this.fds[0] = fd;
  }
  refresh(): void {}
  report(status: Int32Array): void {
    this.reported.push(status[0]!);
    if (status[0] === -1) this.count = 0;
  }
}

/**
 * A connected pair of doorbell sockets in a fresh directory for the enclosing describe block,
 * made before its tests and closed after them. Only the poll under test reads `ours` (as when a
 * shard takes a link's socket).
 */
function socketPair(name: string): { ours: DoorbellSocket; peer: DoorbellSocket } {
  const dir = mkdtempSync(join(tmpdir(), `vmsg-poll-${name}-`));
  const pair = {} as { ours: DoorbellSocket; peer: DoorbellSocket };
  beforeAll(async () => {
    const listening = await DoorbellSocket.listen(join(dir, `${name}.sock`));
    const accepted = new Promise<DoorbellSocket>((r) => listening.onPeer(r));
    pair.peer = await DoorbellSocket.tryConnect(join(dir, `${name}.sock`));
    pair.ours = await accepted;
    expect(pair.ours.stopReading()).toBe(true);
  });
  afterAll(async () => {
    await pair.peer?.close();
    await pair.ours?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return pair;
}

describe.skipIf(addon === null)('sleeping in poll(2): the DOORBELL_ASLEEP_POLL branches', () => {
  const mem = new SharedMemory({ bytes: 1024 * 1024 });
  const pair = socketPair('doorbell');
  const fresh = (): { bell: PollDoorbell; set: OneSocket; at: number } => {
    const word = mem.alloc(64);
    const set = new OneSocket(pair.ours.fd);
    return { bell: new PollDoorbell(mem.buffer, word, addon!, set), set, at: word >>> 2 };
  };

  test('an in-process waker that rings between the last look and poll(2): poll returns at once', () => {
    const { bell, at } = fresh();
    let seen = -1;
    const t0 = performance.now();
    const found = bell.sleep(() => {
      seen = Atomics.load(mem.i32, at);
      ringDoorbell(mem.i32, at); // publish + ring, after the look missed the work
      return false;
    }, LONG_MS);
    expect(found).toBe(false);
    expect(seen).toBe(DOORBELL_ASLEEP_POLL);
    expect(performance.now() - t0).toBeLessThan(LONG_MS / 2);
    expect(bell).toMatchObject({ sleeps: 1, eventWakes: 1, socketWakes: 0, timeouts: 0 });
    expect(bell.state).toBe(DOORBELL_AWAKE);
    bell.close();
  });

  test('Doorbell.wake (a stopping owner) reaches a poll sleeper too', () => {
    const { bell, at } = fresh();
    const t0 = performance.now();
    bell.sleep(() => {
      new Doorbell(mem.buffer, at << 2).wake();
      return false;
    }, LONG_MS);
    expect(performance.now() - t0).toBeLessThan(LONG_MS / 2);
    expect(bell.eventWakes).toBe(1);
    bell.close();
  });

  test('a peer byte sent after the last look wakes the sleeper; bytes from before it are drained first', () => {
    const { bell, set } = fresh();
    // A byte already there before the sleep (its frames seen by the look): no early return for it.
    expect(addon!.ring(pair.peer.fd)).toBe(1);
    const t0 = performance.now();
    let slept = bell.sleep(() => false, 30);
    expect(slept).toBe(false);
    expect(bell.timeouts).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    // Now the peer publishes after our look, then rings.
    const t1 = performance.now();
    slept = bell.sleep(() => {
      addon!.ring(pair.peer.fd);
      return false;
    }, LONG_MS);
    expect(slept).toBe(false);
    expect(performance.now() - t1).toBeLessThan(LONG_MS / 2);
    expect(bell.socketWakes).toBe(1);
    expect(set.reported.at(-1)).toBe(1);
    bell.close();
  });

  test('an eventfd written late (after the sleeper woke by itself) costs one early return, no more', () => {
    const { bell, at } = fresh();
    bell.sleep(() => false, 1); // times out
    // A waker that saw ASLEEP_POLL before the owner stored AWAKE writes the eventfd now.
    Atomics.store(mem.i32, at, DOORBELL_ASLEEP_POLL);
    ringDoorbell(mem.i32, at);
    bell.sleep(() => false, LONG_MS); // returns at once on the stale write
    expect(bell.eventWakes).toBe(1);
    const t0 = performance.now();
    bell.sleep(() => false, 30); // and the next sleep sleeps
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(bell.timeouts).toBe(2);
    bell.close();
  });

  test('thousands of wake-ups, by eventfd and by socket byte, landing while a thread goes to sleep in poll(2): none lost', async () => {
    const pollUrl = pathToFileURL(compiledModule('wait/poll-doorbell.js')).href;
    const idleUrl = pathToFileURL(compiledModule('wait/idle-strategy.js')).href;
    const bellUrl = pathToFileURL(compiledModule('native/bell.js')).href;
    const word = mem.alloc(64);
    const flag = mem.alloc(64);
    const ack = mem.alloc(64);
    const COUNT = 2000;
    const TIMEOUT_MS = 250;
    // The sleeper: a few spins only, so most publishes meet it announcing, looking or asleep;
    // a wake-up that is lost leaves it asleep for the whole timeout with the work there.
    const code = `
      const { workerData: d, parentPort } = require('node:worker_threads');
      Promise.all([import(${JSON.stringify(pollUrl)}), import(${JSON.stringify(idleUrl)}), import(${JSON.stringify(bellUrl)})]).then(([{ PollDoorbell }, { SpinThenSleep }, { bellAddon }]) => {
        const i32 = new Int32Array(d.buffer);
        const set = { fds: Int32Array.of(d.fd), count: 1, refresh() {}, report() {} };
        const bell = new PollDoorbell(d.buffer, d.word, bellAddon(), set);
        const idle = new SpinThenSleep(3);
        let lost = 0;
        for (let i = 1; i <= d.count; i++) {
          const t0 = performance.now();
          idle.waitFor(bell, () => Atomics.load(i32, d.flag >>> 2) >= i, d.timeoutMs);
          if (performance.now() - t0 >= d.timeoutMs * 0.9) lost++;
          Atomics.store(i32, d.ack >>> 2, i);
        }
        bell.close();
        parentPort.postMessage({ lost, sleeps: bell.sleeps, socketWakes: bell.socketWakes, eventWakes: bell.eventWakes });
      });`;
    const w = new Worker(code, { eval: true, workerData: { buffer: mem.buffer, word, flag, ack, count: COUNT, timeoutMs: TIMEOUT_MS, fd: pair.ours.fd } });
    const done = new Promise<{ lost: number; sleeps: number; socketWakes: number; eventWakes: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    try {
      // Publish, then wake: in-process (eventfd) or as an external peer (a byte).
      await publishRacingSleeper(mem.i32, flag, ack, COUNT, (i) => { if (i % 2 === 0) ringDoorbell(mem.i32, word >>> 2); else addon!.ring(pair.peer.fd); });
      const r = await done;
      expect(r.lost).toBe(0);
      expect(r.socketWakes).toBeGreaterThan(0); // both paths really ran
      expect(r.eventWakes).toBeGreaterThan(0);
    } finally {
      await w.terminate();
    }
  }, 60_000);

  test('the peer closes its end: the sleep reports it (drain or poll), and the socket is not polled again', async () => {
    const { bell, set } = fresh();
    await pair.peer.close();
    // The descriptor is closed once Node's handle is: then a byte towards it cannot be sent.
    await until(() => addon!.ring(pair.ours.fd) < 0, 'the peer end closed');
    bell.sleep(() => false, 30);
    expect(set.reported).toContain(-1);
    expect(set.count).toBe(0);
    bell.close();
  });
});

describe.skipIf(addon === null)('poll(2) on an eventfd alone, and data sockets a thread reads itself', () => {
  const mem = new SharedMemory({ bytes: 1024 * 1024 });
  const pair = socketPair('data');

  test('no sockets (EndpointPort pollSleep): an in-process waker between the last look and poll(2) ends the sleep at once', () => {
    const word = mem.alloc(64);
    const bell = new PollDoorbell(mem.buffer, word, addon!, null);
    let seen = -1;
    const t0 = performance.now();
    bell.sleep(() => {
      seen = Atomics.load(mem.i32, word >>> 2);
      ringDoorbell(mem.i32, word >>> 2);
      return false;
    }, LONG_MS);
    expect(seen).toBe(DOORBELL_ASLEEP_POLL);
    expect(performance.now() - t0).toBeLessThan(LONG_MS / 2);
    expect(bell).toMatchObject({ sleeps: 1, eventWakes: 1, timeouts: 0 });
    bell.sleep(() => false, 20); // and without a waker it sleeps its timeout
    expect(bell.timeouts).toBe(1);
    bell.close();
  });

  test('a data socket: take() reports it readable and leaves its bytes; recvInto reads them, sendFrom writes; end of file is -1', async () => {
    const fds = Int32Array.of(pair.ours.fd);
    const status = new Int32Array(1);
    const data = Int32Array.of(MODE_DATA);
    // Nothing there: writable only when asked for.
    expect(addon!.take(-1, fds, 1, 0, status, data)).toBe(0);
    expect(addon!.take(-1, fds, 1, 0, status, Int32Array.of(MODE_DATA | MODE_OUT)) & TAKE_DATA).toBe(TAKE_DATA);
    expect(status[0]).toBe(READY_OUT);
    pair.peer.socket.write(Uint8Array.of(1, 2, 3, 4, 5));
    await until(() => addon!.take(-1, fds, 1, 0, status, data) === TAKE_DATA, 'the bytes readable');
    expect(status[0]).toBe(READY_IN);
    // Still there (take() did not read them), and MODE_NO_IN does not wait for them.
    expect(addon!.take(-1, fds, 1, 0, status, Int32Array.of(MODE_DATA | MODE_NO_IN))).toBe(0);
    const u8 = new Uint8Array(mem.buffer);
    const at = mem.alloc(64);
    expect(addon!.recvInto(pair.ours.fd, u8, at, 3)).toBe(3);
    expect(addon!.recvInto(pair.ours.fd, u8, at + 3, 60)).toBe(2);
    expect([...u8.subarray(at, at + 5)]).toEqual([1, 2, 3, 4, 5]);
    expect(addon!.recvInto(pair.ours.fd, u8, at, 60)).toBe(0); // nothing waiting
    expect(addon!.recvInto(pair.ours.fd, u8, u8.length - 4, 60)).toBe(-3); // outside the array
    // Writing: the peer receives exactly the range.
    const got: number[] = [];
    pair.peer.socket.on('data', (c: Buffer) => got.push(...c));
    u8.set([9, 8, 7, 6], at);
    expect(addon!.sendFrom(pair.ours.fd, u8, at + 1, 2)).toBe(2);
    await until(() => got.length === 2, 'the peer got the bytes');
    expect(got).toEqual([8, 7]);
    // The peer closes: readable, and the read says end of file.
    await pair.peer.close();
    await until(() => addon!.take(-1, fds, 1, 0, status, data) === TAKE_DATA, 'the close seen');
    expect(addon!.recvInto(pair.ours.fd, u8, at, 60)).toBe(-1);
  });
});
