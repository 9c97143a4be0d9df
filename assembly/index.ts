// WASM entry: the hot path exports used by TypeScript (src/wasm/module.ts) and every layout
// constant, exported as globals: tools/gen-layout.mjs writes them into src/wasm/layout.ts, the
// only place TypeScript takes them from (test/layout/descriptor.test.ts).

export {
  HDR_SIZE, HDR_TYPE, HDR_MSG_ID, HDR_DEV_NUM, HDR_TOKEN, HDR_MSG_SIZE,
  TYPE_RESPONSE, TYPE_BUS, TYPE_RESERVED_MASK, MSG_ID_EVENT_BIT, MSG_ID_IMPL_BIT,
  T_GET_DEVICE_INFO, T_GET_SHM, T_EVENT_CONFIG, T_EVENT_AVAIL, T_EVENT_USED,
  B_GET_DEVICES, B_PING, B_EVENT_DEVICE,
} from './header';

export { EA_VQ_INDEX, EA_NEXT_OFFSET, EA_SIZE, ED_DEVICE, ED_STATE, ED_SIZE } from './payload';

export {
  CUR_SLOTS, CUR_PUB, CUR_PEER, CUR_CAP, CUR_STRIDE, CUR_LOCAL, CUR_CACHED, CUR_PENDING,
  CUR_BATCH, CUR_FLAGS, CUR_WAKE, CUR_FAULTS, CUR_MAX_UNITS, CUR_PEEK_UNITS, CUR_SIZE, CURF_IDX16, CURF_RELAXED, CURF_FREES, PACKED_UNIT,
  CURSOR_PRODUCER, CURSOR_CONSUMER, DOORBELL_AWAKE, DOORBELL_ASLEEP, DOORBELL_BUSY_POLL, DOORBELL_ASLEEP_POLL, DOORBELL_POLL_FD,
  cursorInit, cursorFlush, produceFreeHint, consumeAvailableHint,
} from './ring/cursor';

export {
  NR_MAGIC_VALUE, NR_VERSION_VALUE, NR_MAGIC, NR_VERSION, NR_FLAGS, NR_CAPACITY, NR_SLOT_SIZE,
  NR_CONS_BELL, NR_PROD_BELL, NR_FRAME_UNITS, NR_PROD_INDEX, NR_CONS_INDEX, NR_PROD_CURSOR, NR_CONS_CURSOR,
  NR_SLOTS, NR_HEADER_SIZE, NR_MIN_SLOT_SIZE, NR_SLOT_ALIGN, NR_BASE_ALIGN, nativeRingBytes, nativeRingInit,
} from './ring/native';

export {
  VMAMP_LAYOUT_MAGIC_VALUE, VMAMP_LAYOUT_VERSION_VALUE, VMAMP_FEATURE_MASKED_NOTIF, VMAMP_NUM_NOTIF_MAX,
  VMAMP_LAYOUT_MAGIC, VMAMP_LAYOUT_LENGTH, VMAMP_LAYOUT_VERSION, VMAMP_LAYOUT_FEATURES,
  VMAMP_LAYOUT_NUM_NOTIF, VMAMP_LAYOUT_NUM_VQ_NOTIF_PER_DEVICE, VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS,
  VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS, VMAMP_LAYOUT_RESERVED, VMAMP_LAYOUT_DEV_NOTIF_OFFSET,
  VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET, VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET, VMAMP_LAYOUT_DRV_NOTIF_OFFSET,
  VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET, VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, VMAMP_LAYOUT_SIZE,
  VMAMP_QH_MAGIC_VALUE, VMAMP_QH_MAGIC, VMAMP_QH_STATUS, VMAMP_QH_TAIL, VMAMP_QH_HEAD, VMAMP_QH_SIZE,
  VMAMP_QH_ALIGN, VMAMP_NOTIF_ALIGN, VMAMP_STATE_MASK, VMAMP_STATE_INIT, VMAMP_STATE_READY,
  VMAMP_STATE_RUN, VMAMP_STATE_SHUTDOWN, VMAMP_STATE_PEER_DEAD, VMAMP_FLAG_MASK, VMAMP_FLAG_DEBUGGABLE,
  VMAMP_DEV_QH_AT, VMAMP_DRV_QH_AT, VMAMP_ELEMENTS_AT, VMAMP_ELEMENT_SIZE, VMAMP_MAX_ELEMENTS,
  VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER,
  vmampElementCount, vmampDeviceInit, vmampCursorInit,
} from './ring/vmamp';

export {
  SPSC_HEAD, SPSC_TAIL, SPSC_SLOTS, SPSC_SLOT_SIZE, SPSC_CAPACITY_BIAS, SPSC_MIN_CAPACITY,
  spscCapacity, spscRegionBytes, spscInit, spscCursorInit,
} from './ring/spsc';

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
export { routeSome, serviceParked, recoverWalk } from './router/route';
export { parkedMovedTake } from './router/parked';
export { addSource, removeSource, forgetDriver, addDevice, removeDevice, emitDeviceEvent, emitFrame, expire, failAll, pendingWork } from './router/control';

export { echoSome } from './device/echo';

export {
  LG_MODE, LG_DEV, LG_TX, LG_RX, LG_OUTSTANDING, LG_FIFO, LG_HIST, LG_FIFO_HEAD, LG_FIFO_N, LG_SPINS, LG_FLAGS,
  LG_COUNT, LG_SENT, LG_RECEIVED, LG_ERRORS, LG_ORDER, LG_PINGS, LG_STOP_AT, LG_LAST, LG_MAX_NS, LG_TEMPLATES,
  LG_TEMPLATE_SIZE, LG_INIT_STEPS, LG_STATE_SIZE, LGE_KEY, LGE_MSG_ID, LGE_T0, LG_ENTRY_SIZE,
  LG_MODE_INIT, LG_MODE_PING, LG_MODE_AVAIL, LGF_RETURN_ON_SEND, LG_DONE, LG_IDLE, LG_BUDGET, LG_SENT_NOW,
  HIST_LINEAR, HIST_SUB_BITS, HIST_BUCKETS,
} from './loadgen/layout';
export { lgSetup, lgRun, lgClearHistogram } from './loadgen/driver';

export * from './loadgen/sequence-layout';
export { lgSeqRun, lgSeqClear } from './loadgen/sequence';
export { RTT_ERRORS, RTT_TOKEN, RTT_STATE_SIZE, rttRun } from './loadgen/round-trip';
export { CL_SENT, CL_RESPONSES, CL_ERRORS, CL_RR, CL_STATE_SIZE, CLD_NEXT, CLD_EXPECT, CLD_IN_FLIGHT, CLD_SIZE, clRun } from './loadgen/closed-loop';
