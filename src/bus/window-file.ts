// Who may put a window file at a path (the device side of vmamp / SPSC creates it). Two rules:
//   in use     the process serving a window holds flock(LOCK_EX) on its file for as long as it
//              serves it; a second creator finding it locked is refused and leaves it alone.
//              The kernel drops the lock when the holder dies, so a window left by a killed
//              router is replaced as before.
//   not ours   an existing file is replaced only if it could be a window we left: a regular
//              file of our uid, mode 0600, the size this link maps (or, vmamp, carrying the
//              layout magic). A user's disk image, a directory or a device is never deleted.
// A peer that only attaches never locks: the lock says who builds, not who maps.
import { closeSync, constants, fstatSync, linkSync, lstatSync, openSync, readdirSync, readSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { constants as os } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { lockFd, pageSize, renameNoReplace } from '../native/mmap.js';
import { VMAMP_LAYOUT_MAGIC, VMAMP_LAYOUT_MAGIC_VALUE } from '../wasm/layout.js';

export type WindowScheme = 'vmamp' | 'spsc';

/** Something other than a window of ours is at the path: remove it or choose another path. */
export class WindowPathError extends Error {}

/** A running process serves a window at the path (it holds the lock). */
export class WindowInUseError extends Error {}

/** Bytes a window of `size` maps (whole pages): the size of the file we create. */
export function windowFileBytes(size: number): number {
  const page = pageSize();
  return Math.ceil(size / page) * page;
}

function inUse(path: string): WindowInUseError {
  return new WindowInUseError(`window file ${path} is in use by another process (a running vmsg route or peer serving that window); stop it or choose another path`);
}

/** Why the file `st` at `path` is not a window we could have left there (null: it could be). */
function notOurs(path: string, st: Stats, bytes: number, scheme: WindowScheme): string | null {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (!st.isFile()) return 'a device, socket or pipe, not a regular file';
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) return `a file of another user (uid ${st.uid})`;
  const mode = st.mode & 0o7777;
  if (mode !== 0o600) return `a file with mode ${mode.toString(8).padStart(4, '0')} (windows are created 0600)`;
  if (st.size === bytes) return null;
  if (scheme === 'vmamp' && hasVmampMagic(path)) return null;
  return `a file of ${st.size} bytes (this link's window file has ${bytes}${scheme === 'vmamp' ? ', or a vmamp layout' : ''})`;
}

function hasVmampMagic(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, VMAMP_LAYOUT_MAGIC) === 2 && b.readUInt16LE(0) === VMAMP_LAYOUT_MAGIC_VALUE;
  } finally {
    closeSync(fd);
  }
}

function foreign(path: string, what: string): WindowPathError {
  return new WindowPathError(`window file ${path} is ${what}, not a window left by vmsg: it is not replaced; remove it or choose another path`);
}

/**
 * Windows this thread built whose peer left: the file stays for the next peer and we keep its
 * lock until the link is opened again (and rebuilds it) or closed for good. `owner` is the
 * router (its shared memory) whose link holds it: another router of this process opening a
 * window at the same path is refused as by any process serving it, not handed this one.
 */
const idle = new Map<string, { fd: number; ino: number; owner: object }>();

/** Keep the lock `fd` on the window file at `path` (inode `ino`) while `owner`'s link waits for a new peer. */
export function holdIdleWindow(path: string, fd: number, ino: number, owner: object): void {
  releaseIdleWindow(path, false);
  idle.set(resolve(path), { fd, ino, owner });
}

/** Let go of an idle window's lock, removing its file first when `remove` (and it is still ours). */
export function releaseIdleWindow(path: string, remove: boolean): void {
  const key = resolve(path);
  const held = idle.get(key);
  if (held === undefined) return;
  idle.delete(key);
  if (remove && lstatSync(path, { throwIfNoEntry: false })?.ino === held.ino) unlinkSync(path);
  closeSync(held.fd);
}

/**
 * Start-up check of a window path we would create (`vmsg route`), opening nothing for long:
 * WindowPathError when something not ours is there, WindowInUseError when its lock is held.
 */
