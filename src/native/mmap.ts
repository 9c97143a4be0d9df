// TypeScript face of the mmap addon (src/native/vmsg_mmap.c, built by node-gyp during npm ci):
// put a shared-memory file over a page-aligned range of the shared WebAssembly.Memory.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';

interface MmapAddon {
  mapFile(view: Uint8Array, offset: number, length: number, path: string, create: boolean): void;
  unmapFile(view: Uint8Array, offset: number, length: number): void;
  pageSize(): number;
  /** Absent in an addon built before the SIGBUS handler (rebuild: npm ci, or node-gyp rebuild). */
  windowLost?(view: Uint8Array, offset: number, length: number): boolean;
  lostTotal?(): number;
  /** Absent in an addon built before window locks (rebuild: npm ci, or node-gyp rebuild). */
  lockFd?(fd: number): boolean;
  /** Absent in an addon built before these (rebuild: npm ci, or node-gyp rebuild). */
  renameNoReplace?(from: string, to: string): number;
  listenUnix?(path: string, backlog: number): number;
}

let addon: MmapAddon | undefined;

function load(): MmapAddon {
  if (addon === undefined) {
    const path = join(packageRoot(), 'build', 'Release', 'vmsg_mmap.node');
    try {
      addon = createRequire(import.meta.url)(path) as MmapAddon;
    } catch (e) {
      throw new Error(`vmsg-router: the mmap addon ${path} did not load (${(e as Error).message}); ` +
        'it is built by node-gyp during "npm ci" and needs python3, make and a C compiler');
    }
  }
  return addon;
}

/** Bytes per page: mapped ranges start and end on page boundaries. */
export function pageSize(): number {
  return load().pageSize();
}

/**
 * Map `length` bytes of the file at `path` over memory[offset, offset+length).
 * `create` makes the file with owner-only permissions (0600) and sizes it.
 */
export function mapFile(memory: WebAssembly.Memory, offset: number, length: number, path: string, create: boolean): void {
  load().mapFile(new Uint8Array(memory.buffer), offset, length, path, create);
}

/** Undo mapFile: the range becomes private zero pages again. */
export function unmapFile(memory: WebAssembly.Memory, offset: number, length: number): void {
  load().unmapFile(new Uint8Array(memory.buffer), offset, length);
}

/**
 * True once the file mapped at memory[offset, offset+length) shrank under us (a peer truncated
 * it): the access that met the missing pages raised SIGBUS, and the addon's handler put private
 * zero pages over the whole range instead of letting the process die. The owner takes the link
 * down; the range reads zeros until it is unmapped.
 */
export function windowLost(memory: WebAssembly.Memory, offset: number, length: number): boolean {
  return load().windowLost?.(new Uint8Array(memory.buffer), offset, length) ?? false;
}

/** Mapped ranges lost that way since the process started. */
export function lostWindowsTotal(): number {
  return load().lostTotal?.() ?? 0;
}

/**
 * Take an exclusive advisory lock (flock, non-blocking) on the open descriptor `fd`: true when
 * we hold it, false when another open file holds it (a process serving that window). Held until
 * the descriptor is closed, or the process ends however it ends.
 */
export function lockFd(fd: number): boolean {
  const a = load();
  if (a.lockFd === undefined) {
    throw new Error('vmsg-router: the mmap addon predates window locks; rebuild it (npm ci, or node-gyp rebuild)');
  }
  return a.lockFd(fd);
}

function rebuilt<K extends keyof MmapAddon>(name: K): NonNullable<MmapAddon[K]> {
  const f = load()[name];
  if (f === undefined) throw new Error(`vmsg-router: the mmap addon predates ${name}; rebuild it (npm ci, or node-gyp rebuild)`);
  return f as NonNullable<MmapAddon[K]>;
}

/**
 * Rename `from` to `to` only if nothing is at `to`, in one step (renameat2 RENAME_NOREPLACE).
 * Returns 0, or the errno number (os.constants.errno: EEXIST, or EINVAL / ENOSYS where the
 * kernel or file system cannot).
 */
export function renameNoReplace(from: string, to: string): number {
  return rebuilt('renameNoReplace')(from, to);
}

/**
 * A listening Unix stream socket bound at `path` (mode 0600): its descriptor, for
 * net.Server.listen({ fd }), whose close leaves the path alone (Node's listen(path) would
 * unlink whatever is there by then). Throws an Error whose `code` is the errno's name.
 */
export function listenUnix(path: string, backlog = 511): number {
  return rebuilt('listenUnix')(path, backlog);
}
