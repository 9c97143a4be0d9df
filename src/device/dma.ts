// The "DMA" of the reference devices: moving bytes between virtqueue buffers in guest memory and
// their backing (a file, a random source, other buffers) and checksumming what moved (CRC-32).
// A job is plain data, so the same runDmaJob() runs inline in the device's message loop or, in
// the DMA-decoupled mode, in a piscina pool (device/dma-worker.ts) while the loop goes on: the
// device posts the used-ring entry and EVENT_USED when the job's promise settles.
import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { Piscina } from 'piscina';
import { GuestMemory } from '../virtqueue/guest-memory.js';
import type { BufferSegment } from '../virtqueue/device-queue.js';
import { compiledModule } from '../util/paths.js';
import { crc32 } from './crc32.js';

export type DmaJob =
  /** Write the segments, concatenated, to `path` at byte `position`. */
  | { op: 'file-write'; path: string; position: number; segments: BufferSegment[] }
  /** Read from `path` at byte `position` into the segments (zeros past the end of the file). */
  | { op: 'file-read'; path: string; position: number; segments: BufferSegment[] }
  /** Make the file's written data durable (fdatasync). */
  | { op: 'file-sync'; path: string }
  /** Fill the segments with cryptographically strong random bytes. */
  | { op: 'random-fill'; segments: BufferSegment[] }
  /** Copy `from` (concatenated) into `to`, as much as fits. */
  | { op: 'copy'; from: BufferSegment[]; to: BufferSegment[] };

export interface DmaResult {
  /** Bytes moved. */
  bytes: number;
  /** CRC-32 of the bytes moved, in order. */
  checksum: number;
}

export type DmaMode = 'inline' | 'offload';
export const DMA_MODES: readonly DmaMode[] = ['inline', 'offload'];

/** Files this thread has open, by path (each thread of the pool opens its own descriptors). */
const openFiles = new Map<string, number>();

function fileOf(path: string): number {
  let fd = openFiles.get(path);
  if (fd === undefined) {
    try {
      fd = openSync(path, 'r+');
    } catch {
      fd = openSync(path, 'r'); // a read-only backing file: writes fail as I/O errors
    }
    openFiles.set(path, fd);
  }
  return fd;
}

/** Close the files this thread opened for DMA. */
export function closeDmaFiles(): void {
  for (const fd of openFiles.values()) closeSync(fd);
  openFiles.clear();
}

function viewOf(memory: GuestMemory, s: BufferSegment): Uint8Array {
  const v = memory.view(s.gpa, s.len);
  if (!(v instanceof Uint8Array)) throw v; // the queue checked the chain; a change of window is a bug
  return v;
}

/** Run one job against `memory`; throws on an I/O error (the device reports it). */
export function runDmaJob(job: DmaJob, memory: GuestMemory): DmaResult {
  let bytes = 0;
  let checksum = 0;
  switch (job.op) {
    case 'file-write': {
      const fd = fileOf(job.path);
      for (const s of job.segments) {
        const v = viewOf(memory, s);
        for (let done = 0; done < v.length; ) done += writeSync(fd, v, done, v.length - done, job.position + bytes + done);
        checksum = crc32(v, checksum);
        bytes += v.length;
      }
      break;
    }
    case 'file-read': {
      const fd = fileOf(job.path);
      for (const s of job.segments) {
        const v = viewOf(memory, s);
        let done = 0;
        while (done < v.length) {
          const n = readSync(fd, v, done, v.length - done, job.position + bytes + done);
          if (n === 0) break;
          done += n;
        }
        v.fill(0, done);
        checksum = crc32(v, checksum);
        bytes += v.length;
      }
      break;
    }
    case 'file-sync':
      fdatasyncSync(fileOf(job.path));
      break;
    case 'random-fill':
      for (const s of job.segments) {
        const v = viewOf(memory, s);
        randomFillSync(v);
        checksum = crc32(v, checksum);
        bytes += v.length;
      }
      break;
    case 'copy': {
      let si = 0;
      let so = 0;
      for (const d of job.to) {
        const out = viewOf(memory, d);
        let at = 0;
        while (at < out.length && si < job.from.length) {
          const src = viewOf(memory, job.from[si]!);
          const n = Math.min(out.length - at, src.length - so);
          out.set(src.subarray(so, so + n), at);
          checksum = crc32(out.subarray(at, at + n), checksum);
          at += n;
          so += n;
          bytes += n;
          if (so === src.length) {
            si++;
            so = 0;
          }
        }
      }
      break;
    }
  }
  return { bytes, checksum };
}

