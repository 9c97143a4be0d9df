// A worker thread's V8 heap figures, asked for and answered over shared memory: the asker
// bumps a request word; the worker, at a point of its loop it reaches often, sees the new
// request and writes its figures. Reading them allocates (v8's statistics objects), so a
// worker reads them only when asked. Layout (HEAP_PROBE_BYTES): i32 request @0, i32 answered
// @4, f64 physical heap bytes @8, f64 new-space (young generation) capacity @16, f64 used @24.
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

export const HEAP_PROBE_BYTES = 32;

/** One thread's heap, MiB. */
export interface HeapFigures {
  /** Resident pages of the thread's V8 heap (every space). */
  physicalMiB: number;
  /** Capacity of the young generation's new space: what grows with the thread's allocation rate. */
  newSpaceMiB: number;
  usedMiB: number;
}

const MiB = 1024 * 1024;

/** This thread's figures. */
export function heapFigures(): HeapFigures {
  const h = getHeapStatistics();
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return { physicalMiB: h.total_physical_size / MiB, newSpaceMiB: (young?.space_size ?? 0) / MiB, usedMiB: h.used_heap_size / MiB };
}

/** The worker's side: call poll() often; it answers a new request. */
export class HeapProbe {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer, 0, 2);
    this.f64 = new Float64Array(buffer, 8, 3);
  }

  poll(): void {
    const asked = Atomics.load(this.i32, 0);
    if (asked === this.i32[1]) return;
    const h = heapFigures();
    this.f64[0] = h.physicalMiB; this.f64[1] = h.newSpaceMiB; this.f64[2] = h.usedMiB;
    Atomics.store(this.i32, 1, asked);
  }
}

/** The asker's side: a new buffer for one worker. */
export function heapProbeBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEAP_PROBE_BYTES);
}

/** Ask the worker for fresh figures (answered at its next poll). */
export function askHeap(buffer: SharedArrayBuffer): void {
  Atomics.add(new Int32Array(buffer, 0, 1), 0, 1);
}

/** The worker's last answer, or undefined before its first. */
export function lastHeap(buffer: SharedArrayBuffer): HeapFigures | undefined {
  const i32 = new Int32Array(buffer, 0, 2);
  if (Atomics.load(i32, 1) === 0) return undefined;
  const f64 = new Float64Array(buffer, 8, 3);
  return { physicalMiB: f64[0]!, newSpaceMiB: f64[1]!, usedMiB: f64[2]! };
}
