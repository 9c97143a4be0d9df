// A shared-memory window of an external bus (docs/BUSES.md §2 vmamp, §3 SPSC): a file, normally
// under /dev/shm, mapped over a page-aligned range of our shared WebAssembly.Memory, so the
// WASM hot path reads and writes the peer's rings in place (no copy step). The device side
// builds the file (owner-only, whole pages) under a temporary name and links it into place
// once the layout is written, so a driver waiting for the file never maps a half-built window
// (SPSC has no magic to tell); the driver side waits for it to appear. Who may create or replace
// the file at a path, and the lock the device side holds on it, are src/bus/window-file.ts.
import { closeSync, fstatSync, rmSync, statSync, truncateSync } from 'node:fs';
import type { SharedMemory } from '../memory/shared-memory.js';
import { mapFile, pageSize, unmapFile, windowLost } from '../native/mmap.js';
import { waitUntil, type OpenDeadline } from './open-deadline.js';
import { claimWindowPath, holdIdleWindow, lockNewWindow, publishWindow, releaseIdleWindow, type WindowScheme } from './window-file.js';

export class ShmWindow {
  private unmapped = false;

  private constructor(
    readonly mem: SharedMemory,
    /** Byte address of the window in the memory (page-aligned). */
    readonly base: number,
    /** Window bytes the layout uses (`size=`). */
    readonly size: number,
    /** Bytes mapped: `size` rounded up to whole pages. */
    readonly mapped: number,
    readonly path: string,
    /** We created the file (the device side). */
    readonly created: boolean,
    /** While the device side builds it: the temporary name (see publish()). */
    private building: string | null,
    private readonly scheme: WindowScheme | null = null,
    /** The device side: our descriptor holding the file's lock (-1: none, or handed on). */
    private lockFd = -1,
  ) {}

  /**
   * The device side: create the file at `path`, at least `size` bytes in whole pages, lock it
   * and map it. The caller builds the layout in it. Whatever is at `path` must be a window left
   * by us that nobody serves (WindowPathError / WindowInUseError otherwise, leaving it alone).
   */
  static create(mem: SharedMemory, path: string, size: number, scheme: WindowScheme): ShmWindow {
    const mapped = roundToPages(size);
    const building = `${path}.building-${process.pid}-${buildSerial++}`;
    // A driver must not attach to an earlier window at this path while we build the new one.
    claimWindowPath(path, size, scheme, mem);
    rmSync(building, { force: true });
    const base = mem.alloc(mapped, pageSize());
    try {
      mapFile(mem.memory, base, mapped, building, true);
    } catch (e) {
      mem.free(base, mapped);
      throw new Error(`shared-memory window ${path}: ${(e as Error).message}`);
    }
    let fd: number;
    try {
      fd = lockNewWindow(building);
    } catch (e) {
      unmapFile(mem.memory, base, mapped);
      mem.free(base, mapped);
      rmSync(building, { force: true });
      throw e;
    }
    return new ShmWindow(mem, base, size, mapped, path, true, building, scheme, fd);
  }

  /**
   * The device side built the layout: give the file its name (atomically, complete or not at
   * all; never over a window another process published meanwhile).
   */
  publish(): void {
    if (this.building === null) return;
    publishWindow(this.building, this.path, this.size, this.scheme!);
    this.building = null;
    this.ino = fstatSync(this.lockFd).ino;
  }

  /** Inode of the file we published at `path` (-1: none): removal leaves a later window there alone. */
  ino = -1;

  /**
   * The driver side: wait (within `deadline`) until the file at `path` exists with at least
   * `size` bytes, then map it. `size` undefined = the file's size. A file shorter than whole
   * pages is grown to them (zeros past the window, which neither side touches), since only
   * whole pages can be mapped.
   */
  static async attach(mem: SharedMemory, path: string, size: number | undefined, deadline: OpenDeadline): Promise<ShmWindow> {
    let fileSize = 0;
    await waitUntil(deadline, `window file ${path} to appear${size === undefined ? '' : ` with ${size} bytes`} (the device side creates it: is it running?)`, () => {
      try {
        fileSize = statSync(path).size;
      } catch {
        return false;
      }
      return fileSize > 0 && (size === undefined || fileSize >= size);
    });
    const windowSize = size ?? fileSize;
    const mapped = roundToPages(windowSize);
    if (fileSize < mapped) truncateSync(path, mapped);
    const base = mem.alloc(mapped, pageSize());
    try {
      mapFile(mem.memory, base, mapped, path, false);
    } catch (e) {
      mem.free(base, mapped);
      throw new Error(`shared-memory window ${path}: ${(e as Error).message}`);
    }
    return new ShmWindow(mem, base, windowSize, mapped, path, false, null);
  }

  /**
   * The file shrank under us (a peer truncated it) and an access met the missing pages: the
   * range is private zero pages now (src/native/vmsg_mmap.c), the peer's bytes are gone.
   */
  lost(): boolean {
    return !this.unmapped && windowLost(this.mem.memory, this.base, this.mapped);
  }

  /**
   * Unmap (the range becomes private zero pages again) and give the range back. The file stays,
   * unless `removeFile` and we created it (a window we close for good: nobody should attach to
   * it any more; a peer that still maps it keeps its mapping).
   */
  close(removeFile = false): void {
    if (this.unmapped) return;
    this.unmapped = true;
    unmapFile(this.mem.memory, this.base, this.mapped);
    this.mem.free(this.base, this.mapped);
    if (this.building !== null) rmSync(this.building, { force: true });
    else if (removeFile && this.created) removeIfOurs(this.path, this.ino);
    if (this.lockFd < 0) return;
    // A published window that stays (its peer left) stays locked until the link opens again or
    // closes for good: no other router takes the path meanwhile.
    if (this.building === null && this.ino >= 0 && !removeFile) holdIdleWindow(this.path, this.lockFd, this.ino, this.mem);
    else closeSync(this.lockFd);
    this.lockFd = -1;
  }
}

/** The file of a window we created, removed once we are done with it for good (already unmapped or not). */
export function removeCreatedWindow(w: ShmWindow): void {
  if (!w.created || w.ino < 0) return;
  releaseIdleWindow(w.path, true); // removed before its lock goes: no other creator sees it unlocked
  removeIfOurs(w.path, w.ino);
}

/** Remove the file at `path` if it is still the inode `ino` we published (else: rebuilt since by another link, theirs now). */
function removeIfOurs(path: string, ino: number): void {
  if (ino < 0) return;
  try {
    if (statSync(path).ino !== ino) return;
  } catch {
    return; // gone already
  }
  rmSync(path, { force: true });
}

/** Two windows this process builds at one path at once (two links) never share a temporary name. */
let buildSerial = 0;

function roundToPages(size: number): number {
  const page = pageSize();
  return Math.ceil(size / page) * page;
}
