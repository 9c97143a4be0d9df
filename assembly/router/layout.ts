// Memory layout of the router's shared tables (docs/ARCHITECTURE.md "Router tables").
// Every offset of these structs lives here; src/router/layout.ts is the TS twin and
// test/layout/router.test.ts checks that both agree. All structs sit in the shared
// WebAssembly.Memory; "owner" says which thread may write a field.

// ---------------------------------------------------------------- router config (one, 128 B)
// Written by the control plane before shards start; read-only for shards afterwards.
export const RC_MAGIC_VALUE: u32 = 0x52544d56; // "VMTR"
// Layout version of every table in this file: bump it with any change of an offset or a size
// here, so a shard never binds to tables laid out by another build (src/router/layout.ts).
export const RC_VERSION_VALUE: u32 = 12;
export const RC_MAGIC: u32 = 0; //          u32 RC_MAGIC_VALUE, stored last
export const RC_VERSION: u32 = 4; //        u32 RC_VERSION_VALUE
export const RC_NUM_SHARDS: u32 = 8; //     u32
export const RC_MAX_ENDPOINTS: u32 = 12; // u32 entries in the endpoint table
export const RC_DEV_TABLE: u32 = 16; //     u32 address: 65536 × u32 device-state address (0 = not validated)
export const RC_PRESENT_MAP: u32 = 20; //   u32 address: 8 KiB bitmap, bit d = device d present (GET_DEVICES)
export const RC_ENDPOINTS: u32 = 24; //     u32 address of the endpoint table
export const RC_TIMEOUT_MS: u32 = 28; //    u32 request deadline
export const RC_BUS_MAX: u32 = 32; //       u32 largest frame the router carries (<= pool frame size)
export const RC_STATS_STRIDE: u32 = 36; //  u32 bytes of counters per endpoint per shard
export const RC_SIZE: u32 = 128;

// ---------------------------------------------------------------- park queue (20 B, embedded)
// A FIFO of pool slots (linked by PS_NEXT) held back behind something full, and membership in
// one of the shard's "needs service" lists (SH_DEV_LIST, SH_OUT_LIST), which link the queues
// themselves. Device states embed one at DS_PARK, outputs at OUT_PARK (assembly/router/parked.ts).
export const PQ_HEAD: u32 = 0; //      u32 pool slot of the oldest parked frame
export const PQ_TAIL: u32 = 4; //      u32 pool slot of the newest
export const PQ_COUNT: u32 = 8; //     u32 frames parked
export const PQ_LIST_NEXT: u32 = 12; // u32 next queue on the same shard list
export const PQ_LISTED: u32 = 16; //   u32 1 while on the list
export const PQ_SIZE: u32 = 20;

