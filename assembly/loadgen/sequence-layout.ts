// The sequence engine's memory (assembly/loadgen/sequence.ts): the profile load tool's per-frame
// work. Written down here once; TypeScript reads it through the generated descriptor
// (src/loadgen/engine-layout.ts). Times are f64 milliseconds on the `now` import's clock, counters
// u64 unless said otherwise.

// ---- state block (LGS_*)
export const LGS_TX: u32 = 0; //            u32 producer cursor (driver → device ring)
export const LGS_RX: u32 = 4; //            u32 consumer cursor (device → driver ring)
export const LGS_DEVS: u32 = 8; //          u32 address of NDEV device records (LGD_*)
export const LGS_NDEV: u32 = 12; //         u32
export const LGS_BUS: u32 = 16; //          u32 address of the bus messages' track (LGT_*): PING, GET_DEVICES
export const LGS_DEVMAP: u32 = 20; //       u32 address of u16[LGS_DEVMAP_N]: dev_num → record index + 1 (0: not driven)
export const LGS_OUTSTANDING: u32 = 24; //  u32 operations in flight per device at most
export const LGS_OPEN: u32 = 28; //         u32 1: open loop (sends due every LGS_PERIOD from LGS_NEXT_DUE)
export const LGS_SPINS: u32 = 32; //        u32 empty passes before lgSeqRun reports LG_IDLE
export const LGS_FLAGS: u32 = 36; //        u32 LGF_* (LGF_RETURN_ON_SEND)
export const LGS_LOG: u32 = 40; //          u32 address of the event log (LGS_LOG_CAP records of LGL_SIZE)
export const LGS_LOG_CAP: u32 = 44; //      u32
export const LGS_LOG_N: u32 = 48; //        u32 records written (the caller reads them and sets 0)
export const LGS_RR: u32 = 52; //           u32 open loop: the device to try first
export const LGS_HIST_OP: u32 = 56; //      u32 address of LG_OPS histograms, one per message kind
export const LGS_HIST_INTERVAL: u32 = 60; // u32 address of the current timeline interval's histogram
export const LGS_HIST_SEQ: u32 = 64; //     u32 address of the whole-sequence histogram (0: not an init profile)
export const LGS_QUEUE_BLOCKED: u32 = 68; // u32 1 while a queue-full episode lasts
export const LGS_WINDOW_BLOCKED: u32 = 72; // u32 1 while an open-loop window-full episode lasts
export const LGS_STOP: u32 = 76; //         u32 1: send nothing more (abort), collect what is in flight
export const LGS_STALL_OPEN: u32 = 80; //   u32 1: a stall began at LGS_STALL_SINCE and has not ended
export const LGS_MAX_SIZE: u32 = 84; //     u32 largest frame the bus carries
export const LGS_MEASURE_AT: u32 = 88; //   f64 operations intended from then on are measured
export const LGS_STOP_AT: u32 = 96; //      f64 duration runs: nothing intended from then on is sent
export const LGS_PERIOD: u32 = 104; //      f64 open loop: ms between operations
export const LGS_NEXT_DUE: u32 = 112; //    f64 open loop: intended time of the next operation
export const LGS_TIMEOUT_MS: u32 = 120; //  f64 unanswered this long: a timeout
export const LGS_STALL_MS: u32 = 128; //    f64 no answer this long with operations in flight: a stall
export const LGS_LAST_COMPLETION: u32 = 136; // f64
export const LGS_STALL_SINCE: u32 = 144; // f64
export const LGS_LAST_EXPIRE: u32 = 152; // f64
export const LGS_LAST_MEASURED: u32 = 160; // f64 the last measured completion
export const LGS_LAST: u32 = 168; //        f64 the last frame moved either way
export const LGS_COUNT: u32 = 176; //       u64 measured operations to send (count runs; else all ones)
export const LGS_MEASURED_ISSUED: u32 = 184; // u64
export const LGS_SENT: u32 = 192; //        u64 frames sent (keep-alive answers included)
export const LGS_RECEIVED: u32 = 200; //    u64 frames received
export const LGS_COMPLETED: u32 = 208; //   u64 measured operations answered well
export const LGS_IN_FLIGHT: u32 = 216; //   u64 operations in flight over all devices
export const LGS_INTERVAL_OPS: u32 = 224; // u64 completions in the current timeline interval
// The result's counters, in the result's order (src/loadgen/result.ts LoadCounters).
export const LGS_COUNTERS: u32 = 232;
export const LGS_COUNTER_NAMES: u32 = 11; // generation_changes … other_frames
export const LGS_MAX_NS: u32 = 320; //      u64 largest latency recorded
export const LGS_DEVMAP_N: u32 = 328; //    u32 entries of LGS_DEVMAP (the largest dev_num driven + 1)
export const LGS_STATE_SIZE: u32 = 336;

