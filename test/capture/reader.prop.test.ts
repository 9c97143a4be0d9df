// Fuzzing the capture reader (src/capture/reader.ts): a file of arbitrary bytes, or a valid
// capture cut short or with bytes changed, yields records or throws CaptureFormatError — never
// another error, never a hang.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { readCapture } from '../../src/capture/reader.js';
import { CaptureFormatError, VMC_FORMAT, VMC_VERSION } from '../../src/capture/vmc.js';

const dir = mkdtempSync(join(tmpdir(), 'vmc-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const valid = Buffer.concat([
  pack({ format: VMC_FORMAT, version: VMC_VERSION, started: new Date(0).toISOString(), tool: 'vmsg-router' }),
  pack({ link: 0, kind: 'driver', name: 'driver#0' }),
  pack([1.5, 0, 0, Uint8Array.from([0, 7, 1, 0, 1, 0, 8, 0])]),
  pack([2.5, 0, 1, Uint8Array.from([1, 7, 1, 0, 1, 0, 12, 0, 15, 0, 0, 0])]),
  pack({ end: new Date(1).toISOString(), captured: 2, lost: 0 }),
]);

async function readsOrRejects(bytes: Uint8Array, n: number): Promise<void> {
  const path = join(dir, `f${n}.vmc`);
  writeFileSync(path, bytes);
  try {
    for await (const item of readCapture(path)) expect(['link', 'frame', 'trailer']).toContain(item.kind);
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureFormatError);
  }
}

describe('capture reader under hostile files', () => {
  it('the unmodified capture reads back', async () => {
    const kinds: string[] = [];
    writeFileSync(join(dir, 'ok.vmc'), valid);
    for await (const item of readCapture(join(dir, 'ok.vmc'))) kinds.push(item.kind);
    expect(kinds).toEqual(['link', 'frame', 'frame', 'trailer']);
  });

  it('arbitrary bytes, and the capture truncated or with bytes changed: records or CaptureFormatError', async () => {
    let n = 0;
    const mutated = fc.tuple(fc.nat(valid.length), fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }))
      .map(([cut, eds]) => {
        const b = Uint8Array.from(valid);
        for (const [at, v] of eds) b[at] = v;
        return b.subarray(0, Math.max(1, cut));
      });
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (b) => readsOrRejects(b, n++)), { seed: 0xcafe, numRuns: 200 });
  });
});