// ---------------------------------------------------------------- device state (one per attached device, 320 B)
// Owner: the shard that owns the device (DS_SHARD). The control plane writes it before
// publishing its address in the device table and after the owner has let go of it.
export const DS_DEV_NUM: u32 = 0; //     u16
export const DS_ENDPOINT: u32 = 2; //    u16 device endpoint that serves it
export const DS_SHARD: u32 = 4; //       u16 owning shard
export const DS_FLAGS: u32 = 6; //       u16 DSF_*
export const DS_BOUND_DRIVER: u32 = 8; // u16 endpoint of the driver that last sent it a request (+1; 0 = none)
export const DS_BUS_NUM: u32 = 10; //    u16 its number on its own link's bus (= DS_DEV_NUM unless the link remaps); forwarded frames carry it
export const DS_WINDOW: u32 = 12; //     u32 K: outstanding requests at most (power of two)
export const DS_ENTRIES: u32 = 16; //    u32 address of K × CE_SIZE correlation entries
export const DS_BASE_SEQ: u32 = 20; //   u32 DS_NEXT_SEQ when the state was made: tokens of earlier sequences were never issued by it
export const DS_HIST: u32 = 24; //       u32 address of the outcome history bitmap ("Outcome history" below)
export const DS_PARK: u32 = 28; //       PQ_SIZE bytes: frames parked for this device (window or ring full); list SH_DEV_LIST
export const DS_PARK_HEAD: u32 = DS_PARK + PQ_HEAD;
export const DS_PARK_TAIL: u32 = DS_PARK + PQ_TAIL;
export const DS_PARK_COUNT: u32 = DS_PARK + PQ_COUNT;
export const DS_LIST_NEXT: u32 = DS_PARK + PQ_LIST_NEXT;
export const DS_LISTED: u32 = DS_PARK + PQ_LISTED;
export const DS_PARK_REFUSALS: u32 = 48; // u32 refusal records (PSK_REFUSAL) among the DS_PARK_COUNT parked: they keep a refused
//                                            request's place in the order, are no work for the device, and have a bound of their own
// The device endpoint's producer cursor (its EP_OUT's OUT_CURSOR), copied here when the state is
// made, so a request reaches the device's ring in two dependent loads, not four. Right for the
// state's whole life: DS_ENDPOINT never changes, and an endpoint's cursor changes only when its
// id is attached again, after every device state naming it was removed (DSF_REMOVING). So a
// removed state (tombstone) may hold a stale one: read it only after the DSF_REMOVING test.
export const DS_OUT_CURSOR: u32 = 52; // u32
// The output cursor of driver DS_BOUND_DRIVER - 1, written with it (each forwarded request), so an
// answer to that driver reaches its ring without the entry -> driver -> OUT_CURSOR chain. Right
// while DS_BOUND_DRIVER names the driver: a detaching driver is unbound from every device
// (forgetDriver) before its id can be attached again with another cursor.
export const DS_BOUND_CURSOR: u32 = 56; // u32
// Counters (u64), owner shard only.
export const DS_C_COALESCED: u32 = 64; //  EVENT_AVAIL merged into one its driver already queued for the same virtqueue
//                                   72: 8 bytes free (DS_C_RESPONSES moved next to DS_HEAD_SEQ)
export const DS_C_FAILED: u32 = 80; //     requests ended by a transport failure (timeout, removal)
export const DS_C_EVENTS_IN: u32 = 88; //  events forwarded to the device (EVENT_AVAIL, impl-defined)
export const DS_C_EVENTS_OUT: u32 = 96; // events forwarded from the device to its driver
export const DS_C_HELD: u32 = 104; //      responses that arrived early and waited for order
export const DS_C_PARKED: u32 = 112; //    frames parked because the window or the ring was full
export const DS_C_TIMEOUTS: u32 = 120; //  subset of FAILED: deadline passed
// What opening a correlation entry advances, in 16 aligned bytes: one 16-byte read-modify-write
// per forwarded request takes the sequence and the token and counts the request
// (assembly/router/correlate.ts openEntry). Each field is still written whole (the u64 half of
// the store is an exact total for the stats reader, as EC_TX's).
export const DS_NEXT_TOKEN: u32 = 128; // u32 token of the next entry: 1..65535, then 1 again (0 is the events' token)
export const DS_NEXT_SEQ: u32 = 132; //   u32 sequence of the next correlation entry (+1 each; entry = seq & (K - 1))
export const DS_C_REQUESTS: u32 = 136; // u64 counter: requests forwarded to the device (refusals take an entry, not counted)
// Outcome history (docs/ARCHITECTURE.md "One labelling rule"): a bitmap of DS_HIST_BITS bits after
// the correlation entries, bit (seq & (bits - 1)) set when that sequence closes without an answer
// (failure, refusal; rare). Answered sequences write nothing: the bits half a bitmap ahead of the
// head are cleared, 32 at a time, as the head passes each multiple of 32, so a bit always speaks
// of the latest sequence of its index. Labels an answer that comes after its entry closed —
// LATE_RESPONSE or DUPLICATE_RESPONSE — for the last bits/2 - 32 sequences, even once reused.
// What an answer delivered in order advances, in 16 aligned bytes: the head and the responses
// count in one 16-byte read-modify-write (correlate.ts headDelivered), which writes DS_HIST_BITS
// back as it read it (set when the state is made, never changed after).
export const DS_HEAD_SEQ: u32 = 144; //    u32 oldest sequence whose outcome its driver has not been handed yet
export const DS_HIST_BITS: u32 = 148; //   u32 the history's size in bits: max(2048, 2 × K), a power of two
export const DS_C_RESPONSES: u32 = 152; // u64 counter: responses delivered towards drivers
// Request latency (owner shard only): every answered request, when its answer is handed to its
// driver, in bucket b = bits of (delivery - forward) in µs of the router's clock (SH_NOW_US), i.e. under
// 2^b µs; the last bucket takes the rest. The control plane exports them as a histogram in seconds.
// The counts are u32 (104 B instead of 208 per device): they wrap, and the control plane widens
// them to exact 64-bit totals (src/router/latency-counts.ts) with DS_C_RESPONSES, their u64 sum.
export const DS_LAT_BUCKETS: u32 = 160; // DS_LAT_N × u32 counts: bucket b < 2^b µs (b < DS_LAT_N - 1), then the overflow
export const DS_LAT_N: u32 = 26; //        1 µs .. 2^24 µs (16.8 s) and +Inf
export const DS_LAT_SUM: u32 = 264; //     u64 sum of the request latencies, µs (DS_LAT_BUCKETS above)
export const DS_SIZE: u32 = 320;

