// The layout descriptor: src/wasm/layout.ts is generated from the compiled module's exported
// constants (tools/gen-layout.mjs, run by npm run build:wasm) and is the only place TypeScript
// takes ring, doorbell, header, payload and router-table offsets from. It must be current, and
// every module that re-exports a constant must give the module's value.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { wasmConstant } from '../../src/wasm/module.js';
import * as generated from '../../src/wasm/layout.js';
import * as cursorTs from '../../src/ring/cursor.js';
import * as nativeTs from '../../src/ring/native.js';
import * as vmampTs from '../../src/ring/vmamp.js';
import * as spscTs from '../../src/ring/spsc.js';
import * as doorbellTs from '../../src/wait/doorbell.js';
import * as eventAvailTs from '../../src/client/event-avail.js';
import * as eventDeviceTs from '../../src/client/event-device.js';
import * as requestFailedTs from '../../src/client/request-failed.js';
// @ts-expect-error a plain ES module without type declarations
import { layoutSource, layoutMismatches } from '../../tools/gen-layout.mjs';

describe('layout descriptor', () => {
  test('src/wasm/layout.ts is what the generator writes for the current build', () => {
    const path = fileURLToPath(new URL('../../src/wasm/layout.ts', import.meta.url));
    expect(readFileSync(path, 'utf8')).toBe((layoutSource as () => string)());
  });

  test('the scalar build (no Wasm SIMD) exports exactly the constants of vmsg.wasm', () => {
    expect((layoutMismatches as () => string[])()).toEqual([]);
  });

  test('every constant equals the module export of the same name, and there are no others', () => {
    const mem = new SharedMemory({ bytes: 1 << 20 });
    const exported = Object.keys(mem.wasm).filter((n) => mem.wasm[n] instanceof WebAssembly.Global).sort();
    expect(Object.keys(generated).sort()).toEqual(exported);
    for (const [name, v] of Object.entries(generated)) expect({ name, v }).toEqual({ name, v: wasmConstant(mem.wasm, name) });
  });

  test('the ring modules re-export the descriptor (no copies)', () => {
    let n = 0;
    for (const mod of [cursorTs, nativeTs, vmampTs, spscTs, doorbellTs] as Record<string, unknown>[]) {
      for (const [name, v] of Object.entries(mod)) {
        if (typeof v !== 'number' || !(name in generated)) continue;
        expect({ name, v }).toEqual({ name, v: (generated as Record<string, number>)[name] });
        n++;
      }
    }
    expect(n).toBeGreaterThan(80);
  });

  test('the router event readers take their payload offsets from the descriptor (the offsets the hot path uses)', () => {
    const names: string[] = [];
    for (const mod of [eventAvailTs, eventDeviceTs, requestFailedTs] as Record<string, unknown>[]) {
      for (const [name, v] of Object.entries(mod)) {
        if (typeof v !== 'number' || !(name in generated)) continue;
        expect({ name, v }).toEqual({ name, v: (generated as Record<string, number>)[name] });
        names.push(name);
      }
    }
    expect(names.sort()).toEqual(['EA_NEXT_OFFSET', 'EA_SIZE', 'EA_VQ_INDEX', 'ED_DEVICE', 'ED_SIZE', 'ED_STATE',
      'RF_DEVICE', 'RF_MSG_ID', 'RF_REASON', 'RF_SIZE', 'RF_TOKEN', 'VMSG_EVT_REQUEST_FAILED']);
  });
});
