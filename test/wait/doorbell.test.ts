// The spin-then-sleep wait strategy (src/wait/doorbell.ts): bounded spinning, the last look after
// announcing sleep, sleeping until rung or timed out, and a real cross-thread wake-up.
import { describe, expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { compiledModule } from '../../src/util/paths.js';
import { busyPoll, Doorbell, DOORBELL_ASLEEP, DOORBELL_AWAKE, spinThenWait, spinThenWaitAfter } from '../../src/wait/doorbell.js';

const mem = new SharedMemory({ bytes: 2 * 1024 * 1024 });
const word = mem.alloc(64);
const at = word >>> 2;

describe('Doorbell', () => {
  test('spinThenWait returns as soon as a poll finds work, without sleeping', () => {
    const bell = new Doorbell(mem.buffer, word);
    let polls = 0;
    expect(bell.idle(() => ++polls === 500)).toBe(true);
    expect(polls).toBe(500);
    expect(bell.sleeps).toBe(0);
    expect(bell.strategy).toBe(spinThenWait);
  });

  test('after the spins it announces sleep, looks once more, and skips sleeping if work arrived', () => {
    const bell = new Doorbell(mem.buffer, word, { strategy: spinThenWaitAfter(10) });
    let polls = 0;
    // Work "arrives" exactly when the word says ASLEEP: only the last look can see it.
    const found = bell.idle(() => {
      polls++;
      return Atomics.load(mem.i32, at) === DOORBELL_ASLEEP;
    });
    expect(found).toBe(true);
    expect(polls).toBe(11);
    expect(bell.sleeps).toBe(0);
    expect(Atomics.load(mem.i32, at)).toBe(DOORBELL_AWAKE);
  });

  test('with no work it sleeps once for about the timeout and comes back AWAKE', () => {
    const bell = new Doorbell(mem.buffer, word, { strategy: spinThenWaitAfter(5) });
    const t0 = performance.now();
    expect(bell.idle(() => false, 30)).toBe(false);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(25);
    expect(ms).toBeLessThan(2000);
    expect(bell.sleeps).toBe(1);
    expect(Atomics.load(mem.i32, at)).toBe(DOORBELL_AWAKE);
  });

  test('busyPoll never sleeps and gives up at the deadline', () => {
    const bell = new Doorbell(mem.buffer, word, { strategy: busyPoll });
    const t0 = performance.now();
    expect(bell.idle(() => false, 20)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    expect(bell.sleeps).toBe(0);
    let n = 0;
    expect(bell.idle(() => ++n > 3000, 1000)).toBe(true);
  });

  test('a thread asleep on the bell wakes when another thread publishes and rings', async () => {
    const flag = mem.alloc(64);
    const url = pathToFileURL(compiledModule('wait/doorbell.js')).href;
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(${JSON.stringify(url)}).then(({ Doorbell, spinThenWaitAfter }) => {
        const { buffer, word, flag } = workerData;
        const i32 = new Int32Array(buffer);
        const bell = new Doorbell(buffer, word, { strategy: spinThenWaitAfter(0) });
        parentPort.postMessage('ready');
        const t0 = performance.now();
        const found = bell.idle(() => Atomics.load(i32, flag >>> 2) === 1, 10000);
        parentPort.postMessage({ found, sleeps: bell.sleeps, ms: performance.now() - t0 });
      });`;
    const w = new Worker(code, { eval: true, workerData: { buffer: mem.buffer, word, flag } });
    const messages: unknown[] = [];
    const done = new Promise<{ found: boolean; sleeps: number; ms: number }>((resolve, reject) => {
      w.on('message', (m) => (m === 'ready' ? messages.push(m) : resolve(m)));
      w.on('error', reject);
    });
    // Wait until it is really asleep, then publish and ring.
    while (Atomics.load(mem.i32, at) !== DOORBELL_ASLEEP) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 20));
    Atomics.store(mem.i32, flag >>> 2, 1);
    new Doorbell(mem.buffer, word).ring();
    const r = await done;
    await w.terminate();
    expect(r.found).toBe(true);
    expect(r.sleeps).toBe(1);
    expect(r.ms).toBeLessThan(5000); // woken, not timed out at 10 s
  });

  test('bad arguments are named', () => {
    expect(() => spinThenWaitAfter(-1)).toThrow(/spins must be an integer >= 0, got -1/);
    expect(() => new Doorbell(mem.buffer, 6)).toThrow(/doorbell address must be a 4-aligned/);
  });
});