export const DSF_PRESENT: u32 = 1;
export const DSF_REMOVING: u32 = 2; // removed: the state stays in the table as a tombstone (requests refused in order)

// ---------------------------------------------------------------- correlation entry (16 B, K per device)
export const CE_STATE: u32 = 0; //     u8 CES_*
export const CE_MSG_ID: u32 = 1; //    u8 msg_id of the request
export const CE_DRIVER: u32 = 2; //    u16 driver endpoint that sent it
export const CE_DRV_TOKEN: u32 = 4; // u16 token the driver used (restored in the response)
export const CE_TOKEN: u32 = 6; //     u16 token the router stamped (0: a refusal, never forwarded)
export const CE_DEADLINE: u32 = 8; //  u32 router clock (ms) after which the request fails
export const CE_HELD: u32 = 12; //     u32 pool slot holding an early response (CES_ANSWERED), reason (CES_FAILED, CES_REFUSED), µs clock when forwarded (CES_WAITING)
export const CE_SIZE: u32 = 16;

export const CES_FREE: u32 = 0;
export const CES_WAITING: u32 = 1; //  forwarded, no response yet
export const CES_ANSWERED: u32 = 2; // response held until the older ones are answered
export const CES_FAILED: u32 = 3; //   transport failure decided, not yet reported (order)
export const CES_DONE_ANSWERED: u32 = 4; // delivered; kept to recognise a duplicate response
export const CES_DONE_FAILED: u32 = 5; //   failure reported; kept to recognise a late response
export const CES_REFUSED: u32 = 6; //     refused by the router, never forwarded: its failure waits for the older outcomes

// ---------------------------------------------------------------- output (64 B): a ring the router produces into
// Owner: the shard that owns the endpoint (or, for cross-shard outputs, the sending shard).
export const OUT_CURSOR: u32 = 0; //     u32 address of the router's producer cursor
export const OUT_PARK: u32 = 4; //       PQ_SIZE bytes: frames parked behind the full ring; list SH_OUT_LIST
export const OUT_PARK_HEAD: u32 = OUT_PARK + PQ_HEAD;
export const OUT_PARK_TAIL: u32 = OUT_PARK + PQ_TAIL;
export const OUT_PARK_COUNT: u32 = OUT_PARK + PQ_COUNT;
export const OUT_LIST_NEXT: u32 = OUT_PARK + PQ_LIST_NEXT;
export const OUT_LISTED: u32 = OUT_PARK + PQ_LISTED;
export const OUT_TAGGED: u32 = 24; //    u32 1 = cross-shard ring: each slot starts with an 8-byte tag
export const OUT_STATS: u32 = 28; //     u32 address of the endpoint's counters in this shard (0 for cross-shard outputs)
export const OUT_BLOCKED_SINCE: u32 = 32; // u32 router clock | 1 when the ring was found full and its consumer had not moved since, 0 = not blocked
export const OUT_BLOCKED_PEER: u32 = 36; // u32 the consumer's index then: a consumer that moves is not stalled, whether or not the ring has room
export const OUT_DIRTY: u32 = 40; //     u32 1 while OUT_CURSOR is on the shard's "publish later" list (SH_DIRTY)
export const OUT_SIZE: u32 = 64;

