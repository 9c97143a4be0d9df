// The load engine's state block (assembly/loadgen/driver.ts): what `vmsg bench` sets up from
// TypeScript and reads back for its reports. TS twin: src/loadgen/engine-layout.ts (names and
// values compared by test/layout/loadgen.test.ts). Counters are u64, times f64 milliseconds
// on the clock the `now` import gives (performance.now()).

export const LG_MODE: u32 = 0; //        u32 LG_MODE_*
export const LG_DEV: u32 = 4; //         u32 device number driven (init, avail)
export const LG_TX: u32 = 8; //          u32 address of the producer cursor (driver → device ring)
export const LG_RX: u32 = 12; //         u32 address of the consumer cursor (device → driver ring)
export const LG_OUTSTANDING: u32 = 16; // u32 frames in flight at most (FIFO capacity)
export const LG_FIFO: u32 = 20; //       u32 address of the in-flight FIFO (LG_OUTSTANDING × LG_ENTRY_SIZE)
export const LG_HIST: u32 = 24; //       u32 address of the latency histogram (HIST_BUCKETS × u64)
export const LG_FIFO_HEAD: u32 = 28; //  u32 oldest entry
export const LG_FIFO_N: u32 = 32; //     u32 entries in flight
export const LG_SPINS: u32 = 36; //      u32 empty polls before lgRun reports LG_IDLE
export const LG_FLAGS: u32 = 40; //      u32 LGF_*
export const LG_COUNT: u32 = 48; //      u64 frames to send (lowered to LG_SENT when sending stops)
export const LG_SENT: u32 = 56; //       u64
export const LG_RECEIVED: u32 = 64; //   u64 answers matched to a frame in flight
export const LG_ERRORS: u32 = 72; //     u64 answers that belong to no frame in flight, or carry a wrong id / dev_num
export const LG_ORDER: u32 = 80; //      u64 answers that overtook an older frame (per-device order)
export const LG_PINGS: u32 = 88; //      u64 keep-alive PINGs of the other side answered
export const LG_STOP_AT: u32 = 96; //    f64 stop sending at this time (Infinity: at LG_COUNT)
export const LG_LAST: u32 = 104; //      f64 time of the last frame moved (either way)
export const LG_MAX_NS: u32 = 112; //    u64 largest latency recorded, ns
export const LG_TEMPLATES: u32 = 128; // LG_INIT_STEPS frames of LG_TEMPLATE_SIZE: the init sequence
export const LG_TEMPLATE_SIZE: u32 = 64;
export const LG_INIT_STEPS: u32 = 10;
export const LG_STATE_SIZE: u32 = 768;

/** One frame in flight: what names its answer, its msg_id, when it went out. */
export const LGE_KEY: u32 = 0; //    u32 our token (init), the PING data (ping), the virtqueue (avail)
export const LGE_MSG_ID: u32 = 4; // u32
export const LGE_T0: u32 = 8; //     f64
export const LG_ENTRY_SIZE: u32 = 16;

export const LG_MODE_INIT: u32 = 0;
export const LG_MODE_PING: u32 = 1;
export const LG_MODE_AVAIL: u32 = 2;

/** Return LG_SENT after every pass that published frames (the caller rings the doorbell socket). */
export const LGF_RETURN_ON_SEND: u32 = 1;

// lgRun results.
export const LG_DONE: u32 = 0; //   everything sent and answered
export const LG_IDLE: u32 = 1; //   LG_SPINS polls found nothing to do
export const LG_BUDGET: u32 = 2; // the pass budget ran out while there was work
export const LG_SENT_NOW: u32 = 3; // frames were published (LGF_RETURN_ON_SEND)

// Latency histogram: exact below 128 ns, then 64 sub-buckets per power of two (≤ 1.6 % wide).
export const HIST_LINEAR: u32 = 128;
export const HIST_SUB_BITS: u32 = 6;
export const HIST_BUCKETS: u32 = 128 + (64 - 7) * 64;
