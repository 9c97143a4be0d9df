// The header layout has two twins (docs/PROTOCOL.md §3): assembly/header.ts (WASM hot path) and
// src/protocol/constants.ts (TypeScript). Every constant header.ts declares must be exported by
// the compiled module and equal the TypeScript value; both read msg_size from the same bytes.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { wasmConstant } from '../../src/wasm/module.js';
import { packageRoot } from '../../src/util/paths.js';
import * as C from '../../src/protocol/constants.js';
import { decodeHeader } from '../../src/protocol/codec.js';

/** `export const NAME: u32 = VALUE;` declarations of assembly/header.ts. */
function headerConstants(): Map<string, number> {
  const src = readFileSync(join(packageRoot(), 'assembly', 'header.ts'), 'utf8');
  const out = new Map<string, number>();
  for (const m of src.matchAll(/^export const (\w+): u32 = (0x[0-9a-fA-F]+|\d+);/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('assembly/header.ts and src/protocol/constants.ts agree', () => {
  const mem = new SharedMemory({ bytes: 4 * 65536 });
  const declared = headerConstants();

  it('header.ts declares the header, type and msg_id constants', () => {
    for (const name of ['HDR_SIZE', 'HDR_TYPE', 'HDR_MSG_ID', 'HDR_DEV_NUM', 'HDR_TOKEN', 'HDR_MSG_SIZE',
      'TYPE_RESPONSE', 'TYPE_BUS', 'TYPE_RESERVED_MASK', 'MSG_ID_EVENT_BIT', 'MSG_ID_IMPL_BIT']) {
      expect(declared.has(name), name).toBe(true);
    }
  });

  it.each([...declared.keys()])('%s: wasm export = TypeScript constant', (name) => {
    const ts = (C as unknown as Record<string, unknown>)[name];
    expect(ts, `src/protocol/constants.ts has no ${name}`).toBeTypeOf('number');
    expect(wasmConstant(mem.wasm, name), `assembly/index.ts must export ${name}`).toBe(ts);
    expect(declared.get(name)).toBe(ts);
  });

  it('the WASM one-word header load reads the msg_size TypeScript decodes', () => {
    const at = mem.alloc(64);
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (hdr) => {
      mem.u8.set(hdr, at);
      expect(mem.wasm.frameSize(at)).toBe(decodeHeader(hdr)!.msg_size);
    }), { numRuns: 200 });
  });
});
