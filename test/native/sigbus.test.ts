// A peer that truncates a mapped file must not kill us: the access that meets the missing pages
// raises SIGBUS, and the mmap addon's handler puts zero pages over the range, marks it lost and
// lets the access run again. Any thread may take the fault (shards are worker threads); a
// SIGBUS that is not about one of our ranges still ends the process as before.
import { afterEach, describe, expect, it } from 'vitest';
import { rmSync, statSync, truncateSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { lostWindowsTotal, mapFile, pageSize, unmapFile, windowLost } from '../../src/native/mmap.js';
import { packageRoot } from '../../src/util/paths.js';

const shmDir = (() => { try { statSync('/dev/shm'); return '/dev/shm'; } catch { return tmpdir(); } })();
const path = (tag: string): string => join(shmDir, `vmsg-test-${process.env.VMSG_TEST_RUN ?? 'x'}-${process.pid}-${tag}.shm`);
const made: string[] = [];
afterEach(() => {
  for (const p of made.splice(0)) rmSync(p, { force: true });
});

function mapped(tag: string, pages: number): { mem: SharedMemory; at: number; len: number; file: string } {
  const mem = new SharedMemory({ bytes: 1 << 22 });
  const len = pages * pageSize();
  const at = mem.alloc(len, pageSize());
  const file = path(tag);
  made.push(file);
  mapFile(mem.memory, at, len, file, true);
  return { mem, at, len, file };
}

describe('SIGBUS from a truncated mapping', () => {
  it('a WASM load and a JS store in the main thread survive, read zeros, and the range is marked lost; unmapping clears the mark', () => {
    const { mem, at, len, file } = mapped('main', 2);
    const other = mapped('other', 1); // an untouched window stays mapped to its file
    mem.u8.set([8, 0, 2, 0, 5, 0, 0x34, 0x12], at + pageSize());
    expect(mem.wasm.frameSize(at + pageSize())).toBe(0x1234);
    const before = lostWindowsTotal();
    truncateSync(file, 0);
    expect(mem.wasm.frameSize(at + pageSize())).toBe(0); // faulted, replaced, re-executed on zeros
    mem.u8[at] = 7; // the range is private memory now: writable, the file untouched
    expect(mem.u8[at]).toBe(7);
    expect(statSync(file).size).toBe(0);
    expect(windowLost(mem.memory, at, len)).toBe(true);
    expect(lostWindowsTotal()).toBe(before + 1);
    other.mem.u8[other.at] = 9;
    expect(windowLost(other.mem.memory, other.at, other.len)).toBe(false);
    unmapFile(mem.memory, at, len);
    expect(windowLost(mem.memory, at, len)).toBe(false);
    unmapFile(other.mem.memory, other.at, other.len);
  });

  it('a worker thread that touches the shrunk pages survives too, and so does the process', async () => {
    const { mem, at, len, file } = mapped('worker', 4);
    Atomics.store(mem.i32, (at + 3 * pageSize()) >>> 2, 42);
    truncateSync(file, pageSize()); // the first page stays; the other three are gone
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const i32 = new Int32Array(workerData.buffer);
      parentPort.postMessage(Atomics.load(i32, workerData.word));`;
    const w = new Worker(code, { eval: true, workerData: { buffer: mem.buffer, word: (at + 3 * pageSize()) >>> 2 } });
    const got = await new Promise<unknown>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    expect(got).toBe(0);
    expect(windowLost(mem.memory, at, len)).toBe(true);
    unmapFile(mem.memory, at, len);
  });

  it('a SIGBUS that is not about one of our ranges still ends the process', () => {
    const addon = join(packageRoot(), 'build', 'Release', 'vmsg_mmap.node');
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon)}); process.kill(process.pid, 'SIGBUS'); setTimeout(() => {}, 5000);`], { timeout: 20_000 });
    expect(r.signal).toBe('SIGBUS');
  });
});
