// Reading a .vmc capture (src/capture/vmc.ts) record by record, streaming: captures can be
// far larger than memory.
import { createReadStream } from 'node:fs';
import { UnpackrStream } from 'msgpackr';
import { classify, CaptureFormatError, type CaptureHeader, type CaptureTrailer, type FrameRecord, type LinkRecord } from './vmc.js';

export type CaptureItem =
  | { kind: 'link'; link: LinkRecord }
  | { kind: 'frame'; frame: FrameRecord }
  | { kind: 'trailer'; trailer: CaptureTrailer };

/** The header, then every link, frame and trailer record in file order. Throws CaptureFormatError on a file that is not a capture. */
export async function* readCapture(path: string): AsyncGenerator<CaptureItem, void, undefined> {
  const file = createReadStream(path);
  const stream = file.pipe(new UnpackrStream({ mapsAsObjects: true }));
  file.once('error', (e) => stream.destroy(e)); // pipe() does not pass on a missing file
  let index = 0;
  let header: CaptureHeader | undefined;
  try {
    for await (const v of stream as AsyncIterable<unknown>) {
      const r = classify(v, index);
      if (index++ === 0) {
        if (r.kind !== 'header') throw new CaptureFormatError(`${path} is not a vmsg capture (no header record)`);
        header = r.header;
        continue;
      }
      if (r.kind === 'header') throw new CaptureFormatError(`record ${index - 1}: a second header`);
      yield r;
    }
  } catch (e) {
    if (e instanceof CaptureFormatError || (e as NodeJS.ErrnoException).code !== undefined) throw e;
    // msgpackr's own errors on a truncated or foreign file.
    throw new CaptureFormatError(`${path}: not a readable vmsg capture (${(e as Error).message})`);
  } finally {
    stream.destroy();
    file.destroy();
  }
  if (header === undefined) throw new CaptureFormatError(`${path} is empty: not a vmsg capture`);
}