// ---------------------------------------------------------------- endpoint (128 B)
// Written by the control plane while the endpoint is detached from every shard; the owning
// shard writes only its bookkeeping of the two cursors (EP_IN_DIRTY, EP_IN_CAPTURED, OUT_DIRTY),
// the embedded output's park fields and OUT_BLOCKED_SINCE.
export const EP_KIND: u32 = 0; //     u8 EPK_*
export const EP_SHARD: u32 = 1; //    u8 owning shard
export const EP_FLAGS: u32 = 2; //    u16 EPF_*
export const EP_MAX_MSG: u32 = 4; //  u16 largest frame this link accepts / may receive
export const EP_GEN: u32 = 6; //      u16 generation, bumped on every attach of the id (frames held for the id carry it: TAG_*)
export const EP_IN_CURSOR: u32 = 8; // u32 router's consumer cursor on the endpoint→router ring
export const EP_ALLOW: u32 = 12; //   u32 driver only: 8 KiB visibility bitmap (0 = sees every device)
export const EP_BUS_DEVS: u32 = 16; // u32 device links with their own numbering (external buses): address of
//                                      u32[65536] device states by the link's device number; 0 = router numbers
export const EP_IN_DIRTY: u32 = 20; // u32 1 while EP_IN_CURSOR is on the shard's "publish later" list (SH_DIRTY)
export const EP_IN_CAPTURED: u32 = 24; // u32 1 + the slot of EP_IN_CURSOR's ring the capture tap last recorded, so a frame
//                                         held back (backpressure) and looked at again is recorded once; 0 once consumed
export const EP_OUT: u32 = 64; //     OUT_SIZE bytes: router→endpoint ring
export const EP_SIZE: u32 = 128;

export const EPK_FREE: u32 = 0;
export const EPK_DRIVER: u32 = 1;
export const EPK_DEVICE: u32 = 2;

export const EPF_FAILURE_EVENTS: u32 = 1; // send VMSG_EVT_REQUEST_FAILED to this driver
export const EPF_CLOSING: u32 = 2; //      detach in progress: consume nothing more

// ---------------------------------------------------------------- cross-shard credit entry (one per other shard)
export const XQ_WAIT: u32 = 0; //       PQ_SIZE bytes: frames from that shard for this shard's devices not yet accepted, in order (pool slots of the reserve)
export const XQ_SENT: u32 = 20; //      u32 frames towards devices this shard sent that shard (written by this shard)
export const XQ_DONE: u32 = 24; //      u32 frames towards devices from that shard this shard accepted (written by this shard, read by that one)
export const XQ_PEER_DONE: u32 = 28; // u32 address of that shard's XQ_DONE for frames from this shard
export const XQ_PEER_SENT: u32 = 32; // u32 address of that shard's XQ_SENT for frames towards this shard (read when it may sleep out of credit)
export const XQ_SIZE: u32 = 36;

