// WASM entry: the hot path exports used by TypeScript (src/wasm/module.ts) and every layout
// constant, exported as globals so test/layout.test.ts can check them against the TS tables.

export {
  HDR_SIZE, HDR_TYPE, HDR_MSG_ID, HDR_DEV_NUM, HDR_TOKEN, HDR_MSG_SIZE,
  TYPE_RESPONSE, TYPE_BUS, TYPE_RESERVED_MASK, MSG_ID_EVENT_BIT, MSG_ID_IMPL_BIT,
} from './header';

export {
  CUR_SLOTS, CUR_PUB, CUR_PEER, CUR_CAP, CUR_STRIDE, CUR_LOCAL, CUR_CACHED, CUR_PENDING,
  CUR_BATCH, CUR_FLAGS, CUR_WAKE, CUR_FAULTS, CUR_SIZE, CURF_IDX16,
  cursorFlush, produceFreeHint, consumeAvailableHint,
} from './ring/cursor';

export {
  NR_MAGIC_VALUE, NR_VERSION_VALUE, NR_MAGIC, NR_VERSION, NR_FLAGS, NR_CAPACITY, NR_SLOT_SIZE,
  NR_CONS_BELL, NR_PROD_BELL, NR_PROD_INDEX, NR_CONS_INDEX, NR_PROD_CURSOR, NR_CONS_CURSOR,
  NR_SLOTS, NR_HEADER_SIZE, nativeRingBytes, nativeRingInit,
} from './ring/native';

import { produceReserve, produceCommit, consumePeek, consumeRelease } from './ring/cursor';
import { hdrMsgSize } from './header';

/** Non-inlined entry points of the cursor operations, for TS tests of the AS view. */
export function ringReserve(cur: usize): usize { return produceReserve(cur); }
export function ringCommit(cur: usize): void { produceCommit(cur); }
export function ringPeek(cur: usize): usize { return consumePeek(cur); }
export function ringRelease(cur: usize): void { consumeRelease(cur); }

/** Where the module's own statics end; TypeScript places shared regions above it. */
export function heapBase(): usize { return __heap_base; }

/** Header size field read with the one-word header load (used by the AS-vs-TS tests). */
export function frameSize(frame: usize): u32 { return hdrMsgSize(load<u64>(frame)); }

export * from './router/layout';
export { routeSome, serviceParked } from './router/route';
export { addSource, removeSource, addDevice, removeDevice, emitDeviceEvent, expire, failAll, pendingWork } from './router/control';
