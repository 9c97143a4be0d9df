// One router shard: a long piscina task that loops until told to stop (one task per worker,
// idleTimeout Infinity). Routing runs in WASM over the shared memory; this loop only keeps
// the clock, runs control commands, expires deadlines and, when idle, does what its idle
// strategy says (src/wait/idle-strategy.ts: spin a bounded number of passes, then sleep on the
// shard's doorbell; a wake-up costs ~50 µs, a pass ~0.1 µs). With the doorbell addon the
// shard also serves its links' doorbell sockets both ways (src/router/socket-bells.ts): it
// rings them after publishing, and sleeps in poll(2) on them (src/wait/poll-doorbell.ts).
import { writeSync } from 'node:fs';
import { instantiate } from '../wasm/module.js';
import { checkRouterTables, routerLayout } from './layout.js';
import { runCommands, CB_ACK, CB_BEAT, CB_POLL_LINKS, CB_SOCKET_BELLS, CB_STATE, CB_STOP, CB_STREAM_PUMPS, CB_WALL_SKEW, SHARD_RUNNING, SHARD_STOPPED } from './control.js';
import { ringSocketBells, ShardSockets } from './socket-bells.js';
import { ShardPumps } from './stream-pumps.js';
import { ShardSocketSet } from './shard-socket-set.js';
import { tryBellAddon } from '../native/bell.js';
import { setAllowedCpus } from '../native/cpu-affinity.js';
import { installWallClockSkew, routerClock } from './clock.js';
import { NR_CONS_CURSOR } from '../ring/native.js';
import { Doorbell, DOORBELL_POLL_FD } from '../wait/doorbell.js';
import { PollDoorbell } from '../wait/poll-doorbell.js';
import { IDLE_SPUN, spinThenSleep } from '../wait/idle-strategy.js';
import { CpuSeek, SEEK_RELEASE_MS } from './cpu-seek.js';
import { BusyPollYield } from '../wait/busy-poll-yield.js';

export interface ShardTask {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  /** Address of this shard's state (SH_*). */
  shard: number;
  commandRing: number;
  controlBlock: number;
  /** Router clock origin (monotonicMs() at router creation): all shards share one clock. */
  originMs: number;
  spinBeforeSleep: number;
  /** Busy-poll link attached: empty passes after a frame before yielding the CPU between looks (RouterOptions.busyPollSpins). */
  busyPollSpins: number;
  /** Busy-poll link carrying frames: look for the CPU where this shard routes most (RouterOptions.busyPollSeek). */
  busyPollSeek: boolean;
  /** The CPU this shard runs on only (RouterOptions.shardCpus), -1: where the scheduler puts it. */
  cpu: number;
  /** On close, how long to wait for in-flight requests before failing them. */
  drainMs: number;
}

/** Frames routed per WASM call: large enough to amortise the call, small enough to keep the clock fresh. */
const ROUTE_BUDGET = 4096;
/** Longest sleep: deadlines are checked at least this often while idle. */
const MAX_SLEEP_MS = 5;
/**
 * Nap while a busy-poll external link is attached (its peer never rings our doorbell, so only
 * polling finds its frames): ~50 µs, the kernel's timer slack, keeps an idle shard's CPU use
 * low and adds at most about 0.1 ms to the first frame of a burst; frames that follow within
 * the spin phase see no nap at all.
 */
const POLL_NAP_MS = 0.05;
/**
 * While a busy-poll link is attached and a frame came within this long (router clock, ms),
 * look again at once instead of napping, yielding the CPU between looks (sched_yield): a
 * peer that waits for a core gets it, and a relay between two polling peers is not paced by
 * naps (two per round trip, ~0.1-0.2 ms each here). After that, naps again.
 */
const POLL_YIELD_MS = 2;

/** Passes between two reads of the links' doorbell sockets while the shard does not sleep (a power of two, >= 64). */
const SOCKET_DRAIN_PASSES = 1024;

