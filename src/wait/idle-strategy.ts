// Idle strategies: what a waiter does with its time once a look at its rings found no work.
// Every waiter takes one (the shard loop, endpoint ports, in-process channels, port bridges,
// the router's control loop, shared-memory channels), and every sleep goes through the
// doorbell protocol of src/wait/doorbell.ts, so the no-lost-wake-up argument there covers all.
//
// Two ways to use a strategy:
//   idle(bell, look)       the owner runs its own loop and calls this after each pass that did
//                          nothing (reset() after one that did): keep spinning, or sleep
//                          (Agrona's IdleStrategy). The shard loop works this way.
//   waitFor(bell, look, t) wait until look() finds work or t ms pass; waitForAsync for owners
//                          that must keep their event loop running (the disruptor's WaitStrategy).
//
// The strategies:
//   busy-spin        never sleeps (and may say so on the doorbell: Doorbell.enterBusyPoll).
//   spin-then-sleep  spins a bounded number of empty passes, then sleeps on the doorbell until
//                    rung or timed out; optionally naps instead while a peer that never rings
//                    is attached (the shard with busy-poll external links).
//   nap              spins, then naps a fixed short time on a doorbell nobody rings: for rings
//                    whose peer cannot ring a word of ours (a shared-memory window without a socket).
// The async form of each (waitForAsync) is what event-loop owners use.
import { Doorbell, type Look } from './doorbell.js';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Measured on the 2-vCPU VM: a wake-up through Atomics.wait+notify costs ~45-50 us, a spinning
 * round trip 0.26 us; polling 2000 times before sleeping kept the p50 at the spinning figure.
 * With two cores at most two threads can afford to spin.
 */
export const DEFAULT_SPINS = 2000;
/** Longest single sleep by default: bounds how late a side notices a peer that never rings (e.g. a crash). */
export const DEFAULT_SLEEP_MS = 100;
/** A spin count of this many passes or more (the largest accepted) means busy-spin: never sleep. */
export const BUSY_POLL_SPINS = 2 ** 30;

/** idle() returned at once: keep polling. */
export const IDLE_SPUN = 0;
/** idle() announced sleep and its last look found work: it did not sleep. */
export const IDLE_LOOKED = 1;
/** idle() slept (rung, timed out or napped): look again, refresh clocks. */
export const IDLE_SLEPT = 2;
export type IdleResult = typeof IDLE_SPUN | typeof IDLE_LOOKED | typeof IDLE_SLEPT;

/**
 * Polls between two clock reads in waitFor's spin phase (a poll ~0.1 us): a spin phase of the
 * default 2000 polls reads no clock, since in Node 20 every clock read allocates (a boxed
 * double) and a thread that allocates per wait grows its young generation with the rate
 * (docs/RELIABILITY.md, "Soak"). A wait may outlast its timeout by one round (~0.2 ms).
 */
const SPIN_ROUND = 2048;
/** busy-spin's waitForAsync: polls between two turns of the event loop. */
const POLLS_PER_TURN = 4096;

export abstract class IdleStrategy {
  abstract readonly name: string;
  /** Empty passes before the first sleep. */
  readonly spins: number;
  /** Empty passes since the last work (idle()'s state). */
  protected spun = 0;

  constructor(spins: number) {
    if (!Number.isInteger(spins) || spins < 0 || spins > BUSY_POLL_SPINS) {
      throw new RangeError(`idle strategy: spins must be an integer from 0 to ${BUSY_POLL_SPINS}, got ${spins}`);
    }
    this.spins = spins;
  }

  /** True when this strategy never sleeps (its owner may say so on the doorbell). */
  get busyPoll(): boolean {
    return false;
  }

  /** A pass found work: the next idle() starts a new spin phase. */
  reset(): void {
    this.spun = 0;
  }

  /**
   * A pass found no work. Returns IDLE_SPUN at once while spinning; past the spins, sleeps on
   * `bell` (announce, `look` once more, wait at most `timeoutMs`, or the strategy's own bound).
   */
  idle(bell: Doorbell, look: Look, timeoutMs?: number): IdleResult {
    if (++this.spun <= this.spins) return IDLE_SPUN;
    return this.rest(bell, look, timeoutMs);
  }

  /** The sleeping half of idle(); sets the spin state for the next call. */
  protected abstract rest(bell: Doorbell, look: Look, timeoutMs: number | undefined): IdleResult;

  /** rest() for an owner whose event loop must keep running. */
  protected abstract restAsync(bell: Doorbell, look: Look, timeoutMs: number): Promise<IdleResult>;

  /** Wait until look() finds work (true) or `timeoutMs` passes (false): spin, then rest, again. */
  waitFor(bell: Doorbell, look: Look, timeoutMs: number): boolean {
    // The first round of looks reads no clock (SPIN_ROUND): a busy endpoint's waits mostly end
    // inside it. The deadline starts after it.
    const first = Math.min(SPIN_ROUND, this.spins);
    for (let i = 0; i < first; i++) if (look()) return true;
    const deadline = performance.now() + timeoutMs;
    let from = first;
    for (;;) {
      if (this.spinPhase(look, deadline, from)) return true;
      from = 0;
      const left = deadline - performance.now();
      if (left <= 0) return look();
      if (this.rest(bell, look, left) === IDLE_LOOKED) return true;
    }
  }

