// The block that describes one stream connection a router shard serves (src/router/stream-pumps.ts
// is the shard's side, src/bus/shard-bridge.ts the main thread's): field offsets, states and the
// kinds of the records the two hand each other. 128 bytes in the router's shared memory,
// written by the main thread before the shard sees it, except the state and the counters.
/** Block fields (byte offsets). */
export const P_FD = 0;
export const P_STATE = 4;
/** PS_ERROR: the errno; PS_SIZE_*: the msg_size. */
export const P_DETAIL = 8;
export const P_TO_ROUTER = 12;
export const P_FROM_ROUTER = 16;
export const P_MAX = 20;
export const P_FILTER = 24;
export const P_RX = 28;
export const P_RX_CAP = 32;
/** End of the bytes in the receive buffer (the main thread sets it to what it had read before the hand-over). */
export const P_RX_TAIL = 36;
export const P_TX = 40;
export const P_TX_CAP = 44;
export const P_TO_MAIN = 48;
export const P_TO_MAIN_CAP = 52;
export const P_FROM_MAIN = 56;
export const P_FROM_MAIN_CAP = 60;
/** The main thread's doorbell word (its Doorbell.sleepAsync): rung after a record for it or a state change. */
export const P_MAIN_BELL = 64;
/** Counters, u32, free-running (the main thread folds differences into the link's). */
export const P_FRAMES_IN = 80;
export const P_FRAMES_OUT = 84;
export const P_BYTES_IN = 88;
export const P_BYTES_OUT = 92;
export const P_WRITES = 96;
/**
 * The shard's positions in its buffers (start of the unframed bytes; start and end of the unsent
 * ones), kept here rather than in the shard's thread so that a restarted shard worker goes on
 * where the last one stopped.
 */
export const P_RX_HEAD = 100;
export const P_TX_HEAD = 104;
export const P_TX_TAIL = 108;
export const PUMP_BLOCK_BYTES = 128;

/** P_STATE: serving. */
export const PS_OPEN = 0;
/** The far end closed the connection. */
export const PS_EOF = 1;
/** A read or write failed (errno in P_DETAIL). */
export const PS_ERROR = 2;
/** A msg_size below the header (P_DETAIL): the stream cannot resync. */
export const PS_SIZE_LT_HEADER = 3;
/** A msg_size above the link's maximum (P_DETAIL). */
export const PS_SIZE_GT_MAX = 4;

/** Record kinds, shard → main: a frame from the far end, a frame from the router (both not plain forwarding). */
export const K_FROM_PEER = 1;
export const K_FROM_ROUTER = 2;
/** Main → shard: frames to write to the socket (back to back); one frame to put into the endpoint ring. */
export const K_SEND = 3;
export const K_TO_ROUTER = 4;