export function checkWindowPath(path: string, size: number, scheme: WindowScheme): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return;
  const why = notOurs(path, st, windowFileBytes(size), scheme);
  if (why !== null) throw foreign(path, why);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return; // gone meanwhile
  }
  try {
    if (!lockFd(fd)) throw inUse(path);
  } finally {
    closeSync(fd); // drops the lock we may have taken
  }
}

/**
 * Make `path` free for a window we are about to build: nothing there, or a window left by us
 * whose lock nobody holds (removed now, under its lock, so no other creator takes it meanwhile).
 * Throws WindowPathError or WindowInUseError, leaving the file alone.
 */
export function claimWindowPath(path: string, size: number, scheme: WindowScheme, owner?: object): void {
  sweepBuildingLeftovers(path);
  const bytes = windowFileBytes(size);
  for (;;) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) return;
    const held = idle.get(resolve(path));
    if (held !== undefined) {
      if (held.owner !== owner) throw inUse(path); // another router of this process serves it
      // Our own window from the link's previous peer: rebuilt in place.
      releaseIdleWindow(path, held.ino === st.ino);
      if (held.ino === st.ino) return;
      continue;
    }
    const why = notOurs(path, st, bytes, scheme);
    if (why !== null) throw foreign(path, why);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    try {
      if (!lockFd(fd)) throw inUse(path);
      // Locked: but is it still the file at the path? (Another creator may have replaced it
      // between our lstat and open; then look again.)
      const now = lstatSync(path, { throwIfNoEntry: false });
      if (now === undefined) return;
      if (now.ino !== fstatSync(fd).ino) continue;
      unlinkSync(path); // left by a process that is gone (nobody holds its lock)
      return;
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Open the window file we just created at `building` and lock it: the lock goes with the inode
 * through the rename into place. Returns the descriptor to keep open while we serve it.
 */
export function lockNewWindow(building: string): number {
  const fd = openSync(building, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (!lockFd(fd)) throw inUse(building);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * Give the window built at `building` (locked by us) the name `path` without replacing anything
 * another creator put there meanwhile: renameat2(RENAME_NOREPLACE) in one step, so no second
 * name is left if we die here. Where the kernel or file system cannot (EINVAL / ENOSYS), a hard
 * link (fails if the name exists) then unlinking the building name; without hard links either,
 * a rename (which replaces: the claim at create time made the path free). On a name that
 * appeared meanwhile the usual rules decide (a stale leftover goes, a live one refuses us).
 */
export function publishWindow(building: string, path: string, size: number, scheme: WindowScheme): void {
  for (let tries = 0; ; tries++) {
    const err = renameNoReplace(building, path);
    if (err === 0) return;
    if (err === os.errno.EINVAL || err === os.errno.ENOSYS) {
      linkThenUnlink(building, path);
      return;
    }
    if (err !== os.errno.EEXIST || tries >= 3) {
      const code = Object.entries(os.errno).find(([, n]) => n === err)?.[0] ?? `errno ${err}`;
      throw new Error(`window file ${path}: cannot give the built window its name (${code})`);
    }
    claimWindowPath(path, size, scheme);
  }
}

function linkThenUnlink(building: string, path: string): void {
  try {
    linkSync(building, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
      renameSync(building, path);
      return;
    }
    throw e;
  }
  unlinkSync(building);
}

/**
 * Remove `PATH.building-PID-…` files next to `path` that nobody builds any more: a creator
 * killed mid-build (or, with the link fallback, between link and unlink) leaves one, holding the
 * window's memory (in /dev/shm) for good. A building file is locked by its creator; one whose
 * lock nobody holds and whose process is gone is a leftover. The process check covers the
 * instant between creating the file and locking it.
 */
export function sweepBuildingLeftovers(path: string): void {
  const dir = dirname(resolve(path));
  const prefix = `${basename(path)}.building-`;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number.parseInt(name.slice(prefix.length), 10);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    const file = join(dir, name);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile() || st.uid !== process.geteuid?.()) continue;
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      continue;
    }
    try {
      if (lockFd(fd) && lstatSync(file, { throwIfNoEntry: false })?.ino === fstatSync(fd).ino) unlinkSync(file);
    } finally {
      closeSync(fd);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
