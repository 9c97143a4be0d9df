// Fuzzing the link URI parser (src/bus/uri.ts): any string at all, and valid-looking URIs with
// characters changed, either parse or throw LinkUriError — never anything else.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { parseLinkUri, LinkUriError } from '../../src/bus/uri.js';

const SAMPLES = ['vmamp:/dev/shm/vm0?role=device', 'spsc:/dev/shm/q?region=4096', 'tcp://127.0.0.1:7000', 'unix:/tmp/vmsg.sock', 'inproc:drv0'];

/** A plain check (no expect() per run: it is slow in a loop of hundreds). */
function parsesOrRejects(text: string): void {
  try {
    parseLinkUri(text);
  } catch (e) {
    if (!(e instanceof LinkUriError)) throw new Error(`${JSON.stringify(text)} threw ${String(e)}, not a LinkUriError`);
  }
}

describe('link URI parser under arbitrary input', () => {
  it('arbitrary strings parse or are rejected with LinkUriError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), parsesOrRejects), { seed: 0xb05, numRuns: 300 });
  });

  it('plausible URIs with characters replaced, inserted or cut parse or are rejected with LinkUriError', () => {
    const edit = fc.tuple(fc.nat(), fc.constantFrom(':', '/', '?', '&', '=', '%', '%zz', '@', '[', ']', '', 'x', '\u0000', '\u00e9'));
    fc.assert(fc.property(fc.constantFrom(...SAMPLES), fc.array(edit, { maxLength: 6 }), (uri, eds) => {
      let s = uri;
      for (const [at, c] of eds) {
        const i = at % (s.length + 1);
        s = s.slice(0, i) + c + s.slice(i + (c === '' ? 1 : 0));
      }
      parsesOrRejects(s);
    }), { seed: 0xb06, numRuns: 300 });
  });
});
