// QEMU's legacy bus `virtio-msg-bus-linux-user` from the driver side (docs/LEGACY.md "QEMU
// linux-user"): two SPSC queue files in QEMU's working directory — queue-NAME-driver (we
// produce) and queue-NAME-device (we consume), 262,272 bytes each: head i32 @0 (producer),
// tail i32 @0x40 (consumer), slot i at 0x80 + 64·i, capacity 4096 — and QEMU's chardev socket,
// where QEMU is the server: one 0xED byte per frame, each way; readable bytes mean "drain".
import { createConnection, type Socket } from 'node:net';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SharedMemory } from '../../memory/shared-memory.js';
import { spscConsumer, spscProducer, SPSC_HEAD, SPSC_TAIL } from '../../ring/spsc.js';
import type { CursorConsumer, CursorProducer } from '../../ring/cursor.js';
import { ShmWindow } from '../shm-window.js';
import { checkDeadline, sleep, waitUntil, type OpenDeadline } from '../open-deadline.js';
import { V0_FRAME_SIZE } from './v0-frame.js';
import type { QemuV0Options } from './options.js';
import type { LegacyWire } from './wire.js';

/** Bytes of one queue file: 0x80 of indices, then 4096 slots of 64 bytes. */
export const QEMU_QUEUE_FILE_BYTES = 262_272;
/** The doorbell byte, one per frame. */
export const QEMU_DOORBELL_BYTE = 0xed;
/** How often the queue files are checked for having been truncated under us. */
const LOST_CHECK_MS = 20;
/** Mapping room: two queue files in whole pages, plus slack for the allocator. */
const MEMORY_BYTES = 4 * 1024 * 1024;

export function qemuQueueFiles(dir: string, name: string): { toDevice: string; toDriver: string } {
  return { toDevice: join(dir, `queue-${name}-driver`), toDriver: join(dir, `queue-${name}-device`) };
}

class QemuV0Wire implements LegacyWire {
  readonly dialect = 'qemu' as const;
  readonly signalled = true;
  onSignal: () => void = () => {};
  readonly down: Promise<string>;
  private settleDown!: (why: string) => void;
  private readonly i32: Int32Array;
  private closed = false;
  private readonly lostCheck: NodeJS.Timeout;

  constructor(
    private readonly mem: SharedMemory,
    private readonly windows: ShmWindow[],
    private readonly tx: CursorProducer,
    private readonly rx: CursorConsumer,
    private readonly txBase: number,
    private readonly socket: Socket,
    readonly memory: { base: number; size: number },
  ) {
    this.i32 = new Int32Array(mem.memory.buffer);
    this.down = new Promise((r) => (this.settleDown = r));
    socket.on('data', () => this.onSignal()); // the bytes only say "look": the ring has the frames
    socket.on('close', () => this.settleDown('QEMU closed the doorbell socket'));
    socket.on('error', (e) => this.settleDown(`doorbell socket: ${e.message}`));
    // A queue file truncated under us reads as zero pages now (src/native/vmsg_mmap.c): the
    // device side is not one to trust any more.
    this.lostCheck = setInterval(() => {
      if (windows.some((w) => w.lost())) this.settleDown('a queue file shrank under us (truncated by the device side)');
    }, LOST_CHECK_MS);
    this.lostCheck.unref();
  }

  send(frame: Uint8Array): boolean {
    const slot = this.tx.reserve();
    if (slot < 0) return false;
    new Uint8Array(this.mem.memory.buffer, slot, V0_FRAME_SIZE).set(frame.subarray(0, V0_FRAME_SIZE));
    this.tx.commit();
    this.tx.flush();
    this.socket.write(Buffer.of(QEMU_DOORBELL_BYTE));
    return true;
  }

  taken(): boolean {
    return Atomics.load(this.i32, (this.txBase + SPSC_TAIL) >>> 2) === Atomics.load(this.i32, (this.txBase + SPSC_HEAD) >>> 2);
  }

  recv(): Uint8Array | null {
    const slot = this.rx.peek();
    if (slot < 0) return null;
    const f = new Uint8Array(this.mem.memory.buffer, slot, V0_FRAME_SIZE).slice();
    this.rx.release();
    this.rx.flush();
    return f;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.lostCheck);
    this.socket.destroy();
    for (const w of this.windows) w.close();
    this.settleDown('closed');
  }
}

/** Attach to a running QEMU: its queue files (they appear when it starts), then its socket. */
export async function openQemuV0Wire(o: QemuV0Options, deadline: OpenDeadline): Promise<LegacyWire> {
  const files = qemuQueueFiles(o.dir, o.name);
  const mem = new SharedMemory({ bytes: MEMORY_BYTES });
  const windows: ShmWindow[] = [];
  try {
    const toDevice = await ShmWindow.attach(mem, files.toDevice, QEMU_QUEUE_FILE_BYTES, deadline);
    windows.push(toDevice);
    const toDriver = await ShmWindow.attach(mem, files.toDriver, QEMU_QUEUE_FILE_BYTES, deadline);
    windows.push(toDriver);
    const buf = mem.memory.buffer as unknown as SharedArrayBuffer;
    const i32 = new Int32Array(buf);
    const head = Atomics.load(i32, (toDevice.base + SPSC_HEAD) >>> 2);
    const tail = Atomics.load(i32, (toDevice.base + SPSC_TAIL) >>> 2);
    if (head !== tail) {
      // QEMU creates the files without truncating them: these are frames of an earlier driver.
      throw new Error(`${files.toDevice} holds ${(head - tail + 4096) % 4096} frames QEMU never took (indices of an earlier run): remove both queue files and restart QEMU`);
    }
    // Frames QEMU sent to an earlier driver are not ours: start reading after them.
    Atomics.store(i32, (toDriver.base + SPSC_TAIL) >>> 2, Atomics.load(i32, (toDriver.base + SPSC_HEAD) >>> 2));
    const tx = spscProducer(mem, toDevice.base, QEMU_QUEUE_FILE_BYTES);
    const rx = spscConsumer(mem, toDriver.base, QEMU_QUEUE_FILE_BYTES);
    // QEMU's guest memory file may appear a moment after its queue files: wait for it as for them.
    let memSize = 0;
    await waitUntil(deadline, `the memory file ${o.memPath}`, () => {
      try {
        memSize = statSync(o.memPath).size;
      } catch {
        return false;
      }
      return memSize > 0;
    });
    const socket = await connect(o.sock, deadline);
    return new QemuV0Wire(mem, windows, tx, rx, toDevice.base, socket, { base: o.memBase, size: memSize });
  } catch (e) {
    for (const w of windows) w.close();
    throw e;
  }
}

/** Connect to QEMU's chardev socket, retrying until it listens (within the deadline). */
async function connect(path: string, deadline: OpenDeadline): Promise<Socket> {
  for (;;) {
    checkDeadline(deadline, `QEMU's doorbell socket ${path}`);
    const s = await new Promise<Socket | null>((resolve) => {
      const sock = createConnection(path);
      sock.once('connect', () => resolve(sock));
      sock.once('error', () => {
        sock.destroy();
        resolve(null);
      });
    });
    if (s !== null) return s;
    await sleep(20);
  }
}