/** The part [offset, offset + length) of concatenated `segments`, as segments. */
export function segmentsIn(segments: readonly BufferSegment[], offset: number, length: number): BufferSegment[] {
  const out: BufferSegment[] = [];
  let skip = offset;
  let left = length;
  for (const s of segments) {
    if (left === 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, left);
    out.push({ gpa: s.gpa + skip, len: n });
    left -= n;
    skip = 0;
  }
  if (left !== 0) throw new RangeError(`segmentsIn: [${offset}, +${length}) runs past the segments`);
  return out;
}

export interface DmaCounters {
  jobs: number;
  /** Jobs handed to the pool. */
  offloaded: number;
  /** Jobs started and not finished, now and at most: above 1 only when the loop did not wait for them. */
  inFlight: number;
  maxInFlight: number;
  bytes: number;
  /** XOR of every job's CRC-32: order-independent, so inline and offload runs compare. */
  checksum: number;
}

export interface DmaOptions {
  /** Default "inline". */
  mode?: DmaMode;
  /** Pool threads in offload mode. Default 1 (the machines this runs on have 2 cores). */
  threads?: number;
}

/** A device's DMA engine: jobs run inline, or in a piscina pool (never waited on by the loop). */
export class Dma {
  readonly mode: DmaMode;
  readonly counters: DmaCounters = { jobs: 0, offloaded: 0, inFlight: 0, maxInFlight: 0, bytes: 0, checksum: 0 };
  private readonly pool: Piscina | undefined;
  private readonly described: ReturnType<GuestMemory['describe']>;

  constructor(private readonly memory: GuestMemory, opts: DmaOptions = {}) {
    this.mode = opts.mode ?? 'inline';
    if (!DMA_MODES.includes(this.mode)) throw new RangeError(`dma mode must be one of ${DMA_MODES.join(', ')}, got ${String(this.mode)}`);
    this.described = memory.describe();
    if (this.mode === 'offload') {
      const threads = opts.threads ?? 1;
      if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new RangeError(`dma threads must be 1..64, got ${threads}`);
      this.pool = new Piscina({
        filename: compiledModule('device/dma-worker.js'),
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: Infinity,
        // Never refuse a job: the virtqueue already bounds how many can be outstanding.
        maxQueue: Infinity,
      });
    }
  }

  /** Run `job`: the result now (inline) or a promise of it (offload). */
  run(job: DmaJob): DmaResult | Promise<DmaResult> {
    const c = this.counters;
    c.jobs++;
    c.maxInFlight = Math.max(c.maxInFlight, ++c.inFlight);
    if (this.pool === undefined) {
      try {
        return this.account(runDmaJob(job, this.memory));
      } finally {
        c.inFlight--;
      }
    }
    c.offloaded++;
    return (this.pool.run({ memory: this.described, job }) as Promise<DmaResult>).then(
      (r) => {
        c.inFlight--;
        return this.account(r);
      },
      (e: unknown) => {
        c.inFlight--;
        throw e;
      },
    );
  }

  /**
   * Start the pool's threads now and resolve once one has answered (a job that moves nothing),
   * so the first real jobs do not wait for a worker to boot. Inline: nothing to do.
   */
  async warmUp(): Promise<void> {
    if (this.pool !== undefined) await this.pool.run({ memory: this.described, job: { op: 'copy', from: [], to: [] } satisfies DmaJob });
  }

  private account(r: DmaResult): DmaResult {
    this.counters.bytes += r.bytes;
    this.counters.checksum = (this.counters.checksum ^ r.checksum) >>> 0;
    return r;
  }

  async close(): Promise<void> {
    if (this.pool !== undefined) await this.pool.destroy();
  }
}
