// The doorbell word (src/wait/doorbell.ts) and the idle strategies built on it
// (src/wait/idle-strategy.ts). The first block walks the no-lost-wake-up argument at the top of
// doorbell.ts branch by branch; then real threads: one wake-up, and thousands of publishes
// timed to land while the sleeper is going to sleep, none of which may be lost.
import { describe, expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { compiledModule } from '../../src/util/paths.js';
import { Doorbell, ringDoorbell, DOORBELL_ASLEEP, DOORBELL_AWAKE, DOORBELL_BUSY_POLL } from '../../src/wait/doorbell.js';
import { relaxedPublish } from '../../src/wait/fence.js';
import {
  BusySpin, Nap, SpinThenSleep, spinThenSleep, BUSY_POLL_SPINS, IDLE_LOOKED, IDLE_SLEPT, IDLE_SPUN,
} from '../../src/wait/idle-strategy.js';
import { publishRacingSleeper, until } from '../helpers/wait.js';

const mem = new SharedMemory({ bytes: 2 * 1024 * 1024 });
const word = mem.alloc(64);
const at = word >>> 2;

describe('the no-lost-wake-up argument, branch by branch', () => {
  test('work published before the last look: the look sees it, no sleep, the word back AWAKE', () => {
    const bell = new Doorbell(mem.buffer, word);
    let looks = 0;
    // The work "arrives" exactly when the word says ASLEEP: only the last look can see it.
    const found = bell.sleep(() => {
      looks++;
      return Atomics.load(mem.i32, at) === DOORBELL_ASLEEP;
    }, 10_000);
    expect(found).toBe(true);
    expect(looks).toBe(1);
    expect(bell.sleeps).toBe(0);
    expect(bell.state).toBe(DOORBELL_AWAKE);
  });

  test('a waker that rings between the last look and Atomics.wait: the wait returns at once', () => {
    const bell = new Doorbell(mem.buffer, word);
    const t0 = performance.now();
    // The look misses the work, then the waker publishes and rings before the sleeper waits:
    // it sees ASLEEP, puts AWAKE, so Atomics.wait(ASLEEP) finds "not-equal" and does not block.
    const found = bell.sleep(() => {
      ringDoorbell(mem.i32, at);
      return false;
    }, 10_000);
    expect(found).toBe(false);
    expect(bell.sleeps).toBe(1);
    expect(performance.now() - t0).toBeLessThan(1000); // not the 10 s timeout
    expect(bell.state).toBe(DOORBELL_AWAKE);
  });

  test('a waker that finds the owner awake (or busy-polling) changes nothing and notifies nobody', () => {
    Atomics.store(mem.i32, at, DOORBELL_AWAKE);
    ringDoorbell(mem.i32, at);
    expect(Atomics.load(mem.i32, at)).toBe(DOORBELL_AWAKE);
    Atomics.store(mem.i32, at, DOORBELL_BUSY_POLL);
    ringDoorbell(mem.i32, at);
    expect(Atomics.load(mem.i32, at)).toBe(DOORBELL_BUSY_POLL);
    Atomics.store(mem.i32, at, DOORBELL_AWAKE);
  });

  test('nobody rings: one sleep of about the timeout, then AWAKE; a timeout function is asked after the look', () => {
    const bell = new Doorbell(mem.buffer, word);
    let asked = 0;
    const t0 = performance.now();
    expect(bell.sleep(() => false, () => (asked++, 30))).toBe(false);
    const ms = performance.now() - t0;
    expect(asked).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(25);
    expect(ms).toBeLessThan(2000);
    expect(bell.sleeps).toBe(1);
    expect(bell.state).toBe(DOORBELL_AWAKE);
  });

  test('sleepAsync: the same protocol, woken by a ring from a timer while the event loop runs', async () => {
    const bell = new Doorbell(mem.buffer, word);
    let work = false;
    setTimeout(() => {
      work = true;
      bell.ring();
    }, 20);
    const t0 = performance.now();
    expect(await bell.sleepAsync(() => work, 10_000)).toBe(false);
    expect(work).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await bell.sleepAsync(() => work, 10_000)).toBe(true); // the last look sees it now
    expect(bell.state).toBe(DOORBELL_AWAKE);
  });

  test('relay: each ring is forwarded once, the word re-armed before the forward', async () => {
    const bell = new Doorbell(mem.buffer, word);
    const seen: number[] = [];
    const stop = bell.relay(() => seen.push(Atomics.load(mem.i32, at)));
    try {
      expect(bell.state).toBe(DOORBELL_ASLEEP);
      ringDoorbell(mem.i32, at);
      await until(() => seen.length === 1);
      expect(seen).toEqual([DOORBELL_ASLEEP]); // re-armed first
      ringDoorbell(mem.i32, at);
      await until(() => seen.length === 2);
    } finally {
      stop();
    }
    expect(bell.state).toBe(DOORBELL_AWAKE);
  });

  test('busy-poll: entered only with relaxed publication; left with AWAKE (and the fence)', () => {
    const bell = new Doorbell(mem.buffer, word);
    expect(bell.enterBusyPoll()).toBe(relaxedPublish());
    expect(bell.state).toBe(relaxedPublish() ? DOORBELL_BUSY_POLL : DOORBELL_AWAKE);
    bell.leaveBusyPoll();
    expect(bell.state).toBe(DOORBELL_AWAKE);
  });

  test('bad addresses are named', () => {
    expect(() => new Doorbell(mem.buffer, 6)).toThrow(/doorbell address must be a 4-aligned/);
    expect(() => new Doorbell(mem.buffer, 0)).toThrow(/non-zero/);
  });
});

