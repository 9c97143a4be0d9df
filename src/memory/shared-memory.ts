// The one shared, fixed-size WebAssembly.Memory that rings, router tables and counters live
// in, and the control-plane allocator that places them. Only the thread that built the
// router allocates; shards and endpoints get addresses. initial = maximum so the memory never
// grows or moves (external windows can be mapped over page-aligned ranges of it).
import { instantiate, type WasmExports } from '../wasm/module.js';

export const WASM_PAGE = 65536;
export const CACHE_LINE = 64;

export interface SharedMemoryOptions {
  /** Total bytes, rounded up to 64 KiB pages. Untouched pages cost no RSS. Default 256 MiB. */
  bytes?: number;
}

export class SharedMemory {
  readonly memory: WebAssembly.Memory;
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly dv: DataView;
  /** An instance of the hot path for control-plane use on this thread (layout init, tests). */
  readonly wasm: WasmExports;
  private next: number;
  private readonly end: number;
  private readonly freeBySize = new Map<number, number[]>();

  constructor(opts: SharedMemoryOptions = {}) {
    const bytes = opts.bytes ?? 256 * 1024 * 1024;
    if (!Number.isInteger(bytes) || bytes < 2 * WASM_PAGE || bytes > 4 * 1024 * 1024 * 1024 - WASM_PAGE) {
      throw new RangeError(`memory bytes must be an integer from ${2 * WASM_PAGE} to 4 GiB - 64 KiB, got ${bytes}`);
    }
    const pages = Math.ceil(bytes / WASM_PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    this.u8 = new Uint8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.wasm = instantiate(this.memory);
    // Below this the module keeps its own statics; everything we place starts one page up.
    this.next = Math.ceil((this.wasm.heapBase() + 1) / WASM_PAGE) * WASM_PAGE;
    this.end = pages * WASM_PAGE;
  }

  /** Reserve `bytes` (zeroed) aligned to `align` (a power of two, default one cache line). */
  alloc(bytes: number, align: number = CACHE_LINE): number {
    if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`alloc: bytes must be a positive integer, got ${bytes}`);
    if (align <= 0 || (align & (align - 1)) !== 0) throw new RangeError(`alloc: align must be a power of two, got ${align}`);
    const size = Math.ceil(bytes / CACHE_LINE) * CACHE_LINE;
    const reuse = this.freeBySize.get(size);
    if (reuse !== undefined) {
      const i = reuse.findIndex((a) => a % align === 0);
      if (i >= 0) {
        const addr = reuse.splice(i, 1)[0]!;
        this.u8.fill(0, addr, addr + size);
        return addr;
      }
    }
    const addr = Math.ceil(this.next / align) * align;
    if (addr + size > this.end) {
      throw new RangeError(`shared memory exhausted: need ${size} bytes at ${addr}, memory is ${this.end} bytes; raise the router option memoryBytes (vmsg route: "router": {"memoryBytes": N} in the --config file)`);
    }
    this.next = addr + size;
    return addr;
  }

  /** Return a block from alloc() for reuse by a later alloc() of the same size. */
  free(addr: number, bytes: number): void {
    const size = Math.ceil(bytes / CACHE_LINE) * CACHE_LINE;
    let list = this.freeBySize.get(size);
    if (list === undefined) this.freeBySize.set(size, (list = []));
    list.push(addr);
  }

  /** Bytes handed out so far (high-water mark of the allocator). */
  get used(): number {
    return this.next;
  }
}
