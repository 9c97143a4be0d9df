// The mmap addon puts a file over part of the shared WebAssembly.Memory: writes from either
// side (file I/O, JS views, WASM loads) are seen by the other, in place.
import { afterEach, describe, expect, it } from 'vitest';
import { openSync, writeSync, readFileSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { mapFile, unmapFile, pageSize } from '../../src/native/mmap.js';

const shmDir = (() => { try { statSync('/dev/shm'); return '/dev/shm'; } catch { return tmpdir(); } })();
const path = join(shmDir, `vmsg-test-${process.env.VMSG_TEST_RUN ?? "x"}-${process.pid}.shm`);

afterEach(() => rmSync(path, { force: true }));

describe('mmap addon', () => {
  it('maps a shared-memory file into the WASM memory both ways, with owner-only permissions', () => {
    const mem = new SharedMemory({ bytes: 1 << 22 });
    const page = pageSize();
    const at = mem.alloc(2 * page, page);
    mapFile(mem.memory, at, 2 * page, path, true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    mem.u8.set([1, 2, 3, 4], at + 100);
    expect([...readFileSync(path).subarray(100, 104)]).toEqual([1, 2, 3, 4]);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0x08, 0x00, 0x02, 0x00, 0x05, 0x00, 0x34, 0x12]), 0, 8, page);
    closeSync(fd);
    expect(mem.wasm.frameSize(at + page)).toBe(0x1234); // the WASM load sees the other writer's bytes
    unmapFile(mem.memory, at, 2 * page);
    expect(mem.u8[at + 100]).toBe(0); // private zero pages again
    expect([...readFileSync(path).subarray(100, 104)]).toEqual([1, 2, 3, 4]);
  });

  it('refuses ranges that are not page aligned or not inside the memory, and missing files', () => {
    const mem = new SharedMemory({ bytes: 1 << 22 });
    const page = pageSize();
    const at = mem.alloc(2 * page, page);
    expect(() => mapFile(mem.memory, at + 8, page, path, true)).toThrow(/page size/);
    expect(() => mapFile(mem.memory, (1 << 22) - page, 2 * page, path, true)).toThrow(/inside/);
    expect(() => mapFile(mem.memory, at, page, path + '.missing', false)).toThrow(/ENOENT|No such file/);
  });
});