describe('idle strategies', () => {
  test('spin-then-sleep: exactly `spins` empty passes spin, the next one sleeps, then a new spin phase', () => {
    const bell = new Doorbell(mem.buffer, word);
    const s = new SpinThenSleep(3, { sleepMs: 1 });
    const results = Array.from({ length: 8 }, () => s.idle(bell, () => false));
    // 3 spins, a sleep, 2 spins (the pass after a sleep counts), a sleep, 1 spin...
    expect(results).toEqual([IDLE_SPUN, IDLE_SPUN, IDLE_SPUN, IDLE_SLEPT, IDLE_SPUN, IDLE_SPUN, IDLE_SLEPT, IDLE_SPUN]);
    s.reset();
    expect([s.idle(bell, () => true), s.idle(bell, () => true), s.idle(bell, () => true), s.idle(bell, () => true)])
      .toEqual([IDLE_SPUN, IDLE_SPUN, IDLE_SPUN, IDLE_LOOKED]);
  });

  test('spin-then-sleep while napping: short naps, and after an empty nap no new spin phase', () => {
    const bell = new Doorbell(mem.buffer, word);
    let napping = true;
    const s = new SpinThenSleep(2, { sleepMs: 10_000, napMs: 0.05, napping: () => napping });
    const t0 = performance.now();
    const results = Array.from({ length: 5 }, () => s.idle(bell, () => false));
    expect(results).toEqual([IDLE_SPUN, IDLE_SPUN, IDLE_SLEPT, IDLE_SLEPT, IDLE_SLEPT]);
    expect(performance.now() - t0).toBeLessThan(5000); // naps, not the 10 s sleep
    napping = false;
    s.reset();
    expect(s.idle(bell, () => false, 1)).toBe(IDLE_SPUN);
  });

  test('nap: spins, then naps on a doorbell nobody rings', () => {
    const n = new Nap(4, 0.05);
    let looks = 0;
    expect(n.waitFor(Doorbell.private(), () => ++looks > 50, 5000)).toBe(true);
    expect(looks).toBe(51);
    expect(() => new Nap(1, 0)).toThrow(/napMs must be > 0/);
  });

  test('busy-spin never sleeps and gives up at the deadline; spinThenSleep(BUSY_POLL_SPINS) is busy-spin', () => {
    const bell = new Doorbell(mem.buffer, word);
    const b = new BusySpin();
    expect(b.busyPoll).toBe(true);
    expect(b.idle()).toBe(IDLE_SPUN);
    const t0 = performance.now();
    expect(b.waitFor(bell, () => false, 20)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    expect(bell.sleeps).toBe(0);
    expect(spinThenSleep(BUSY_POLL_SPINS)).toBeInstanceOf(BusySpin);
    expect(spinThenSleep(10)).toBeInstanceOf(SpinThenSleep);
  });

  test('waitFor and waitForAsync return as soon as a look finds work, without sleeping', async () => {
    const bell = new Doorbell(mem.buffer, word);
    let looks = 0;
    expect(new SpinThenSleep(2000).waitFor(bell, () => ++looks === 500, 10_000)).toBe(true);
    expect(looks).toBe(500);
    looks = 0;
    expect(await new SpinThenSleep(2000).waitForAsync(bell, () => ++looks === 500, 10_000)).toBe(true);
    expect(bell.sleeps).toBe(0);
    looks = 0;
    expect(await new BusySpin().waitForAsync(bell, () => ++looks === 10_000, 10_000)).toBe(true);
  });

  test('bad spin counts are named', () => {
    expect(() => new SpinThenSleep(-1)).toThrow(/spins must be an integer from 0 to 1073741824, got -1/);
    expect(() => new SpinThenSleep(1.5)).toThrow(/got 1.5/);
  });
});

describe('across threads', () => {
  const doorbellUrl = pathToFileURL(compiledModule('wait/doorbell.js')).href;
  const idleUrl = pathToFileURL(compiledModule('wait/idle-strategy.js')).href;

  /** A worker that waits (spin-then-sleep with `spins`) for `count` publishes of the word at `flag`. */
  function sleeper(flag: number, ack: number, count: number, spins: number, timeoutMs: number): { done: Promise<{ lost: number; sleeps: number }>; w: Worker } {
    const code = `
      const { workerData: d, parentPort } = require('node:worker_threads');
      Promise.all([import(${JSON.stringify(doorbellUrl)}), import(${JSON.stringify(idleUrl)})]).then(([{ Doorbell }, { SpinThenSleep }]) => {
        const i32 = new Int32Array(d.buffer);
        const bell = new Doorbell(d.buffer, d.word);
        const idle = new SpinThenSleep(d.spins);
        let lost = 0;
        for (let i = 1; i <= d.count; i++) {
          const t0 = performance.now();
          idle.waitFor(bell, () => Atomics.load(i32, d.flag >>> 2) >= i, d.timeoutMs);
          // Only a lost wake-up sleeps the whole timeout with the work already there.
          if (performance.now() - t0 >= d.timeoutMs * 0.9) lost++;
          Atomics.store(i32, d.ack >>> 2, i);
        }
        parentPort.postMessage({ lost, sleeps: bell.sleeps });
      });`;
    const w = new Worker(code, { eval: true, workerData: { buffer: mem.buffer, word, flag, ack, count, spins, timeoutMs } });
    const done = new Promise<{ lost: number; sleeps: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    return { done, w };
  }

  test('a thread asleep on the bell wakes when another thread publishes and rings', async () => {
    const flag = mem.alloc(64);
    const ack = mem.alloc(64);
    Atomics.store(mem.i32, at, DOORBELL_AWAKE);
    const s = sleeper(flag, ack, 1, 0, 10_000);
    try {
      await until(() => Atomics.load(mem.i32, at) === DOORBELL_ASLEEP); // really asleep
      const t0 = performance.now();
      Atomics.store(mem.i32, flag >>> 2, 1);
      ringDoorbell(mem.i32, at);
      const r = await s.done;
      expect(r.lost).toBe(0);
      expect(r.sleeps).toBe(1);
      expect(performance.now() - t0).toBeLessThan(5000); // woken, not timed out at 10 s
    } finally {
      await s.w.terminate();
    }
  });

  test('thousands of publishes landing while the sleeper goes to sleep: no wake-up is lost', async () => {
    const flag = mem.alloc(64);
    const ack = mem.alloc(64);
    const COUNT = 3000;
    const TIMEOUT_MS = 250;
    Atomics.store(mem.i32, at, DOORBELL_AWAKE);
    // A few spins only, so most publishes meet the sleeper announcing, looking or asleep.
    const s = sleeper(flag, ack, COUNT, 3, TIMEOUT_MS);
    try {
      await publishRacingSleeper(mem.i32, flag, ack, COUNT, () => ringDoorbell(mem.i32, at));
      const r = await s.done;
      expect(r.lost).toBe(0);
      expect(r.sleeps).toBeGreaterThan(0); // the sleep path really ran
    } finally {
      await s.w.terminate();
    }
  });
});
