// The load engine's state block layout (assembly/loadgen/layout.ts is the one place the offsets
// are written down), read from the compiled module's exported constants like the router's
// tables (src/router/layout.ts); test/loadgen/engine-layout.test.ts checks every name exists.
import { instantiate, wasmConstant, wasmModule } from '../wasm/module.js';

const NAMES = [
  'LG_MODE', 'LG_DEV', 'LG_TX', 'LG_RX', 'LG_OUTSTANDING', 'LG_FIFO', 'LG_HIST', 'LG_FIFO_HEAD', 'LG_FIFO_N', 'LG_SPINS', 'LG_FLAGS',
  'LG_COUNT', 'LG_SENT', 'LG_RECEIVED', 'LG_ERRORS', 'LG_ORDER', 'LG_PINGS', 'LG_STOP_AT', 'LG_LAST', 'LG_MAX_NS', 'LG_TEMPLATES',
  'LG_TEMPLATE_SIZE', 'LG_INIT_STEPS', 'LG_STATE_SIZE', 'LGE_KEY', 'LGE_MSG_ID', 'LGE_T0', 'LG_ENTRY_SIZE',
  'LG_MODE_INIT', 'LG_MODE_PING', 'LG_MODE_AVAIL', 'LGF_RETURN_ON_SEND', 'LG_DONE', 'LG_IDLE', 'LG_BUDGET', 'LG_SENT_NOW',
  'HIST_LINEAR', 'HIST_SUB_BITS', 'HIST_BUCKETS',
] as const;

export type EngineLayoutName = (typeof NAMES)[number];
export type EngineLayout = { readonly [K in EngineLayoutName]: number };

let layout: EngineLayout | undefined;

/** Every load-engine constant, by name (loaded once per thread). */
export function engineLayout(): EngineLayout {
  if (layout !== undefined) return layout;
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const exports = instantiate(memory, wasmModule());
  const out: Record<string, number> = {};
  for (const name of NAMES) out[name] = wasmConstant(exports, name);
  layout = Object.freeze(out) as EngineLayout;
  return layout;
}

export const ENGINE_LAYOUT_NAMES: readonly EngineLayoutName[] = NAMES;
