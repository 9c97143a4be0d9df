// The control-frame plane: bus frames between the router itself and its external links. Frames
// a link sends that the router does not terminate (answers to the router's own requests,
// EVENT_DEVICE of an external bus, implementation-defined messages) come out of the shards'
// control rings to that link's handler; frames the router sends as itself (PING keep-alives,
// GET_DEVICES) go in through the owning shard's command ring.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterTables } from './tables.js';
import type { ShardPool } from './shard-pool.js';
import { Op } from './control.js';
import { NR_CONS_CURSOR } from '../ring/native.js';
import { Doorbell } from '../wait/doorbell.js';
import { frameSize, msgSizeAt } from '../protocol/header.js';

/** Receives the bus frames an external link sent that the router does not terminate. */
export type ControlFrameHandler = (frame: Uint8Array) => void;

/** Longest sleep on the control doorbell between looks (the shards ring it, this is a safety net). */
const SLEEP_MS = 100;

export class ControlFrames {
  private readonly handlers = new Map<number, ControlFrameHandler>();
  private loop: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly mem: SharedMemory,
    private readonly tables: RouterTables,
    private readonly shards: ShardPool,
    private readonly busMaxSize: number,
  ) {}

  /**
   * Drain the control rings until close(), sleeping on the control doorbell between frames.
   * Always running, so bus frames nobody listens for never pile up in the shards' pools.
   */
  start(): void {
    this.loop ??= this.run();
  }

  /** `handler` receives endpoint `id`'s control frames; null stops (its frames are then discarded). */
  listen(id: number, handler: ControlFrameHandler | null): void {
    if (handler === null) this.handlers.delete(id);
    else this.handlers.set(id, handler);
  }

  /**
   * Have shard `shard` send `frame` (a whole frame, msg_size bytes) to endpoint `id` as the
   * router. Resolves once it is written to the link's ring or queued behind older frames.
   */
  async send(shard: number, id: number, frame: Uint8Array): Promise<void> {
    const size = frameSize(frame);
    if (size < 8 || size > frame.length || size > this.busMaxSize) {
      throw new RangeError(`sendAsRouter: frame msg_size ${size} must be 8..${this.busMaxSize} and within the ${frame.length} bytes given`);
    }
    const at = this.mem.alloc(size);
    try {
      this.mem.u8.set(frame.subarray(0, size), at);
      for (let tries = 0; (await this.shards.run(shard, Op.EmitFrame, id, at)) !== 0; tries++) {
        if (tries > 1000) throw new Error(`endpoint ${id}: frame could not be queued (pool exhausted)`);
        await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      this.mem.free(at, size);
    }
  }

  /** Stop: drop every handler, wake the loop; resolves once it has ended. */
  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    new Doorbell(this.mem.buffer, this.tables.controlBell).wake();
    await this.loop;
  }

  /** Take every frame the shards handed to the control plane; returns how many. */
  private drain(): number {
    const { mem, tables } = this;
    const { wasm } = mem;
    const L = tables.L;
    let n = 0;
    for (const ring of tables.controlOutRings) {
      const cur = ring + NR_CONS_CURSOR;
      for (let slot = wasm.ringPeek(cur); slot !== 0; slot = wasm.ringPeek(cur)) {
        const ep = mem.u16[(slot + L.XT_EP) >>> 1]!;
        const tag = mem.u16[(slot + L.XT_KIND) >>> 1]!;
        const f = slot + L.XT_SIZE;
        const size = msgSizeAt(mem.u8, f);
        const frame = mem.u8.slice(f, f + Math.max(8, Math.min(size, tables.xsSlotSize - L.XT_SIZE)));
        wasm.ringRelease(cur);
        n++;
        // A frame of an earlier owner of the id (detached while the frame waited) is not this handler's.
        const handler = tables.endpointTagLive(ep, tag) ? this.handlers.get(ep) : undefined;
        if (handler !== undefined) {
          try {
            handler(frame);
          } catch (e) {
            process.emitWarning(`vmsg-router: control frame handler of endpoint ${ep} threw: ${String(e)}`);
          }
        }
      }
      wasm.cursorFlush(cur);
    }
    return n;
  }

  private async run(): Promise<void> {
    const bell = new Doorbell(this.mem.buffer, this.tables.controlBell);
    const look = (): boolean => this.drain() !== 0;
    while (!this.closed) {
      if (this.drain() !== 0) {
        await new Promise((r) => setImmediate(r)); // let the handlers' follow-ups run
        continue;
      }
      // The shards ring after publishing; the last look drains what came meanwhile.
      await bell.sleepAsync(look, SLEEP_MS);
    }
  }
}
