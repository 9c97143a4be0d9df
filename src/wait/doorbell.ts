// Doorbell wait strategies (docs/ARCHITECTURE.md "Doorbell protocol"): how an idle ring side
// waits for its peer: spin a bounded number of polls, then sleep in Atomics.wait on an i32
// doorbell word in the shared memory that the peer rings after publishing an index.
//
// The word: DOORBELL_AWAKE (0) = owner awake, DOORBELL_ASLEEP (1) = owner asleep or about to be.
// Only the owner sets it to ASLEEP; a waker moves it ASLEEP -> AWAKE with compareExchange and
// then notifies (assembly/ring/cursor.ts publishIndex, ringDoorbell below).
//
// Why no wake-up is lost. JS and wasm atomics are sequentially consistent, so all of these
// accesses fall into one total order:
//   sleeper: store(bell, ASLEEP); poll() loads the ring index; Atomics.wait(bell, ASLEEP)
//   waker:   store(index);        load(bell) / compareExchange(bell, ASLEEP, AWAKE); notify
// Either the sleeper's poll comes after the waker's index store (it sees the work and does not
// sleep), or the waker's bell load comes after the sleeper's ASLEEP store (it sees ASLEEP and
// wakes it). If the notify runs before the sleeper reaches Atomics.wait, the compareExchange has
// already put AWAKE in the word, so Atomics.wait(bell, ASLEEP) returns at once ("not-equal").
// Atomics.wait compares and enqueues atomically with respect to Atomics.notify.
//
// A third state, DOORBELL_BUSY_POLL (2), says the owner spins and never sleeps (spinBeforeSleep
// BUSY_POLL_SPINS). Publishers on rings made relaxed (src/wait/fence.ts: x86-64 with
// membarrier) then publish with a plain store, no xchg. The owner leaves the state with
// leaveBusyPoll(), which fences before any sleep can follow.
import { busyPollExitFence, relaxedPublish } from './fence.js';

// Measured on the 2-vCPU VM: a wake-up through Atomics.wait+notify costs
// ~45-50 us, a spinning round trip 0.26 us; polling 2000 times before sleeping kept the p50 at
// the spinning figure. With two cores at most two threads can afford to spin.
export const DEFAULT_SPINS = 2000;
/** Longest single sleep: bounds how late a side notices a peer that never rings (e.g. a crash). */
export const DEFAULT_SLEEP_MS = 100;

export const DOORBELL_AWAKE = 0;
export const DOORBELL_ASLEEP = 1;
export const DOORBELL_BUSY_POLL = 2;
/** spinBeforeSleep of this many polls (the largest accepted) means busy-poll: never sleep. */
export const BUSY_POLL_SPINS = 2 ** 30;

/**
 * Mark the doorbell word at i32[at] DOORBELL_BUSY_POLL: its owner promises not to sleep until
 * leaveBusyPoll(). Relaxed mode only (false otherwise, and the word is left alone).
 */
export function enterBusyPoll(i32: Int32Array, at: number): boolean {
  if (!relaxedPublish()) return false;
  Atomics.store(i32, at, DOORBELL_BUSY_POLL);
  return true;
}

/** Leave busy-poll (if the word says so): AWAKE, then the fence that lets the owner sleep again. */
export function leaveBusyPoll(i32: Int32Array, at: number): void {
  if (Atomics.load(i32, at) !== DOORBELL_BUSY_POLL) return;
  Atomics.store(i32, at, DOORBELL_AWAKE);
  busyPollExitFence();
}

/** Poll function: true when there is work (a frame to read, a slot to fill). */
export type Poll = () => boolean;

/** How a side waits for work. Returns true when poll() found work, false when it timed out. */
export interface WaitStrategy {
  readonly name: string;
  idle(bell: Doorbell, poll: Poll, timeoutMs: number): boolean;
}

/** Never sleep: poll until work or the deadline. Lowest latency, burns a core. */
export const busyPoll: WaitStrategy = {
  name: 'busyPoll',
  idle(_bell, poll, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Reading the clock costs more than a poll: look at it once per 1024 polls.
      for (let i = 0; i < 1024; i++) if (poll()) return true;
      if (Date.now() >= deadline) return false;
    }
  },
};

