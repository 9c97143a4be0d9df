// The router tables' layout, read from the compiled hot path: assembly/router/layout.ts is the
// one place the offsets are written down; this module lists the names TypeScript uses and
// takes their values from the module's exported constants (test/layout/router.test.ts checks
// that every name exists and that the reason numbers match src/protocol/reasons.ts).
import { instantiate, wasmConstant, wasmModule } from '../wasm/module.js';

const NAMES = [
  'RC_MAGIC_VALUE', 'RC_MAGIC', 'RC_VERSION', 'RC_NUM_SHARDS', 'RC_MAX_ENDPOINTS', 'RC_DEV_TABLE',
  'RC_PRESENT_MAP', 'RC_ENDPOINTS', 'RC_TIMEOUT_MS', 'RC_BUS_MAX', 'RC_STATS_STRIDE', 'RC_SIZE',
  'DS_DEV_NUM', 'DS_ENDPOINT', 'DS_SHARD', 'DS_FLAGS', 'DS_BOUND_DRIVER', 'DS_BUS_NUM', 'DS_WINDOW',
  'DS_ENTRIES', 'DS_NEXT_SEQ', 'DS_HEAD_SEQ', 'DS_PARK_HEAD', 'DS_PARK_TAIL', 'DS_PARK_COUNT',
  'DS_LIST_NEXT', 'DS_LISTED', 'DS_C_REQUESTS', 'DS_C_RESPONSES', 'DS_C_FAILED', 'DS_C_EVENTS_IN',
  'DS_C_EVENTS_OUT', 'DS_C_HELD', 'DS_C_PARKED', 'DS_C_TIMEOUTS', 'DS_C_COALESCED', 'DS_NEXT_TOKEN', 'DS_BASE_SEQ', 'DS_FAIL_COUNT', 'DS_FAIL_RING', 'DS_FAILS', 'DS_SIZE', 'DSF_PRESENT',
  'DSF_REMOVING', 'CE_STATE', 'CE_MSG_ID', 'CE_DRIVER', 'CE_DRV_TOKEN', 'CE_TOKEN', 'CE_DEADLINE',
  'CE_HELD', 'CE_SIZE', 'CES_FREE', 'CES_WAITING', 'CES_ANSWERED', 'CES_FAILED',
  'CES_DONE_ANSWERED', 'CES_DONE_FAILED', 'CES_REFUSED', 'OUT_CURSOR', 'OUT_PARK_HEAD', 'OUT_PARK_TAIL',
  'OUT_PARK_COUNT', 'OUT_LIST_NEXT', 'OUT_LISTED', 'OUT_TAGGED', 'OUT_STATS', 'OUT_BLOCKED_SINCE', 'OUT_SIZE',
  'EP_KIND', 'EP_SHARD', 'EP_FLAGS', 'EP_MAX_MSG', 'EP_GEN', 'EP_IN_CURSOR', 'EP_ALLOW', 'EP_BUS_DEVS', 'EP_OUT',
  'EP_SIZE', 'EPK_FREE', 'EPK_DRIVER', 'EPK_DEVICE', 'EPF_FAILURE_EVENTS', 'EPF_CLOSING', 'SH_ID',
  'SH_CONFIG', 'SH_NUM_SOURCES', 'SH_SOURCES', 'SH_RR', 'SH_POOL', 'SH_POOL_SLOTS',
  'SH_POOL_STRIDE', 'SH_POOL_FREE', 'SH_POOL_TOP', 'SH_DEV_LIST', 'SH_OUT_LIST', 'SH_NOW',
  'SH_CTRL_OUT', 'SH_XS_OUT', 'SH_XS_IN', 'SH_STATS', 'SH_PARK_LIMIT', 'SH_SOURCE_BUDGET',
  'SH_DEVICES', 'SH_NUM_DEVICES', 'SH_DIRTY', 'SH_DIRTY_N', 'SH_NUM_SHARDS', 'SH_IN_XS', 'SH_BELL',
  'SH_SCRATCH', 'SH_TEMP', 'SH_C_LOOPS', 'SH_C_FRAMES', 'SH_C_STALLS', 'SH_C_XS_SENT', 'SH_C_CTRL',
  'SH_C_POOL_EMPTY', 'SH_C_CAPTURED', 'SH_C_CAPTURE_LOST', 'SH_CAPTURE', 'SH_NOW_WALL', 'SH_SIZE',
  'PQ_HEAD', 'PQ_TAIL', 'PQ_COUNT', 'PQ_LIST_NEXT', 'PQ_LISTED', 'PQ_SIZE', 'DS_PARK', 'OUT_PARK',
  'CAP_TIME', 'CAP_EP', 'CAP_DIR', 'CAP_FLAGS', 'CAP_LEN', 'CAP_FRAME', 'CAPD_TO_ROUTER', 'CAPD_FROM_ROUTER', 'PS_NEXT', 'PS_AUX', 'PS_KIND', 'PS_FRAME', 'PSK_EVENT', 'PSK_REQUEST', 'PSK_REFUSAL', 'TAG_KIND', 'TAG_GEN_SHIFT', 'XT_KIND', 'XT_EP',
  'XT_SIZE', 'XS_TO_DEVICE', 'XS_TO_ENDPOINT', 'EC_RX', 'EC_TX', 'EC_TERMINATED', 'EC_GENERATED',
  'EC_FAILURES', 'EC_STALLS', 'EC_TO_CONTROL', 'EC_DROP_BASE', 'EC_COUNTERS',
  'VMSG_EVT_REQUEST_FAILED', 'RF_DEVICE', 'RF_MSG_ID', 'RF_REASON', 'RF_TOKEN', 'RF_SIZE',
  'R_HDR_TRUNCATED', 'R_MSG_SIZE_LT_HEADER', 'R_MSG_SIZE_GT_BUFFER', 'R_MSG_SIZE_GT_BUS_MAX',
  'R_UNSUPPORTED_MSG_ID', 'R_RESPONSE_TO_EVENT', 'R_WRONG_DIRECTION', 'R_BUS_DEV_NUM_NONZERO',
  'R_UNVALIDATED_DEV_NUM', 'R_GET_DEVICES_ALIGNMENT', 'R_PAYLOAD_TRUNCATED', 'R_PAYLOAD_LENGTH_MISMATCH', 'R_MSG_SIZE_GT_LINK_MAX', 'R_SOURCE_GONE', 'R_DRIVER_STALLED',
  'R_UNMATCHED_RESPONSE', 'R_LATE_RESPONSE', 'R_RESPONSE_ID_MISMATCH', 'R_SPOOFED_DEV_NUM',
  'R_NO_BOUND_DRIVER', 'R_UNSUPPORTED_BUS_MSG', 'R_DEVICE_REMOVED', 'R_POLICY_DENIED', 'R_TIMEOUT',
  'R_DUPLICATE_RESPONSE', 'R_SHARD_RESTARTED', 'R_DEVICE_BUSY', 'R_ENDPOINT_STALLED', 'R_ROUTER_CLOSED', 'R_RING_CORRUPT', 'R_ENDPOINT_GONE',
] as const;

export type RouterLayoutName = (typeof NAMES)[number];
export type RouterLayout = { readonly [K in RouterLayoutName]: number };

let layout: RouterLayout | undefined;

/** Every router-table constant, by name (loaded once per thread). */
export function routerLayout(): RouterLayout {
  if (layout !== undefined) return layout;
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const exports = instantiate(memory, wasmModule());
  const out: Record<string, number> = {};
  for (const name of NAMES) out[name] = wasmConstant(exports, name);
  layout = Object.freeze(out) as RouterLayout;
  return layout;
}

export const ROUTER_LAYOUT_NAMES: readonly RouterLayoutName[] = NAMES;
