// Capture of everything crossing a running router (`Router.startCapture`): each shard's hot
// path copies every frame it takes from or writes to an endpoint ring into its own capture
// ring (assembly/router/capture.ts); this thread drains those rings every few ms into a .vmc
// file (src/capture/vmc.ts). A full capture ring loses records (counted), never frames.
import { createWriteStream, type WriteStream } from 'node:fs';
import { PackrStream } from 'msgpackr';
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterTables } from './tables.js';
import { slotSizeFor } from './options.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';
import { VMC_FORMAT, VMC_VERSION, encodeFrame, type LinkRecord, type Direction } from '../capture/vmc.js';

export interface CaptureOptions {
  /** Records each shard's capture ring holds before it loses them. Default 16384. */
  ringCapacity?: number;
  /** How often the rings are drained, ms. Default 5. */
  drainEveryMs?: number;
}

export interface CaptureSummary {
  path: string;
  /** Records written to the file. */
  captured: number;
  /** Records the shards could not write (capture ring full). */
  lost: number;
}

interface TapDeps {
  mem: SharedMemory;
  tables: RouterTables;
  /** Resolves once every shard has finished a routing step begun after the call. */
  sync(): Promise<void>;
  /** What a link (endpoint id) is, for the link records. */
  linkInfo(id: number): LinkRecord | undefined;
  /** Called once the file is closed. */
  onStopped?(): void;
}

export class CaptureTap {
  private readonly rings: number[] = [];
  private readonly ringBytes: number;
  // Plain MessagePack (no msgpackr record extension): any msgpack library can read a capture.
  private readonly packr = new PackrStream({ useRecords: false });
  private readonly file: WriteStream;
  private readonly known = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private captured = 0;
  private stopped: Promise<CaptureSummary> | undefined;
  private readonly lostAtStart: number[] = [];

  private constructor(private readonly deps: TapDeps, readonly path: string, opts: CaptureOptions) {
    const capacity = opts.ringCapacity ?? 16384;
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 1 << 20) {
      throw new RangeError(`capture ringCapacity must be an integer from 16 to ${1 << 20}, got ${capacity}`);
    }
    const every = opts.drainEveryMs ?? 5;
    if (!(every >= 1 && every <= 1000)) throw new RangeError(`capture drainEveryMs must be 1..1000, got ${every}`);
    const { mem, tables } = deps;
    const L = tables.L;
    const slot = slotSizeFor(L.CAP_FRAME + tables.opts.busMaxSize);
    this.ringBytes = mem.wasm.nativeRingBytes(capacity, slot, 1);
    this.file = createWriteStream(path, { mode: 0o600 });
    this.packr.pipe(this.file);
    this.packr.write({ format: VMC_FORMAT, version: VMC_VERSION, started: new Date().toISOString(), tool: 'vmsg-router' });
    for (const sh of tables.shards) {
      const ring = tables.newRing(capacity, slot, 0, 0);
      this.rings.push(ring);
      this.lostAtStart.push(Number(mem.dv.getBigUint64(sh + L.SH_C_CAPTURE_LOST, true)));
      // The shard stamps records with SH_NOW_WALL, which its loop refreshes only while capturing:
      // start it at now, so the frames of its first step after this store are not stamped 0.
      mem.dv.setFloat64(sh + L.SH_NOW_WALL, performance.timeOrigin + performance.now(), true);
      Atomics.store(mem.u32, (sh + L.SH_CAPTURE) >>> 2, ring + NR_PROD_CURSOR);
    }
    this.timer = setInterval(() => this.drain(), every);
  }

  static async start(deps: TapDeps, path: string, opts: CaptureOptions = {}): Promise<CaptureTap> {
    const tap = new CaptureTap(deps, path, opts);
    try {
      await new Promise<void>((resolve, reject) => {
        tap.file.once('open', () => resolve());
        tap.file.once('error', reject);
      });
    } catch (e) {
      await tap.abandon();
      throw e;
    }
    return tap;
  }

  /** The file could not be opened: the shards let go of the rings and no drain timer is left running. */
  private async abandon(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const { mem, tables } = this.deps;
    for (const sh of tables.shards) Atomics.store(mem.u32, (sh + tables.L.SH_CAPTURE) >>> 2, 0);
    await this.deps.sync();
    for (const ring of this.rings) mem.free(ring, this.ringBytes);
  }

  /** Move every published record into the file. */
  private drain(): void {
    const { mem, tables } = this.deps;
    const L = tables.L;
    const { wasm, u8, dv } = mem;
    for (const ring of this.rings) {
      const cur = ring + NR_CONS_CURSOR;
      for (let r = wasm.ringPeek(cur); r !== 0; r = wasm.ringPeek(cur)) {
        const link = dv.getUint16(r + L.CAP_EP, true);
        if (!this.known.has(link)) {
          this.known.add(link);
          const info = this.deps.linkInfo(link);
          if (info !== undefined) this.packr.write(info);
        }
        const len = dv.getUint16(r + L.CAP_LEN, true);
        this.packr.write(encodeFrame({
          timeMs: dv.getFloat64(r + L.CAP_TIME, true),
          link,
          dir: u8[r + L.CAP_DIR] as Direction,
          bytes: Buffer.from(u8.slice(r + L.CAP_FRAME, r + L.CAP_FRAME + len).buffer),
        }));
        this.captured++;
        wasm.ringRelease(cur);
      }
      wasm.cursorFlush(cur);
    }
  }

  /** Stop capturing: the shards let go of their rings, what is left is written, the file is closed. */
  stop(): Promise<CaptureSummary> {
    this.stopped ??= this.finish();
    return this.stopped;
  }

  private async finish(): Promise<CaptureSummary> {
    clearInterval(this.timer);
    this.timer = undefined;
    const { mem, tables } = this.deps;
    const L = tables.L;
    for (const sh of tables.shards) Atomics.store(mem.u32, (sh + L.SH_CAPTURE) >>> 2, 0);
    // After one full routing step per shard nobody writes the rings, and all they wrote is published.
    await this.deps.sync();
    this.drain();
    let lost = 0;
    tables.shards.forEach((sh, i) => {
      lost += Number(mem.dv.getBigUint64(sh + L.SH_C_CAPTURE_LOST, true)) - this.lostAtStart[i]!;
    });
    this.packr.end({ end: new Date().toISOString(), captured: this.captured, lost });
    await new Promise<void>((resolve, reject) => {
      this.file.once('close', () => resolve());
      this.file.once('error', reject);
    });
    for (const ring of this.rings) mem.free(ring, this.ringBytes);
    this.deps.onStopped?.();
    return { path: this.path, captured: this.captured, lost };
  }
}
