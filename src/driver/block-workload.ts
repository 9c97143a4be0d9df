// A self-checking block workload for the demo and `vmsg stress`: passes over a region of the disk
// in windows of a few chunks, each window written with a pattern unique to (pass, chunk, byte) and
// then read back and compared; a flush ends each pass (unless turned off). Keeps `inFlight` requests outstanding and
// can record each request's latency (submit → used).
import type { BlockDriver } from './block-driver.js';

export interface BlockWorkloadOptions {
  /** First sector of the region. Default 0. */
  firstSector?: number;
  /** Region size in bytes (a multiple of chunkBytes). */
  regionBytes: number;
  /** Bytes per request (a multiple of 512, at most the driver's maxTransfer). */
  chunkBytes: number;
  /** Requests outstanding at once. */
  inFlight: number;
  /** Record every request's latency (ms). Default false. */
  recordLatency?: boolean;
  /** Flush (VIRTIO_BLK_T_FLUSH) at the end of each pass. Default true. */
  flushEachPass?: boolean;
}

export interface BlockWorkloadCounters {
  passes: number;
  writes: number;
  reads: number;
  bytesWritten: number;
  bytesRead: number;
  /** Bytes read back equal to what was written. */
  verifiedBytes: number;
  /** Chunks read back different from what was written. */
  mismatches: number;
  /** Requests that failed (the error is kept in lastError). */
  errors: number;
}

/** The bytes of chunk `k` in pass `pass`: a xorshift stream seeded by both. */
export function chunkPattern(pass: number, k: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const words = new Uint32Array(out.buffer);
  let x = (Math.imul(k + 1, 0x9e3779b1) ^ Math.imul(pass + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

export class BlockWorkload {
  readonly counters: BlockWorkloadCounters = { passes: 0, writes: 0, reads: 0, bytesWritten: 0, bytesRead: 0, verifiedBytes: 0, mismatches: 0, errors: 0 };
  /** Request latencies in ms, in completion order (when recordLatency). */
  readonly latencies: number[] = [];
  lastError: Error | undefined;
  private readonly chunks: number;
  private readonly sectorsPerChunk: number;
  private readonly first: number;

  constructor(private readonly blk: BlockDriver, private readonly opts: BlockWorkloadOptions) {
    const { regionBytes, chunkBytes, inFlight } = opts;
    if (!Number.isInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % 512 !== 0) throw new RangeError(`chunkBytes must be a positive multiple of 512, got ${chunkBytes}`);
    if (!Number.isInteger(regionBytes) || regionBytes < chunkBytes || regionBytes % chunkBytes !== 0) throw new RangeError(`regionBytes must be a positive multiple of chunkBytes (${chunkBytes}), got ${regionBytes}`);
    if (!Number.isInteger(inFlight) || inFlight < 1) throw new RangeError(`inFlight must be a positive integer, got ${inFlight}`);
    this.chunks = regionBytes / chunkBytes;
    this.sectorsPerChunk = chunkBytes / 512;
    this.first = opts.firstSector ?? 0;
    if (this.first + this.chunks * this.sectorsPerChunk > blk.capacity) {
      throw new RangeError(`the region (${regionBytes} bytes from sector ${this.first}) does not fit the disk's ${blk.capacity} sectors`);
    }
  }

  /** Run passes until `stopped()` (checked between requests; the window in progress is abandoned). */
  async run(stopped: () => boolean): Promise<void> {
    // Windows of a few rounds of requests: verification starts early and the data read back was
    // written moments before, while every request still has inFlight - 1 others beside it.
    const window = this.opts.inFlight * 4;
    for (let pass = 0; !stopped(); pass++) {
      for (let from = 0; from < this.chunks; from += window) {
        const to = Math.min(this.chunks, from + window);
        await this.phase(pass, 'write', from, to, stopped);
        if (stopped()) return;
        await this.phase(pass, 'read', from, to, stopped);
        if (stopped()) return;
      }
      if (this.opts.flushEachPass ?? true) await this.blk.flush();
      this.counters.passes++;
    }
  }

  /** Chunks [from, to) with `inFlight` workers. */
  private async phase(pass: number, op: 'write' | 'read', from: number, to: number, stopped: () => boolean): Promise<void> {
    const { chunkBytes, inFlight, recordLatency } = this.opts;
    const c = this.counters;
    let next = from;
    const worker = async (): Promise<void> => {
      for (let k = next++; k < to && !stopped(); k = next++) {
        const sector = this.first + k * this.sectorsPerChunk;
        const expected = chunkPattern(pass, k, chunkBytes);
        const t0 = recordLatency === true ? performance.now() : 0;
        try {
          if (op === 'write') {
            await this.blk.write(sector, expected);
            c.writes++;
            c.bytesWritten += chunkBytes;
          } else {
            const got = await this.blk.read(sector, chunkBytes);
            c.reads++;
            c.bytesRead += chunkBytes;
            if (Buffer.compare(got, expected) === 0) c.verifiedBytes += chunkBytes;
            else c.mismatches++;
          }
          if (recordLatency === true) this.latencies.push(performance.now() - t0);
        } catch (e) {
          c.errors++;
          this.lastError = e as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  }
}
