// The load engine's state block layout: every LG_*, LGE_*, LGF_* and HIST_* constant of the
// compiled module (assembly/loadgen/ is the one place they are written down), taken from the
// generated layout descriptor src/wasm/layout.ts (tools/gen-layout.mjs), so no name list is kept
// by hand. test/loadgen/engine-layout.test.ts checks it holds exactly the module's engine exports.
import * as descriptor from '../wasm/layout.js';

type Descriptor = typeof descriptor;
/** The descriptor's names that belong to the load engine. */
export type EngineLayoutName = Extract<keyof Descriptor, `LG_${string}` | `LGE_${string}` | `LGF_${string}` | `HIST_${string}` | `LGS_${string}` | `LGC_${string}` | `LGT_${string}` | `LGP_${string}` | `LGD_${string}` | `LGM_${string}` | `LGMF_${string}` | `LGL_${string}` | `LGK_${string}` | `LGW_${string}`>;
export type EngineLayout = { readonly [K in EngineLayoutName]: number };

/** True for a constant name of the load engine's layout. */
export const isEngineLayoutName = (name: string): boolean => /^(LG|LGE|LGF|HIST|LGS|LGC|LGT|LGP|LGD|LGM|LGMF|LGL|LGK|LGW)_/.test(name);

const layout = Object.freeze(
  Object.fromEntries(Object.entries(descriptor).filter(([name]) => isEngineLayoutName(name))),
) as EngineLayout;

/** Every load-engine constant, by name. */
export function engineLayout(): EngineLayout {
  return layout;
}

export const ENGINE_LAYOUT_NAMES = Object.keys(layout) as readonly EngineLayoutName[];
