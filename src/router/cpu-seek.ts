// Where a polling shard runs when it and the busy-poll peers outnumber the CPUs.
//
// Three pollers on two CPUs (a relay: the shard and two peers polling their windows): two of
// them share a CPU and run by turns, each until it yields. Which two share decides the rate: a
// peer hands the CPU back only after its own run of empty polls (a C peer that yields every
// 1024 polls: ~10 µs when its polls are cheap, ~200 µs when each reads the clock). Measured
// with the relay pinned each way (docs/BENCHMARKS.md, "busy-poll relay with more pollers than
// CPUs"): the shard sharing with the cheap poller 184-303 k round trips/s, with the
// clock-reading one 31-47 k, the two peers sharing while the shard has a CPU of its own
// 69-100 k. The scheduler picks one of these at random and keeps it (two tasks against one is
// as balanced as it can see).
//
// So the shard looks for the good one: it counts the frames it routes per epoch, and when an
// epoch routes less than half the best recent one it moves itself to the next CPU it may run
// on (sched_setaffinity of its own thread). Moving changes the others' placement too (the CPU
// it left, if idle, pulls a waiting peer over), so a few moves reach the arrangement where it
// stays. Epochs without frames change nothing; once the links have been idle for
// SEEK_RELEASE_MS it may run anywhere again.
import type { BellAddon } from '../native/bell.js';

/** The links idle this long (router clock, ms): the shard may run on any CPU again. */
export const SEEK_RELEASE_MS = 100;
/** Length of an epoch (router clock, ms): long enough that a move's transient is not the measure. */
export const SEEK_EPOCH_MS = 8;
/** Move when an epoch routes less than this share of the best recent epoch. */
const MOVE_BELOW = 0.5;
/** Each epoch the best rate remembered shrinks by this factor, so a load that falls for good is learned. */
const BEST_DECAY = 0.95;
/**
 * Epochs without a move before the shard tries another CPU anyway (a shard that started in a
 * bad arrangement has never seen a better rate to compare with): first after EXPLORE_FIRST,
 * then twice as long after each try, up to EXPLORE_MAX (~0.5 s). A try that routes less moves
 * on again at the next epoch, so it costs about one epoch; a drop that no try caused (the load
 * changed) starts over from EXPLORE_FIRST.
 */
const EXPLORE_FIRST = 4;
const EXPLORE_MAX = 64;

export class CpuSeek {
  /** Times the shard moved to another CPU. */
  moves = 0;
  private readonly cpus: Int32Array;
  private readonly count: number;
  private at = -1; // index into cpus of the CPU pinned to; -1: not pinned
  private epochStart = 0;
  private epochFrames = 0;
  private best = 0;
  private still = 0; // epochs since the last move
  private exploreAfter = EXPLORE_FIRST;
  private tried = false; // the last move was a try
  private started = false; // an epoch is being counted

  constructor(private readonly addon: BellAddon) {
    const list = new Int32Array(256);
    const n = addon.cpus(list);
    this.count = Math.max(0, Math.min(n, list.length));
    this.cpus = list.subarray(0, this.count);
  }

  /**
   * Called with the router clock (ms) when it moves, and the frames routed so far: at the end of
   * each epoch decide whether to move.
   */
  tick(nowMs: number, frames: number): void {
    if (this.count < 2) return;
    if (!this.started) {
      // The first tick of a burst only starts an epoch: frames counts the shard's whole life.
      this.started = true;
      this.epochStart = nowMs;
      this.epochFrames = frames;
      return;
    }
    if (nowMs - this.epochStart < SEEK_EPOCH_MS) return;
    const routed = frames - this.epochFrames;
    this.epochStart = nowMs;
    this.epochFrames = frames;
    if (routed <= 0) return;
    this.best = Math.max(this.best * BEST_DECAY, routed);
    if (routed < this.best * MOVE_BELOW) {
      if (!this.tried) this.exploreAfter = EXPLORE_FIRST;
      this.tried = false;
    } else if (++this.still >= this.exploreAfter) {
      this.tried = true;
      this.exploreAfter = Math.min(EXPLORE_MAX, this.exploreAfter * 2);
    } else {
      this.tried = false;
      return;
    }
    this.still = 0;
    // Not pinned yet: the move is away from the CPU it runs on now.
    if (this.at < 0) this.at = Math.max(0, this.cpus.indexOf(this.addon.cpu()));
    this.at = (this.at + 1) % this.count;
    if (this.addon.setCpus(this.cpus.subarray(this.at, this.at + 1), 1) === 0) this.moves++;
  }

  /** The links fell idle (SEEK_RELEASE_MS): run anywhere again, and forget the rates (the next burst may differ). */
  release(): void {
    if (this.at >= 0) {
      this.addon.setCpus(this.cpus, this.count);
      this.at = -1;
    }
    if (!this.started) return;
    this.started = false;
    this.best = 0;
    this.still = 0;
    this.exploreAfter = EXPLORE_FIRST;
    this.tried = false;
  }
}
