// Guest memory two processes both reach: a file under /dev/shm mapped into a WebAssembly.Memory
// of each (src/native/mmap.ts), seen as a GuestMemory at the same guest address on both sides.
// The cluster test's driver (router r1) places virtqueues and buffers in it; the entropy
// device behind router r3, another process, fills them — the only way bytes cross when the
// routers carry only virtio-msg frames.
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { mapFile, pageSize, unmapFile } from '../../src/native/mmap.js';
import { GuestMemory } from '../../src/virtqueue/guest-memory.js';

export const SHARED_GUEST_BASE = 0x1_0000_0000;

export function mapSharedGuestMemory(path: string, bytes: number, create: boolean): { memory: GuestMemory; close(): void } {
  const page = pageSize();
  const mapped = Math.ceil(bytes / page) * page;
  const mem = new SharedMemory({ bytes: mapped + 2 * 65536 });
  const at = mem.alloc(mapped, page);
  mapFile(mem.memory, at, mapped, path, create);
  const memory = new GuestMemory({ buffer: mem.buffer, offset: at, length: mapped, base: SHARED_GUEST_BASE });
  return { memory, close: () => unmapFile(mem.memory, at, mapped) };
}
