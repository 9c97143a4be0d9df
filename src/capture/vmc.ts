// The capture file (.vmc): a stream of plain MessagePack values (written with msgpackr
// PackrStream without its record extension, read with UnpackrStream), one per record:
//   1. header   {format: "vmsg-capture", version: 1, started: ISO-8601, tool: "vmsg-router"}
//   2. then, in any order:
//      link     {link: id, kind: "driver"|"device", name: string}  before the first frame of that link
//      frame    [time_ms, link, dir, bytes]  time_ms: wall clock ms since 1970 (µs resolution),
//               dir: 0 endpoint→router, 1 router→endpoint, bytes: the frame as it crossed the ring
//   3. trailer  {end: ISO-8601, captured: n, lost: n}  (absent if the writer was killed)
// Frames are arrays (not maps) because there are millions of them.

export const VMC_FORMAT = 'vmsg-capture';
export const VMC_VERSION = 1;

export const DIR_TO_ROUTER = 0;
export const DIR_FROM_ROUTER = 1;
export type Direction = typeof DIR_TO_ROUTER | typeof DIR_FROM_ROUTER;

export interface CaptureHeader {
  format: typeof VMC_FORMAT;
  version: number;
  started: string;
  tool: string;
}

export interface LinkRecord {
  link: number;
  kind: 'driver' | 'device';
  name: string;
}

export interface FrameRecord {
  timeMs: number;
  link: number;
  dir: Direction;
  bytes: Uint8Array;
}

export interface CaptureTrailer {
  end: string;
  captured: number;
  lost: number;
}

export type EncodedFrame = [number, number, number, Uint8Array];

export function encodeFrame(r: FrameRecord): EncodedFrame {
  return [r.timeMs, r.link, r.dir, r.bytes];
}

export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

/** Classify one decoded stream value; anything else is a format error naming the record number. */
export function classify(v: unknown, index: number):
  | { kind: 'header'; header: CaptureHeader }
  | { kind: 'link'; link: LinkRecord }
  | { kind: 'frame'; frame: FrameRecord }
  | { kind: 'trailer'; trailer: CaptureTrailer } {
  if (Array.isArray(v)) {
    const [timeMs, link, dir, bytes] = v as unknown[];
    if (typeof timeMs === 'number' && typeof link === 'number' && (dir === 0 || dir === 1) && bytes instanceof Uint8Array) {
      return { kind: 'frame', frame: { timeMs, link, dir, bytes } };
    }
  } else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o.format === VMC_FORMAT) {
      if (o.version !== VMC_VERSION) throw new CaptureFormatError(`capture version ${String(o.version)} is not supported (this reader knows ${VMC_VERSION})`);
      return { kind: 'header', header: o as unknown as CaptureHeader };
    }
    if (typeof o.link === 'number' && (o.kind === 'driver' || o.kind === 'device') && typeof o.name === 'string') {
      return { kind: 'link', link: o as unknown as LinkRecord };
    }
    if (typeof o.end === 'string') return { kind: 'trailer', trailer: o as unknown as CaptureTrailer };
  }
  throw new CaptureFormatError(`record ${index} is not a vmsg capture record`);
}
