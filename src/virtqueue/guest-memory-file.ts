// Guest memory in a file both sides map (a QEMU memory-backend-file, an OpenAMP shared region):
// the file mapped into a shared WebAssembly.Memory of its own (src/native/mmap.ts), seen as a
// GuestMemory window at the address the other side uses for its first byte, so virtqueues and
// buffers placed in it carry addresses the device understands.
import { statSync, truncateSync } from 'node:fs';
import { SharedMemory } from '../memory/shared-memory.js';
import { mapFile, pageSize, unmapFile } from '../native/mmap.js';
import { GuestMemory } from './guest-memory.js';

export interface GuestMemoryFile {
  memory: GuestMemory;
  /** Unmap the file (it stays on disk). */
  close(): void;
}

export interface GuestMemoryFileOptions {
  /** Skip this many bytes of the file (e.g. OpenAMP's message region); the window starts after them. */
  skip?: number;
  /** Create the file with this size (owner-only) when it does not exist. */
  createBytes?: number;
}

/**
 * Map `path` and return the window [skip, file size) seen at `base + skip`. `base` is the other
 * side's address of the file's first byte; base + skip must keep the 16-byte ring alignment.
 */
export function openGuestMemoryFile(path: string, base: number, opts: GuestMemoryFileOptions = {}): GuestMemoryFile {
  const skip = opts.skip ?? 0;
  let size: number;
  let create = false;
  try {
    size = statSync(path).size;
  } catch (e) {
    if (opts.createBytes === undefined) throw new Error(`guest memory file ${path}: ${(e as Error).message}`);
    size = opts.createBytes;
    create = true;
  }
  if (size <= skip) throw new Error(`guest memory file ${path}: ${size} bytes leave nothing after the first ${skip}`);
  const page = pageSize();
  const mapped = Math.ceil(size / page) * page;
  const mem = new SharedMemory({ bytes: mapped + 2 * page + 65536 });
  // Only whole pages map: a shorter file grows by zeros past its end, which neither side uses.
  if (!create && size < mapped) truncateSync(path, mapped);
  const at = mem.alloc(mapped, page);
  mapFile(mem.memory, at, mapped, path, create);
  const memory = new GuestMemory({ buffer: mem.memory.buffer as unknown as SharedArrayBuffer, offset: at + skip, length: size - skip, base: base + skip });
  let closed = false;
  return {
    memory,
    close: () => {
      if (closed) return;
      closed = true;
      unmapFile(mem.memory, at, mapped);
    },
  };
}