export default function runShard(task: ShardTask): { frames: number } {
  const L = routerLayout();
  const wasm = instantiate(task.memory, task.module);
  const buf = task.memory.buffer;
  const i32 = new Int32Array(buf);
  const u32 = new Uint32Array(buf);
  const { shard, controlBlock: block, commandRing } = task;
  // Bind only to tables this build's hot path can read.
  checkRouterTables(u32, shard);
  // A predecessor that died in the middle of a ring walk: its routed frames leave the ring
  // before anything is routed again (none of them is taken twice).
  wasm.recoverWalk(shard);
  const nowAt = (shard + L.SH_NOW) >>> 2;
  const captureAt = (shard + L.SH_CAPTURE) >>> 2;
  const wallAt = (shard + L.SH_NOW_WALL) >>> 3;
  const f64 = new Float64Array(buf);
  const stopAt = (block + CB_STOP) >>> 2;
  const beatAt = (block + CB_BEAT) >>> 2;
  const pollLinksAt = (block + CB_POLL_LINKS) >>> 2;
  const socketBellsAt = (block + CB_SOCKET_BELLS) >>> 2;
  const pumpsAt = (block + CB_STREAM_PUMPS) >>> 2;
  const sockBell = tryBellAddon(); // null: links keep the main-thread bridge (src/bus/shm-link.ts)
  // A CPU of its own: the threads this shard wakes are then not placed on its CPU, where they
  // preempt it (docs/BENCHMARKS.md "pipeline"). A restarted shard pins itself again.
  // Router.create checked the CPU; should the kernel still refuse, say so at once (a warning
  // event would wait for a tick this loop never gives).
  if (task.cpu >= 0 && sockBell !== null && !setAllowedCpus([task.cpu])) {
    writeSync(2, `vmsg-router: shard could not be pinned to CPU ${task.cpu} (sched_setaffinity failed); running unpinned\n`);
  }
  const cmdCursor = commandRing + NR_CONS_CURSOR;
  // Monotonic, not Date.now(): a wall-clock jump must not expire or postpone deadlines.
  // Every reading also refreshes the µs clock request latencies are measured with (SH_NOW_US):
  // every 64 passes and after a sleep, like SH_NOW, so timing costs the hot path no clock reads.
  const clock = routerClock(task.originMs, { u32, at: (shard + L.SH_NOW_US) >>> 2 });
  installWallClockSkew(i32, (block + CB_WALL_SKEW) >>> 2);

  // Spin, then sleep; while a busy-poll external link is attached (its peer never rings this
  // doorbell), nap briefly and look again without a new spin phase.
  const idle = spinThenSleep(task.spinBeforeSleep, {
    sleepMs: MAX_SLEEP_MS,
    napMs: POLL_NAP_MS,
    napping: () => Atomics.load(u32, pollLinksAt) !== 0,
  });
  // With the doorbell addon the shard also reads its links' doorbell sockets and sleeps in
  // poll(2) on them (src/wait/poll-doorbell.ts): a peer's byte wakes this thread, not the main one.
  // It also serves the stream connections handed to it (src/router/stream-pumps.ts): their
  // sockets are in the same poll(2).
  const sockets = sockBell !== null ? new ShardSockets(u32, socketBellsAt) : null;
  const pumps = sockBell !== null ? new ShardPumps(buf, pumpsAt, wasm, sockBell) : null;
  const bell = sockBell !== null && sockets !== null && pumps !== null
    ? new PollDoorbell(buf as unknown as SharedArrayBuffer, shard + L.SH_BELL, sockBell, new ShardSocketSet(sockets, pumps))
    : new Doorbell(buf as unknown as SharedArrayBuffer, shard + L.SH_BELL);
  const pollBell = bell instanceof PollDoorbell ? bell : null;
  if (L.SH_BELL_FD !== L.SH_BELL + DOORBELL_POLL_FD) throw new Error('router layout: SH_BELL_FD must follow SH_BELL by DOORBELL_POLL_FD');
  // Busy-spin says so on the doorbell, so the rings into this shard may publish with plain
  // stores (src/wait/fence.ts). Otherwise make sure a busy-polling predecessor (a restarted
  // shard) did not leave that state behind.
  if (!(idle.busyPoll && bell.enterBusyPoll())) bell.leaveBusyPoll();
  u32[(block + CB_STATE) >>> 2] = SHARD_RUNNING;
  Atomics.notify(i32, (block + CB_ACK) >>> 2);
  let frames = 0;
  let iter = 0;
  let slept = false;
  let lastExpire = clock();
  let stopSince = 0;
  let lastPendingCheck = -1;
  let lastFrameMs = 0;
  // Spin before yielding on an empty pass while a busy-poll link is attached, when the pollers
  // outnumber the cores (src/wait/busy-poll-yield.ts); with 0 spins, yield on every one.
  const pollYield = sockBell !== null ? new BusyPollYield(sockBell, task.busyPollSpins) : null;
  // Which CPU to poll from, when the pollers outnumber the cores (src/router/cpu-seek.ts).
  const seek = sockBell !== null && task.busyPollSeek && task.cpu < 0 ? new CpuSeek(sockBell) : null;
  u32[nowAt] = lastExpire;
  // The last look after announcing sleep: route what arrived meanwhile, and wake for commands
  // and the stop flag too.
  const lastLook = (): boolean => {
    wasm.parkedMovedTake();
    const late = wasm.routeSome(shard, ROUTE_BUDGET);
    // Parked frames written now were published after the bell said asleep: a consumer freeing
    // room meanwhile may have judged by the index before them and not rung (CURF_FREES). Look
    // again, so a sleep starts with every index published before the bell.
    const unparked = wasm.parkedMovedTake();
    frames += late;
    const bells = u32[socketBellsAt]!;
    if (bells !== 0 && sockBell !== null) ringSocketBells(i32, u32, bells, sockBell);
    const pumped = pumps !== null && u32[pumpsAt] !== 0 ? pumps.service(false) : 0;
    return late !== 0 || unparked !== 0 || pumped !== 0 || wasm.ringPeek(cmdCursor) !== 0 || Atomics.load(i32, stopAt) !== 0;
  };
  try {
    for (;;) {
      // The clock every 64 passes (an idle pass is ~50 ns, so ~3 µs apart) and after every sleep:
      // reading it on every idle pass would double the time a spinning shard takes to notice a frame.
      if ((++iter & 63) === 0 || slept) {
        slept = false;
        const now = clock();
        u32[nowAt] = now;
        u32[beatAt] = (u32[beatAt]! + 1) >>> 0;
        if (now !== lastExpire) {
          wasm.expire(shard);
          lastExpire = now;
          // Once per clock tick, not per frame: where to poll from, while frames flow.
          if (seek !== null) {
            if (now - lastFrameMs < POLL_YIELD_MS && Atomics.load(u32, pollLinksAt) !== 0) seek.tick(now, frames);
            else if (now - lastFrameMs > SEEK_RELEASE_MS) seek.release();
          }
        }
        // Read the bytes of peers that ring while we spin (one poll(2) every SOCKET_DRAIN_PASSES
        // passes, none without sockets): a full socket would block or fail a peer's ring, and a
        // closed one is seen here too.
        if (pollBell !== null && (iter & (SOCKET_DRAIN_PASSES - 1)) === 0 && u32[socketBellsAt] !== 0) {
          pollBell.drain();
          sockets!.publishWakes(pollBell.socketWakes, pollBell.eventWakes);
        }
      }
      // Capture records carry a wall-clock time with µs resolution (a typed-array load when off).
      if (u32[captureAt] !== 0) f64[wallAt] = performance.timeOrigin + performance.now();
      if (wasm.ringPeek(cmdCursor) !== 0) runCommands(wasm, task.memory, shard, commandRing, block);
      let n = wasm.routeSome(shard, ROUTE_BUDGET);
      frames += n;
      // Doorbell sockets of our links whose peer we just published frames for (a plain load when none).
      const bells = u32[socketBellsAt]!;
      if (bells !== 0 && sockBell !== null) ringSocketBells(i32, u32, bells, sockBell);
      // Stream connections served here: socket bytes into their rings, their rings to the
      // sockets (a plain load when none); every 64 passes a read whether poll(2) said so or not.
      if (pumps !== null && u32[pumpsAt] !== 0) n += pumps.service((iter & 63) === 0);
      if (n !== 0) {
        idle.reset();
        pollYield?.frames();
        lastFrameMs = u32[nowAt]!;
        continue;
      }
      if (Atomics.load(i32, stopAt) !== 0) {
        // Closing: keep serving until nothing is in flight or parked; past the drain deadline
        // what is left fails (ROUTER_CLOSED) so every driver still hears about every request.
        const now = clock();
        stopSince ||= now || 1;
        // pendingWork walks every device: once per clock tick is plenty.
        if (now !== lastPendingCheck) {
          lastPendingCheck = now;
          if (wasm.pendingWork(shard) === 0) break;
        }
        if (now - stopSince > task.drainMs) {
          wasm.failAll(shard, L.R_ROUTER_CLOSED);
          wasm.routeSome(shard, ROUTE_BUDGET);
          break;
        }
      }
      // A busy-poll link attached and a frame within POLL_YIELD_MS: look again at once, yielding
      // the CPU between looks (or after a bounded spin, when the pollers outnumber the cores),
      // instead of spinning towards a nap.
      if (pollYield !== null && !idle.busyPoll && u32[nowAt]! - lastFrameMs < POLL_YIELD_MS && Atomics.load(u32, pollLinksAt) !== 0) {
        pollYield.emptyPass();
        continue;
      }
      if (idle.idle(bell, lastLook) !== IDLE_SPUN) {
        slept = true;
        if (pollBell !== null) sockets!.publishWakes(pollBell.socketWakes, pollBell.eventWakes);
      }
    }
  } finally {
    pollBell?.close();
    seek?.release();
    u32[(block + CB_STATE) >>> 2] = SHARD_STOPPED;
  }
  return { frames };
}
