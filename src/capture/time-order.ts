// A capture's records with its frames in time order. Shards write their frames to the capture
// in batches, so the file interleaves them out of order by up to a batch per shard; this puts
// them back with a bounded reorder window (a min-heap of `window` frames), so a capture larger
// than memory still streams. Frames with equal times keep their file order. Link records pass
// at once (a link is recorded before its first frame), the trailer last.
import { readCapture, type CaptureItem } from './reader.js';
import type { FrameRecord } from './vmc.js';

/** Frames held back at most: far more than shards × capture batch. */
export const REORDER_WINDOW = 65536;

interface Held { f: FrameRecord; seq: number }

const before = (a: Held, b: Held): boolean => a.f.timeMs < b.f.timeMs || (a.f.timeMs === b.f.timeMs && a.seq < b.seq);

function push(h: Held[], x: Held): void {
  h.push(x);
  for (let i = h.length - 1; i > 0; ) {
    const p = (i - 1) >> 1;
    if (!before(h[i]!, h[p]!)) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

function pop(h: Held[]): Held {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  return top;
}

export async function* readCaptureInTimeOrder(path: string, window = REORDER_WINDOW): AsyncGenerator<CaptureItem, void, undefined> {
  const heap: Held[] = [];
  let seq = 0;
  let trailer: CaptureItem | undefined;
  for await (const item of readCapture(path)) {
    if (item.kind === 'link') yield item;
    else if (item.kind === 'trailer') trailer = item;
    else {
      push(heap, { f: item.frame, seq: seq++ });
      if (heap.length > window) yield { kind: 'frame', frame: pop(heap).f };
    }
  }
  while (heap.length > 0) yield { kind: 'frame', frame: pop(heap).f };
  if (trailer !== undefined) yield trailer;
}