// ---------------------------------------------------------------- shard state (4 KiB)
// Owner: the shard thread (SH_NOW, SH_NOW_US and SH_NOW_WALL from its TS loop), except SH_CAPTURE, set by
// the control plane, and SH_BELL, which producers clear when they wake the shard.
export const SH_ID: u32 = 0; //            u32
export const SH_CONFIG: u32 = 4; //        u32 address of the router config
export const SH_NUM_SOURCES: u32 = 8; //   u32 endpoints this shard reads
export const SH_SOURCES: u32 = 12; //      u32 address of u32[max endpoints] endpoint ids this shard reads
export const SH_RR: u32 = 16; //           u32 round-robin position among sources
export const SH_POOL: u32 = 20; //         u32 address of the frame pool slots
export const SH_POOL_SLOTS: u32 = 24; //   u32 number of pool slots
export const SH_POOL_STRIDE: u32 = 28; //  u32 bytes per pool slot (PS_FRAME + largest frame, 8-aligned)
export const SH_POOL_FREE: u32 = 32; //    u32 address of the free-slot stack (u32 each)
export const SH_POOL_TOP: u32 = 36; //     u32 free slots on the stack
export const SH_DEV_LIST: u32 = 40; //     u32 first device park queue (ds + DS_PARK) with frames parked
export const SH_OUT_LIST: u32 = 44; //     u32 first output park queue (out + OUT_PARK) with frames parked
export const SH_NOW: u32 = 48; //          u32 router clock in ms, written by the shard's TS loop
export const SH_CTRL_OUT: u32 = 52; //     u32 address of the tagged output (OUT_*) to the control plane: bus messages the router does not terminate; 0 = drop them
export const SH_XS_OUT: u32 = 56; //       u32 address of NUM_SHARDS × OUT_SIZE outputs to the other shards
export const SH_XS_IN: u32 = 60; //        u32 address of NUM_SHARDS × u32 consumer cursors from the other shards
export const SH_STATS: u32 = 64; //        u32 address of this shard's endpoint counters
export const SH_PARK_LIMIT: u32 = 68; //   u32 frames parked per device (beyond: DEVICE_BUSY), per endpoint output (beyond: source
//                                            held back; ENDPOINT_STALLED once it drained nothing for a timeout), per cross-shard output
export const SH_SOURCE_BUDGET: u32 = 72; // u32 frames taken from one source before moving on (fairness)
export const SH_DEVICES: u32 = 76; //      u32 address of u32[65536] device states this shard owns
export const SH_NUM_DEVICES: u32 = 80; //  u32
export const SH_DIRTY: u32 = 84; //        u32 address of DL_SIZE entries: cursors with unpublished steps (markDirty)
export const SH_DIRTY_N: u32 = 88; //      u32
export const SH_NUM_SHARDS: u32 = 92; //   u32 (copy of the config's, read on every cross-shard step)
export const SH_BOUNDED: u32 = 96; //      u32 1 while taking frames from this shard's own endpoint rings: frames parked towards another shard are then bounded (crossShardRoom)
export const SH_CAPTURE: u32 = 100; //     u32 address of the capture ring's producer cursor (0 = not capturing); control plane writes
export const SH_NOW_WALL: u32 = 104; //    f64 wall clock in ms (µs resolution), written by the shard's TS loop while capturing
export const SH_NOW_US: u32 = 112; //     u32 router clock in µs (wraps: differences only), written with SH_NOW: request latency (DS_LAT_*)
// Cross-shard credit (./xs-credit.ts): a shard sends a driver's frame to another shard's device
// only while fewer than SH_XS_CREDIT of its frames there are unaccepted (in the ring or in the
// receiver's waiting queue), and keeps that many pool slots per other shard for its own waiting queues.
export const SH_XS_WAIT: u32 = 116; //     u32 address of NUM_SHARDS × XQ_SIZE credit entries, one per other shard
export const SH_XS_CREDIT: u32 = 120; //   u32 frames towards devices one shard may have unaccepted at another (>= 1)
export const SH_POOL_RESERVE: u32 = 124; // u32 pool slots only waiting queues may take: SH_XS_CREDIT × (shards - 1) minus those they hold
export const SH_BELL: u32 = 128; //        i32 doorbell this shard sleeps on (own cache line)
export const SH_BELL_FD: u32 = 132; //     i32 eventfd of a shard asleep in poll(2): at SH_BELL + DOORBELL_POLL_FD (ring/cursor.ts)
export const SH_SCRATCH: u32 = 512; //     64 bytes where small router-generated frames are built
export const SH_TEMP: u32 = 576; //        u32 reserved (was matchResponse's out-parameter)
// The walk of one endpoint ring in progress (drainEndpoint), so a shard restarted in the middle
// of it neither takes its routed frames again nor loses their count (recoverWalk):
export const SH_WALK_CUR: u32 = 584; //    u32 consumer cursor being walked (0 = none)
export const SH_WALK_EP: u32 = 588; //     u32 its endpoint
export const SH_WALK_N: u32 = 592; //      u32 frames routed so far in this walk
export const SH_WALK_USED: u32 = 596; //   u32 ring units they took (packed rings; else = SH_WALK_N)
// Fault injection (only the test build reads them, assembly/router/faults.ts):
export const SH_FAULT: u32 = 600; //       u32 armed point (low 8 bits) and countdown of hits to let pass (bits 8-31); control plane writes
export const SH_FAULT_FIRED: u32 = 604; // u32 the point that trapped last
export const SH_CAPTURE_DIRTY: u32 = 608; // u32 1 while the capture cursor (SH_CAPTURE) is on the "publish later" list
export const SH_C_LOOPS: u32 = 192; //     u64 routeSome calls
export const SH_C_FRAMES: u32 = 200; //    u64 frames taken from any source
export const SH_C_STALLS: u32 = 208; //    u64 times a source was held back (backpressure)
export const SH_C_XS_SENT: u32 = 216; //   u64 frames handed to other shards
export const SH_C_CTRL: u32 = 224; //      u64 frames handed to the control plane
export const SH_C_POOL_EMPTY: u32 = 232; // u64 times the pool had no free slot
export const SH_C_CAPTURED: u32 = 240; //  u64 capture records written
export const SH_C_CAPTURE_LOST: u32 = 248; // u64 capture records lost (capture ring full: capture never holds routing back)
export const SH_SIZE: u32 = 4096;

