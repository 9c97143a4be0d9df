// The load engine's layout is the compiled module's engine exports, no more and no fewer (a
// constant added to or renamed in assembly/loadgen/ shows up without a hand-kept list), and the histogram's buckets
// (assembly/loadgen/histogram.ts) tile the values without gaps, each at most 1/64 of its value wide.
import { describe, expect, it } from 'vitest';
import { ENGINE_LAYOUT_NAMES, engineLayout, isEngineLayoutName } from '../../src/loadgen/engine-layout.js';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { wasmConstant } from '../../src/wasm/module.js';
import { bucketRange, histogramPercentile } from '../../src/loadgen/engine-histogram.js';

describe('load engine layout', () => {
  it('holds exactly the module\'s engine constants with their values; the state block holds the init templates', () => {
    const L = engineLayout();
    const mem = new SharedMemory({ bytes: 1 << 20 });
    const exported = Object.keys(mem.wasm).filter((n) => mem.wasm[n] instanceof WebAssembly.Global && isEngineLayoutName(n)).sort();
    expect([...ENGINE_LAYOUT_NAMES].sort()).toEqual(exported);
    for (const n of ENGINE_LAYOUT_NAMES) expect({ n, v: L[n] }).toEqual({ n, v: wasmConstant(mem.wasm, n) });
    expect(ENGINE_LAYOUT_NAMES).toEqual(expect.arrayContaining(['LG_MODE', 'LG_STATE_SIZE', 'LGE_KEY', 'LGF_RETURN_ON_SEND', 'HIST_BUCKETS']));
    expect(L.LG_TEMPLATES + L.LG_INIT_STEPS * L.LG_TEMPLATE_SIZE).toBeLessThanOrEqual(L.LG_STATE_SIZE);
    expect(L.LG_MAX_NS + 8).toBeLessThanOrEqual(L.LG_TEMPLATES);
  });

  it('histogram buckets are contiguous and narrow', () => {
    const { HIST_BUCKETS } = engineLayout();
    let next = 0;
    for (let b = 0; b < HIST_BUCKETS; b++) {
      const { low, width } = bucketRange(b);
      expect(low).toBe(next);
      expect(width <= 1 || width / low <= 1 / 64).toBe(true);
      next = low + width;
    }
    expect(next).toBeGreaterThan(1e18); // ns: centuries
  });

  it('percentiles pick the bucket holding the rank', () => {
    const counts = new Float64Array(engineLayout().HIST_BUCKETS);
    counts[10] = 50;
    counts[100] = 49;
    counts[120] = 1;
    expect(histogramPercentile(counts, 50)).toBe(10);
    expect(histogramPercentile(counts, 99)).toBe(100);
    expect(histogramPercentile(counts, 100)).toBe(120);
  });
});