/** Poll `spins` times, then sleep on the doorbell (at most timeoutMs) until the peer rings it. */
export function spinThenWaitAfter(spins: number): WaitStrategy {
  if (!Number.isInteger(spins) || spins < 0) throw new RangeError(`spinThenWait: spins must be an integer >= 0, got ${spins}`);
  return {
    name: 'spinThenWait',
    idle(bell, poll, timeoutMs) {
      for (let i = 0; i < spins; i++) if (poll()) return true;
      return bell.sleep(poll, timeoutMs);
    },
  };
}

/** The default: poll DEFAULT_SPINS times, then sleep. */
export const spinThenWait: WaitStrategy = spinThenWaitAfter(DEFAULT_SPINS);

/** Wake the owner of the doorbell word at i32[at] if it sleeps (the waker's half of the protocol). */
export function ringDoorbell(i32: Int32Array, at: number): void {
  // The plain load keeps the common case (owner awake) free of a read-modify-write.
  if (Atomics.load(i32, at) !== DOORBELL_AWAKE && Atomics.compareExchange(i32, at, DOORBELL_ASLEEP, DOORBELL_AWAKE) === DOORBELL_ASLEEP) {
    Atomics.notify(i32, at, 1);
  }
}

export interface DoorbellOptions {
  /** Default spinThenWait. */
  strategy?: WaitStrategy;
  /** Longest sleep per idle() call when none is given. Default DEFAULT_SLEEP_MS. */
  sleepMs?: number;
}

/** The owner's side of one doorbell word (4-aligned byte address `addr` in `buffer`). */
export class Doorbell {
  readonly strategy: WaitStrategy;
  /** Times the owner went to sleep in Atomics.wait (how often the wake path ran). */
  sleeps = 0;
  private readonly i32: Int32Array;
  private readonly at: number;
  private readonly sleepMs: number;

  constructor(buffer: SharedArrayBuffer, readonly addr: number, opts: DoorbellOptions = {}) {
    if (!Number.isInteger(addr) || addr <= 0 || addr % 4 !== 0 || addr + 4 > buffer.byteLength) {
      throw new RangeError(`doorbell address must be a 4-aligned non-zero offset inside the buffer (${buffer.byteLength} bytes), got ${addr}`);
    }
    this.i32 = new Int32Array(buffer);
    this.at = addr >>> 2;
    this.strategy = opts.strategy ?? spinThenWait;
    this.sleepMs = opts.sleepMs ?? DEFAULT_SLEEP_MS;
  }

  /** Wait for work as the strategy says. True when poll() found work, false on timeout. */
  idle(poll: Poll, timeoutMs: number = this.sleepMs): boolean {
    return this.strategy.idle(this, poll, timeoutMs);
  }

  /**
   * Announce sleep, look once more, sleep until rung or `timeoutMs`, then announce awake.
   * Returns what one poll after waking says.
   */
  sleep(poll: Poll, timeoutMs: number): boolean {
    Atomics.store(this.i32, this.at, DOORBELL_ASLEEP);
    // The last look must come after the ASLEEP store (see the argument at the top).
    if (poll()) {
      Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
      return true;
    }
    this.sleeps++;
    Atomics.wait(this.i32, this.at, DOORBELL_ASLEEP, timeoutMs);
    Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
    return poll();
  }

  /**
   * sleep() for an owner that must keep its event loop running while it waits (promise
   * completions, timers): the same protocol, with Atomics.waitAsync instead of Atomics.wait.
   */
  async sleepAsync(poll: Poll, timeoutMs: number): Promise<boolean> {
    Atomics.store(this.i32, this.at, DOORBELL_ASLEEP);
    if (poll()) {
      Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
      return true;
    }
    this.sleeps++;
    const waiting = Atomics.waitAsync(this.i32, this.at, DOORBELL_ASLEEP, timeoutMs);
    if (waiting.async) await waiting.value;
    Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
    return poll();
  }

  /** Wake the owner (for a waker that holds a Doorbell object rather than a ring cursor). */
  ring(): void {
    ringDoorbell(this.i32, this.at);
  }
}