// Counters, as indices from LGS_COUNTERS (8 bytes each).
export const LGC_GENERATION_CHANGES: u32 = 0;
export const LGC_SET_CONFIG_REJECTED: u32 = 1;
export const LGC_FEATURES_REFUSED: u32 = 2;
export const LGC_SEQUENCES_COMPLETED: u32 = 3;
export const LGC_EVENTS_USED: u32 = 4;
export const LGC_EXTRA_EVENTS: u32 = 5;
export const LGC_CONFIG_EVENTS: u32 = 6;
export const LGC_DEVICE_EVENTS: u32 = 7;
export const LGC_PINGS_ANSWERED: u32 = 8;
export const LGC_WINDOW_FULL: u32 = 9;
export const LGC_OTHER_FRAMES: u32 = 10;

// ---- a track (LGT_*): one ordering domain's operations, by sequence number (slot = seq & mask)
export const LGT_SLOTS: u32 = 0; //  u32 address of (mask + 1) entries of LGP_SIZE
export const LGT_MASK: u32 = 4; //   u32 slots − 1 (a power of two minus one, at most 32767: tokens, 1 + the low 15 bits, stay unique)
export const LGT_LO: u32 = 8; //     u64 oldest sequence number still in flight (= LGT_NEXT when none)
export const LGT_NEXT: u32 = 16; //  u64 next sequence number to send
export const LGT_SIZE: u32 = 24;

// ---- an operation in flight (LGP_*)
export const LGP_STATE: u32 = 0; //     u32 1 in flight, 0 ended
export const LGP_OWNER: u32 = 4; //     u32 device record index
export const LGP_EXPECT: u32 = 8; //    u32 PING data sent; EVENT_AVAIL virtqueue
export const LGP_LINK: u32 = 12; //     u32 EVENT_AVAIL: next slot + 1 on the same virtqueue (0: last)
export const LGP_TOKEN: u32 = 16; //    u32
export const LGP_TPL: u32 = 20; //      u32 address of its template (LGM_*)
export const LGP_INTENDED: u32 = 24; // f64 when it was due (latency counts from here)
export const LGP_SENT_AT: u32 = 32; //  f64
export const LGP_SEQ_START: u32 = 40; // f64 last step of an init sequence: when its first step was due
export const LGP_SIZE: u32 = 48;

// ---- a device record (LGD_*)
export const LGD_DEV: u32 = 0; //        u32 dev_num (0 for the bus-only pseudo-device)
export const LGD_IN_FLIGHT: u32 = 4; //  u32 its operations in flight (requests, notifications, bus messages)
export const LGD_TPLS: u32 = 8; //       u32 address of u32[NTPL]: template addresses, sent in turn
export const LGD_NTPL: u32 = 12; //      u32
export const LGD_POS: u32 = 16; //       u32 next template
export const LGD_GENERATION: u32 = 20; // u32 config generation last seen
export const LGD_GEN_KNOWN: u32 = 24; // u32
export const LGD_FILL: u32 = 28; //      u32 SET_CONFIG fill byte last written
export const LGD_REREAD: u32 = 32; //    u32 1: a write was rejected, read before the next write
export const LGD_PING: u32 = 36; //      u32 PING data last sent
export const LGD_QUEUES: u32 = 40; //    u32 virtqueues EVENT_AVAIL cycles through
export const LGD_FREEQ: u32 = 44; //     u32 address of u32[QUEUES]: queues with nothing in flight (FIFO)
export const LGD_FREEQ_HEAD: u32 = 48; // u32
export const LGD_FREEQ_N: u32 = 52; //   u32
export const LGD_NEXT_QUEUE: u32 = 56; // u32 when none is free: the next in turn
export const LGD_VQ: u32 = 60; //        u32 address of u32[QUEUES][2]: per queue, first and last slot + 1 in flight
export const LGD_HIST: u32 = 64; //      u32 address of its latency histogram
export const LGD_SEQ_HIST: u32 = 68; //  u32 address of its whole-sequence histogram (0: none)
export const LGD_REQ: u32 = 72; //       track of its requests (tokens, order)
export const LGD_AVAIL: u32 = 96; //     track of its EVENT_AVAIL notifications
export const LGD_SEQ_START: u32 = 120; // f64 when the current sequence's first step was due
export const LGD_ALT: u32 = 128; //      u32 config-rw: the GET_CONFIG template sent instead of a write after a rejection
export const LGD_SIZE: u32 = 136;