  /** waitFor() that keeps the event loop running while it sleeps. */
  async waitForAsync(bell: Doorbell, look: Look, timeoutMs: number = Infinity): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.spinPhase(look, deadline)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return look();
      if ((await this.restAsync(bell, look, left)) === IDLE_LOOKED) return true;
    }
  }

  /**
   * Up to `spins` looks (less `from` already made), in rounds with a clock read after each so a
   * large spin count never outlasts the deadline by much. True when a look found work.
   */
  protected spinPhase(look: Look, deadline: number, from = 0): boolean {
    for (let spun = from; spun < this.spins; spun += SPIN_ROUND) {
      const round = Math.min(SPIN_ROUND, this.spins - spun);
      for (let i = 0; i < round; i++) if (look()) return true;
      if (performance.now() >= deadline) return false;
    }
    return false;
  }
}

/** Never sleep: lowest latency, burns a core. */
export class BusySpin extends IdleStrategy {
  readonly name = 'busy-spin';

  constructor() {
    super(BUSY_POLL_SPINS);
  }

  override get busyPoll(): boolean {
    return true;
  }

  override idle(): IdleResult {
    return IDLE_SPUN;
  }

  protected rest(): IdleResult {
    return IDLE_SPUN;
  }

  protected async restAsync(): Promise<IdleResult> {
    await nextTurn();
    return IDLE_SPUN;
  }

  override async waitForAsync(_bell: Doorbell, look: Look, timeoutMs: number = Infinity): Promise<boolean> {
    // Spinning forever would starve the event loop: give it a turn every POLLS_PER_TURN looks.
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (let i = 0; i < POLLS_PER_TURN; i++) if (look()) return true;
      if (performance.now() >= deadline) return false;
      await nextTurn();
    }
  }
}

export interface SpinThenSleepOptions {
  /** Longest sleep when idle() is given no timeout. Default DEFAULT_SLEEP_MS. */
  sleepMs?: number;
  /**
   * Asked after the last look: true while a peer that never rings is attached. Then the sleep
   * is a nap of `napMs`, and after an empty nap the next empty pass naps again at once (no new
   * spin phase) until a pass finds work.
   */
  napping?: () => boolean;
  /** Length of such a nap. Default 0.05 ms. */
  napMs?: number;
}

/** Spin `spins` empty passes, then sleep on the doorbell until rung (or a timeout). */
export class SpinThenSleep extends IdleStrategy {
  readonly name = 'spin-then-sleep';
  readonly sleepMs: number;
  private readonly napping: (() => boolean) | undefined;
  private readonly napMs: number;
  // rest()'s state for the timeout the doorbell asks after its last look, and that question as
  // one function made here: a closure made per rest() would allocate on every sleep.
  private napped = false;
  private restMs = 0;
  private readonly napOrSleep = (): number => ((this.napped = this.napping!()) ? this.napMs : this.restMs);

  constructor(spins: number = DEFAULT_SPINS, opts: SpinThenSleepOptions = {}) {
    super(spins);
    this.sleepMs = opts.sleepMs ?? DEFAULT_SLEEP_MS;
    this.napping = opts.napping;
    this.napMs = opts.napMs ?? 0.05;
  }

  protected rest(bell: Doorbell, look: Look, timeoutMs: number | undefined): IdleResult {
    const sleepMs = timeoutMs ?? this.sleepMs;
    this.napped = false;
    let found: boolean;
    if (this.napping === undefined) found = bell.sleep(look, sleepMs);
    else {
      this.restMs = sleepMs;
      found = bell.sleep(look, this.napOrSleep);
    }
    // After a sleep, a new spin phase (one pass already spent); after an empty nap, none.
    this.spun = this.napped && !found ? this.spins : 1;
    return found ? IDLE_LOOKED : IDLE_SLEPT;
  }

  protected async restAsync(bell: Doorbell, look: Look, timeoutMs: number): Promise<IdleResult> {
    const found = await bell.sleepAsync(look, timeoutMs);
    this.spun = 1;
    return found ? IDLE_LOOKED : IDLE_SLEPT;
  }
}

/**
 * Spin `spins` looks, then sleep `napMs` on the doorbell, and look again: for a waiter whose peer
 * never rings, given a doorbell nobody knows (Doorbell.private()), which makes the sleep a nap.
 * After an empty nap, idle() naps again at the next empty pass (no new spin phase).
 */
export class Nap extends IdleStrategy {
  readonly name = 'nap';

  constructor(spins: number, readonly napMs: number) {
    super(spins);
    if (!(napMs > 0)) throw new RangeError(`nap: napMs must be > 0, got ${napMs}`);
  }

  protected rest(bell: Doorbell, look: Look, timeoutMs: number | undefined): IdleResult {
    const found = bell.sleep(look, Math.min(this.napMs, timeoutMs ?? this.napMs));
    this.spun = found ? 1 : this.spins;
    return found ? IDLE_LOOKED : IDLE_SLEPT;
  }

  protected async restAsync(bell: Doorbell, look: Look, timeoutMs: number): Promise<IdleResult> {
    // A nap blocks the thread (a few tens of µs); the event loop gets its turn after it.
    const r = this.rest(bell, look, timeoutMs);
    await nextTurn();
    return r;
  }
}

/**
 * The strategy a `spinBeforeSleep` option asks for: BUSY_POLL_SPINS or more is busy-spin,
 * anything else spin-then-sleep with that many spins.
 */
export function spinThenSleep(spins: number, opts: SpinThenSleepOptions = {}): IdleStrategy {
  return spins >= BUSY_POLL_SPINS ? new BusySpin() : new SpinThenSleep(spins, opts);
}
