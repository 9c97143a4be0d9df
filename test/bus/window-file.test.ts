// Who may create a window file at a path: a file that is not a window we left is never replaced,
// a window whose creator still serves it (holds its lock) is never taken over, and a leftover of
// a creator that is gone is. Real files under /dev/shm, real locks (flock(1) as the other process).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { ShmWindow, removeCreatedWindow } from '../../src/bus/shm-window.js';
import { WindowInUseError, WindowPathError, checkWindowPath, windowFileBytes } from '../../src/bus/window-file.js';
import { deadlineIn } from '../../src/bus/open-deadline.js';

const dir = mkdtempSync('/dev/shm/vmsg-window-file-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mem = new SharedMemory({ bytes: 4 << 20 });
let n = 0;
const fresh = (): string => join(dir, `w${n++}`);

/** Whether another process can take the file's lock now (flock(1), non-blocking). */
function lockFreeElsewhere(path: string): boolean {
  return spawnSync('flock', ['-n', path, 'true']).status === 0;
}

function userFile(path: string, bytes: Buffer | string, mode: number): void {
  writeFileSync(path, bytes);
  chmodSync(path, mode);
}

/** A window built and published at `path`, as the device side does. */
function serve(path: string, size = 8192, scheme: 'vmamp' | 'spsc' = 'spsc'): ShmWindow {
  const w = ShmWindow.create(mem, path, size, scheme);
  w.publish();
  return w;
}

describe('window files', () => {
  it.each([
    ['a disk image (mode 0644)', (p: string) => userFile(p, Buffer.alloc(8192, 7), 0o644), /is a file with mode 0644 \(windows are created 0600\)/],
    ['an owner-only file of another size', (p: string) => userFile(p, Buffer.alloc(5000, 7), 0o600), /is a file of 5000 bytes \(this link's window file has 8192\)/],
    ['a directory', (p: string) => mkdirSync(p), /is a directory/],
    ['a symbolic link', (p: string) => symlinkSync('/dev/null', p), /is a symbolic link/],
  ])('%s at the path is refused, naming what is there, and left as it was', (_what, make, why) => {
    const path = fresh();
    make(path);
    const before = statSync(path, { throwIfNoEntry: false }) ?? null;
    const content = before?.isFile() === true ? readFileSync(path) : null;
    for (const attempt of [() => checkWindowPath(path, 8192, 'spsc'), () => ShmWindow.create(mem, path, 8192, 'spsc')]) {
      let err: unknown;
      try {
        attempt();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(WindowPathError);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toMatch(/not a window left by vmsg: it is not replaced; remove it or choose another path$/);
    }
    if (content !== null) expect(readFileSync(path).equals(content)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.building-'))).toEqual([]);
  });

  it('a window left by a creator that is gone (0600, our size, unlocked) is replaced; a vmamp file of another size is too when it has the layout magic', () => {
    const path = fresh();
    userFile(path, Buffer.alloc(windowFileBytes(8192)), 0o600);
    const ino = statSync(path).ino;
    const w = serve(path);
    expect(statSync(path).ino).not.toBe(ino);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    w.close(true);
    expect(existsSync(path)).toBe(false);

    const magic = Buffer.alloc(3 * 4096);
    magic.writeUInt16LE(0x4c4f, 0);
    userFile(path, magic, 0o600);
    const v = serve(path, 8192, 'vmamp');
    expect(statSync(path).size).toBe(windowFileBytes(8192));
    v.close(true);
    // The same file without the magic is someone else's.
    userFile(path, Buffer.alloc(3 * 4096), 0o600);
    expect(() => ShmWindow.create(mem, path, 8192, 'vmamp')).toThrow(/a file of 12288 bytes \(this link's window file has 8192, or a vmamp layout\)/);
  });

  it('a served window is locked: a second creator is refused (in use), the first one keeps it; the lock goes with it', () => {
    const path = fresh();
    const w = serve(path);
    mem.u8[w.base] = 0x5a;
    const ino = statSync(path).ino;
    expect(lockFreeElsewhere(path)).toBe(false);
    expect(() => checkWindowPath(path, 8192, 'spsc')).toThrow(WindowInUseError);
    expect(() => ShmWindow.create(mem, path, 8192, 'spsc')).toThrow(new RegExp(`^window file ${path} is in use by another process`));
    expect(statSync(path).ino).toBe(ino);
    expect(readFileSync(path)[0]).toBe(0x5a);
    w.close(true);
    expect(existsSync(path)).toBe(false);
  });

  it('a window published at the path while we built ours is not replaced: our publish is refused', () => {
    const path = fresh();
    const late = ShmWindow.create(mem, path, 8192, 'spsc'); // building, nothing at the path yet
    const first = serve(path);
    const ino = statSync(path).ino;
    expect(() => late.publish()).toThrow(WindowInUseError);
    late.close(true);
    expect(statSync(path).ino).toBe(ino);
    expect(readdirSync(dir).filter((f) => f.includes('.building-'))).toEqual([]);
    first.close(true);
  });

  it('after its peer left, a window stays with its lock held; reopening rebuilds it in place, closing for good removes it and lets go', () => {
    const path = fresh();
    const w = serve(path);
    w.close(false); // the peer left: the file stays for the next one
    expect(existsSync(path)).toBe(true);
    expect(lockFreeElsewhere(path)).toBe(false);
    const again = serve(path);
    expect(lockFreeElsewhere(path)).toBe(false);
    again.close(false);
    removeCreatedWindow(again);
    expect(existsSync(path)).toBe(false);
    // Nothing of ours holds a lock any more: a new file at the path is free.
    userFile(path, 'x', 0o600);
    expect(lockFreeElsewhere(path)).toBe(true);
    rmSync(path);
  });

  it('a window another router of this process keeps for its next peer is not handed to a second router: refused as in use', () => {
    const path = fresh();
    const w = serve(path);
    w.close(false); // idle, held by the first router (mem)
    const ino = statSync(path).ino;
    const other = new SharedMemory({ bytes: 1 << 20 });
    expect(() => ShmWindow.create(other, path, 8192, 'spsc')).toThrow(WindowInUseError);
    expect(statSync(path).ino).toBe(ino);
    const again = serve(path); // the first router's own link still rebuilds it
    again.close(false);
    removeCreatedWindow(again);
    expect(existsSync(path)).toBe(false);
  });

  it('an attaching peer takes no lock', async () => {
    const path = fresh();
    const w = serve(path);
    const peer = await ShmWindow.attach(mem, path, 8192, deadlineIn(1000));
    w.close(true);
    peer.close();
    expect(existsSync(path)).toBe(false);
  });
});