// ---------------------------------------------------------------- "publish later" entry (SH_DIRTY)
// A cursor the shard stepped without publishing, and the word that says it is listed (OUT_DIRTY,
// EP_IN_DIRTY, SH_CAPTURE_DIRTY: the router's bookkeeping lives in its tables, not in the cursor).
export const DL_CURSOR: u32 = 0; // u32 the cursor
export const DL_FLAG: u32 = 4; //   u32 address of its flag, cleared when it is published
export const DL_SIZE: u32 = 8;

// ---------------------------------------------------------------- capture record (one ring slot)
// Every frame crossing an endpoint link, as the router saw it (src/capture/ reads these).
export const CAP_TIME: u32 = 0; //   f64 wall clock, ms since 1970 (µs resolution)
export const CAP_EP: u32 = 8; //     u16 endpoint id (the link)
export const CAP_DIR: u32 = 10; //   u8 CAPD_*
export const CAP_FLAGS: u32 = 11; // u8 0 (reserved)
export const CAP_LEN: u32 = 12; //   u16 frame bytes recorded (msg_size, clipped to the slot; malformed frames: the raw slot)
export const CAP_FRAME: u32 = 16; // the frame bytes
export const CAPD_TO_ROUTER: u32 = 0; //   taken from the endpoint's ring
export const CAPD_FROM_ROUTER: u32 = 1; // written to the endpoint's ring

// ---------------------------------------------------------------- pool slot
// A frame the router keeps for a while (parked behind a full ring / window, or held for order).
export const PS_NEXT: u32 = 0; //  u32 next slot in the same list
export const PS_AUX: u32 = 4; //   u16 driver endpoint (device-bound frames) or destination endpoint (tagged outputs)
export const PS_KIND: u32 = 6; //  u16 tag: kind (TAG_KIND bits: XS_* on cross-shard outputs, PSK_* in device queues) | generation of the PS_AUX endpoint
export const PS_FRAME: u32 = 8; // the frame, msg_size bytes
export const PS_SENT_US: u32 = 4; // u32 early response held for order (CE_HELD): its request's CE_HELD, the µs clock when forwarded (in place of PS_AUX/PS_KIND)
export const PSK_EVENT: u32 = 0; //   device queue: an event from driver PS_AUX
export const PSK_REQUEST: u32 = 1; // device queue: a request from driver PS_AUX
export const PSK_REFUSAL: u32 = 2; // device queue: a request from driver PS_AUX the router refused (reason u32 at PS_FRAME + 8), waiting for its turn

// A frame the router holds for an endpoint id — parked in a device queue, parked towards another
// shard, in a cross-shard ring — carries the id's EP_GEN as it was then: endpoint ids are reused
// after a detach, and a frame of the old owner must never reach or speak for the new one.
export const TAG_KIND: u32 = 3; //  low bits: the kind
export const TAG_GEN_SHIFT: u32 = 2; // the rest: EP_GEN's low 14 bits

// ---------------------------------------------------------------- cross-shard tag (8 B before the frame)
export const XT_KIND: u32 = 0; // u16 tag: XS_* | generation of the XT_EP endpoint (TAG_*)
export const XT_EP: u32 = 2; //   u16 source driver (XS_TO_DEVICE) or destination endpoint (XS_TO_ENDPOINT)
export const XT_SIZE: u32 = 8;
export const XS_TO_DEVICE: u32 = 1; //   request/event from a driver on the sending shard
export const XS_TO_ENDPOINT: u32 = 2; // finished frame to write to an endpoint of the receiving shard