// ---- a template (LGM_*): one message of a device's cycle, frame built with token 0
export const LGM_OP: u32 = 0; //    u32 LG_OP_*
export const LGM_FLAGS: u32 = 4; // u32 LGMF_*
export const LGM_LEN: u32 = 8; //   u32 frame bytes
export const LGM_VALUE: u32 = 12; // u32 SET_DEVICE_STATUS status; SET_CONFIG length
export const LGM_FRAME: u32 = 16; // the frame
export const LGMF_SEQ_FIRST: u32 = 1;
export const LGMF_SEQ_LAST: u32 = 2;
/** config-rw: after a rejected write, this write becomes a read (LGD_ALT). */
export const LGMF_REREAD: u32 = 4;

// Message kinds: the order of src/loadgen/profiles.ts OP_NAMES (test/loadgen/sequence-engine.test.ts).
export const LG_OP_GET_DEVICE_INFO: u32 = 0;
export const LG_OP_GET_DEVICE_FEATURES: u32 = 1;
export const LG_OP_SET_DRIVER_FEATURES: u32 = 2;
export const LG_OP_GET_CONFIG: u32 = 3;
export const LG_OP_SET_CONFIG: u32 = 4;
export const LG_OP_GET_DEVICE_STATUS: u32 = 5;
export const LG_OP_SET_DEVICE_STATUS: u32 = 6;
export const LG_OP_GET_VQUEUE: u32 = 7;
export const LG_OP_SET_VQUEUE: u32 = 8;
export const LG_OP_GET_SHM: u32 = 9;
export const LG_OP_EVENT_AVAIL: u32 = 10;
export const LG_OP_PING: u32 = 11;
export const LG_OP_GET_DEVICES: u32 = 12;
export const LG_OPS: u32 = 13;

// ---- event log record (LGL_*): what JavaScript turns into the result's listed events
export const LGL_KIND: u32 = 0; //  u32 LGK_*
export const LGL_DEV: u32 = 4; //   u32
export const LGL_TOKEN: u32 = 8; // u32
export const LGL_ID: u32 = 12; //   u32 msg_id received (or LG_OP_* for timeouts)
export const LGL_A: u32 = 16; //    u32 kind-specific
export const LGL_B: u32 = 20; //    u32
export const LGL_C: u32 = 24; //    u32
export const LGL_BUS: u32 = 28; //  u32 1: a bus message
export const LGL_T: u32 = 32; //    f64 when
export const LGL_T2: u32 = 40; //   f64 kind-specific (a stall's length)
export const LGL_SIZE: u32 = 48;
/** Records a pass may add at most before the engine stops to let the log be read. */
export const LGL_MARGIN: u32 = 4;

export const LGK_MALFORMED: u32 = 1; //       A msg_size, B slot bytes
export const LGK_BUS_DEV_NUM: u32 = 2; //     ID, DEV
export const LGK_UNEXPECTED: u32 = 3; //      BUS, DEV, ID, TOKEN
export const LGK_ORDER: u32 = 4; //           BUS, DEV, TOKEN
export const LGK_ID_MISMATCH: u32 = 5; //     A op, TOKEN, DEV, ID
export const LGK_TRANSPORT_FAILURE: u32 = 6; // ID failed msg_id, DEV, TOKEN, A reason
export const LGK_PING_ECHO: u32 = 7; //       A bytes (< 12) or 0, B echoed, C sent
export const LGK_GET_DEVICES: u32 = 8; //     A which rule (LGW_*), B, C values, TOKEN
export const LGK_TIMEOUT: u32 = 9; //         A op, BUS, DEV, TOKEN
export const LGK_TIMEOUT_AVAIL: u32 = 10; //  DEV, A virtqueue
export const LGK_QUEUE_FULL: u32 = 11;
export const LGK_STALL: u32 = 12; //          T since, T2 length

// GET_DEVICES window rules (docs/PROTOCOL.md §6), LGK_GET_DEVICES's A.
export const LGW_SHORT: u32 = 1; //  B bytes
export const LGW_OFFSET: u32 = 2; // B offset
export const LGW_COUNT: u32 = 3; //  B count
export const LGW_SIZE: u32 = 4; //   B bytes, C count
export const LGW_NEXT: u32 = 5; //   B next_offset

/** lgSeqRun: the log is nearly full; read it and call again. */
export const LG_LOG_FULL: u32 = 4;