// ---------------------------------------------------------------- endpoint counters (u64 each)
// Per shard × endpoint: the shard that saw the frame counts it (so no counter has two writers).
export const EC_RX: u32 = 0; //          frames taken from the endpoint's ring
export const EC_TX: u32 = 1; //          frames written to the endpoint's ring
// EC_TX_BYTES right after EC_TX: both are added to per frame, in one 16-byte read-modify-write
// (countTx; a read-modify-write costs the routing step more than its instructions do).
export const EC_TX_BYTES: u32 = 2; //    bytes of the frames counted by EC_TX (msg_size)
export const EC_GENERATED: u32 = 3; //   frames the router generated for it (responses to bus requests, EVENT_DEVICE, failures)
export const EC_FAILURES: u32 = 4; //    transport failures reported to it
export const EC_STALLS: u32 = 5; //      times its ring was held back
export const EC_TO_CONTROL: u32 = 6; //  frames handed to the control plane
export const EC_TERMINATED: u32 = 7; //  bus frames the router consumed itself (GET_DEVICES, PING answered; a device link's request-failed reports)
// EC_RX_BYTES is stored once per batch with EC_RX, in the next cache line.
export const EC_RX_BYTES: u32 = 8; //    bytes of the frames counted by EC_RX (msg_size; a malformed frame: at most the buffer it came in)
export const EC_DROP_BASE: u32 = 16; //  + reason (src/protocol/reasons.ts numbering)
export const EC_COUNTERS: u32 = 64;

// ---------------------------------------------------------------- router-generated failure event
// Implementation-defined bus event (docs/PROTOCOL.md §4: 0xC0–0xFF): reports a request that ended in a
// transport failure instead of a response. 16 bytes:
//   hdr{type=0x02, msg_id=0xC1, dev_num=0, token=0, msg_size=16}
//   device_number u16 @8, msg_id u8 @10, reason u8 @11, token u16 @12 (the driver's), reserved u16 @14
export const VMSG_EVT_REQUEST_FAILED: u32 = 0xc1;
export const RF_DEVICE: u32 = 8;
export const RF_MSG_ID: u32 = 10;
export const RF_REASON: u32 = 11;
export const RF_TOKEN: u32 = 12;
export const RF_SIZE: u32 = 16;


// Reason numbers the hot path counts (same numbers as src/protocol/reasons.ts).
export const R_HDR_TRUNCATED: u32 = 1;
export const R_MSG_SIZE_LT_HEADER: u32 = 2;
export const R_MSG_SIZE_GT_BUFFER: u32 = 3;
export const R_MSG_SIZE_GT_BUS_MAX: u32 = 4;
export const R_UNSUPPORTED_MSG_ID: u32 = 6;
export const R_RESPONSE_TO_EVENT: u32 = 7;
export const R_WRONG_DIRECTION: u32 = 8;
export const R_BUS_DEV_NUM_NONZERO: u32 = 9;
export const R_UNVALIDATED_DEV_NUM: u32 = 10;
export const R_GET_DEVICES_ALIGNMENT: u32 = 11;
export const R_PAYLOAD_TRUNCATED: u32 = 15;
export const R_PAYLOAD_LENGTH_MISMATCH: u32 = 16;
export const R_MSG_SIZE_GT_LINK_MAX: u32 = 22; // frame larger than its destination link carries
export const R_SOURCE_GONE: u32 = 23; //        its driver detached while the frame was parked or between shards
export const R_DRIVER_STALLED: u32 = 24; //     its driver left a park limit of frames undrained for a whole timeout
export const R_UNMATCHED_RESPONSE: u32 = 32;
export const R_LATE_RESPONSE: u32 = 33;
export const R_RESPONSE_ID_MISMATCH: u32 = 34;
export const R_SPOOFED_DEV_NUM: u32 = 35;
export const R_NO_BOUND_DRIVER: u32 = 36;
export const R_UNSUPPORTED_BUS_MSG: u32 = 37;
export const R_DEVICE_REMOVED: u32 = 38;
export const R_POLICY_DENIED: u32 = 39;
export const R_TIMEOUT: u32 = 40;
export const R_DUPLICATE_RESPONSE: u32 = 43;
export const R_SHARD_RESTARTED: u32 = 44;
export const R_DEVICE_BUSY: u32 = 45; //       device's park queue full: request failed / event dropped at once
export const R_ENDPOINT_STALLED: u32 = 46; //  endpoint stopped draining its ring and its park queue is full
export const R_ROUTER_CLOSED: u32 = 47; //     the router closed before the request was answered
export const R_RING_CORRUPT: u32 = 41;
export const R_ENDPOINT_GONE: u32 = 42;
