// The doorbell word (docs/ARCHITECTURE.md "Doorbell protocol"): one i32 in shared memory per
// side that can sleep. Its owner sleeps on it in Atomics.wait / Atomics.waitAsync; a peer that
// published work for it rings it. This file is the only TypeScript that stores to a doorbell
// word or waits on one; the WASM cursor's publishIndex (assembly/ring/cursor.ts) is the other
// waker, with the same rule as ringDoorbell below (a native ring's consumer cursor rings only
// when it freed room its producer lacked: CURF_FREES there; a sleeper for room must look at the
// room after announcing its sleep).
//
// The word: DOORBELL_AWAKE (0) = owner awake, DOORBELL_ASLEEP (1) = owner asleep or about to be,
// DOORBELL_BUSY_POLL (2) = owner spins and never sleeps, DOORBELL_ASLEEP_POLL (3) = owner asleep
// or about to be in poll(2) (a shard that also waits for its links' doorbell sockets:
// src/wait/poll-doorbell.ts), with its eventfd in the i32 after the word. Only the owner stores
// ASLEEP, ASLEEP_POLL or BUSY_POLL; a waker moves ASLEEP -> AWAKE with compareExchange, then
// notifies, or ASLEEP_POLL -> AWAKE, then writes the eventfd.
//
// Why no wake-up is lost. JS and wasm atomics are sequentially consistent, so these accesses
// fall into one total order:
//   sleeper: store(bell, ASLEEP); look() loads the ring index; Atomics.wait(bell, ASLEEP)
//   waker:   store(index);        load(bell) / compareExchange(bell, ASLEEP, AWAKE); notify
// Either the sleeper's last look comes after the waker's index store (it sees the work and
// does not sleep), or the waker's bell load comes after the sleeper's ASLEEP store (it sees
// ASLEEP and wakes it). If the notify runs before the sleeper reaches Atomics.wait, the
// compareExchange has already put AWAKE in the word, so Atomics.wait(bell, ASLEEP) returns at
// once ("not-equal"): Atomics.wait compares and enqueues atomically with respect to notify.
// test/wait/doorbell.test.ts checks each branch of this argument, and a real cross-thread wake.
//
// Sleeping in poll(2) is the same argument with the eventfd for the futex: the owner stores
// ASLEEP_POLL, looks, then polls its eventfd (and its sockets). A waker that saw ASLEEP_POLL
// and won the compareExchange writes the eventfd; an eventfd stays readable until read, so a
// write that lands before the owner reaches poll(2) makes poll return at once (as AWAKE makes
// Atomics.wait return "not-equal"). The owner reads the eventfd only after poll returned: a
// write after that read is a spurious early return of its next sleep, never a lost one. A
// waker whose compareExchange failed lost to the owner (it woke, and its next ASLEEP* store
// comes after the waker's index store, so that sleep's last look sees the work) or to another
// waker (who wakes it). The sockets: an external peer publishes its index, then sends the byte;
// a byte sent after the owner's last look stays readable until the owner's poll drains it.
//
// Busy-poll. An owner that never sleeps says so (enterBusyPoll): publishers on rings made
// relaxed (src/wait/fence.ts: x86-64 with membarrier) then publish with a plain store, no xchg.
// Leaving the state (leaveBusyPoll) stores AWAKE, then runs the membarrier fence, before any
// sleep can follow: a publisher that still saw BUSY_POLL has its plain store visible by then.
import { busyPollExitFence, relaxedPublish } from './fence.js';
// Layout constants: written once in assembly/, generated into src/wasm/layout.ts.
import {
  DOORBELL_AWAKE, DOORBELL_ASLEEP, DOORBELL_BUSY_POLL, DOORBELL_ASLEEP_POLL, DOORBELL_POLL_FD,
} from '../wasm/layout.js';
import { tryBellAddon } from '../native/bell.js';
export {
  DOORBELL_AWAKE, DOORBELL_ASLEEP, DOORBELL_BUSY_POLL, DOORBELL_ASLEEP_POLL, DOORBELL_POLL_FD,
};

/** Wake a sleeper in poll(2) through its eventfd (only an owner that loaded the doorbell addon sleeps there). */
function wakePollSleeper(fd: number): void {
  tryBellAddon()?.signal(fd);
}

/** A look at the owner's work: true when there is some (a frame to read, a slot to fill). */
export type Look = () => boolean;

/** Wake the owner of the doorbell word at i32[at] if it sleeps (the waker's half of the protocol). */
export function ringDoorbell(i32: Int32Array, at: number): void {
  // The plain load keeps the common case (owner awake) free of a read-modify-write.
  const state = Atomics.load(i32, at);
  if (state === DOORBELL_ASLEEP) {
    if (Atomics.compareExchange(i32, at, DOORBELL_ASLEEP, DOORBELL_AWAKE) === DOORBELL_ASLEEP) Atomics.notify(i32, at, 1);
  } else if (state === DOORBELL_ASLEEP_POLL) {
    if (Atomics.compareExchange(i32, at, DOORBELL_ASLEEP_POLL, DOORBELL_AWAKE) === DOORBELL_ASLEEP_POLL) {
      wakePollSleeper(Atomics.load(i32, at + (DOORBELL_POLL_FD >>> 2)));
    }
  }
}

/** The owner's side of one doorbell word (4-aligned byte address `addr` in `buffer`), and a handle to ring it. */
export class Doorbell {
  /** Times the owner went to sleep in Atomics.wait / waitAsync (how often the wake path ran). */
  sleeps = 0;
  protected readonly i32: Int32Array;
  protected readonly at: number;

  constructor(buffer: SharedArrayBuffer, readonly addr: number) {
    if (!Number.isInteger(addr) || addr <= 0 || addr % 4 !== 0 || addr + 4 > buffer.byteLength) {
      throw new RangeError(`doorbell address must be a 4-aligned non-zero offset inside the buffer (${buffer.byteLength} bytes), got ${addr}`);
    }
    this.i32 = new Int32Array(buffer);
    this.at = addr >>> 2;
  }

  /** A doorbell nobody else knows: sleeping on it is a nap of the given length. */
  static private(): Doorbell {
    return new Doorbell(new SharedArrayBuffer(8), 4);
  }

  /** The word as it is now (DOORBELL_*). */
  get state(): number {
    return Atomics.load(this.i32, this.at);
  }

  /**
   * Announce sleep, take the last look, and sleep until rung or `timeoutMs` passes (a function
   * is asked after the last look, so it may depend on what the look saw); then announce awake.
   * True when the last look found work (no sleep), false after a sleep (rung or timed out: the
   * caller looks again).
   */
  sleep(look: Look, timeoutMs: number | (() => number)): boolean {
    Atomics.store(this.i32, this.at, DOORBELL_ASLEEP);
    // The last look must come after the ASLEEP store (see the argument at the top).
    if (look()) {
      Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
      return true;
    }
    this.sleeps++;
    Atomics.wait(this.i32, this.at, DOORBELL_ASLEEP, typeof timeoutMs === 'number' ? timeoutMs : timeoutMs());
    Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
    return false;
  }

  /**
   * sleep() for an owner that must keep its event loop running while it waits (promise
   * completions, timers, sockets): the same protocol with Atomics.waitAsync. A pending
   * waitAsync does not keep Node alive: an owner with nothing else to do holds a handle.
   */
  async sleepAsync(look: Look, timeoutMs: number = Infinity): Promise<boolean> {
    Atomics.store(this.i32, this.at, DOORBELL_ASLEEP);
    if (look()) {
      Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
      return true;
    }
    this.sleeps++;
    const waiting = Atomics.waitAsync(this.i32, this.at, DOORBELL_ASLEEP, timeoutMs);
    if (waiting.async) await waiting.value;
    Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
    return false;
  }

  /** Wake the owner if it sleeps (for a waker that holds a Doorbell rather than a ring cursor). */
  ring(): void {
    ringDoorbell(this.i32, this.at);
  }

  /**
   * Wake the owner whatever the word says, to make it see a stop flag: AWAKE, then notify. It
   * also ends a busy-poll state without the fence, so only for an owner that is stopping.
   */
  wake(): void {
    if (Atomics.exchange(this.i32, this.at, DOORBELL_AWAKE) === DOORBELL_ASLEEP_POLL) {
      wakePollSleeper(Atomics.load(this.i32, this.at + (DOORBELL_POLL_FD >>> 2)));
    }
    Atomics.notify(this.i32, this.at);
  }

  /**
   * Keep the word ASLEEP and call `onRing` once per wake-up, on the event loop: a relay that
   * forwards the rings of WASM producers elsewhere (a doorbell socket). The word is re-armed
   * BEFORE `onRing` runs, so a publish after the re-arm rings again and one before it is
   * visible to whoever `onRing` wakes. Rings that land while one is being forwarded share it.
   * Returns stop().
   */
  relay(onRing: () => void): () => void {
    const { i32, at } = this;
    let running = true;
    Atomics.store(i32, at, DOORBELL_ASLEEP);
    void (async () => {
      while (running) {
        const w = Atomics.waitAsync(i32, at, DOORBELL_ASLEEP, 1000);
        if (w.async) await w.value;
        if (!running || Atomics.load(i32, at) !== DOORBELL_AWAKE) continue; // timed out: nothing published
        Atomics.store(i32, at, DOORBELL_ASLEEP);
        onRing();
      }
    })();
    return () => {
      running = false;
      this.wake();
    };
  }

  /**
   * Say on the word that its owner will not sleep until leaveBusyPoll() (DOORBELL_BUSY_POLL).
   * Relaxed publication only: false otherwise, and the word is left alone.
   */
  enterBusyPoll(): boolean {
    if (!relaxedPublish()) return false;
    Atomics.store(this.i32, this.at, DOORBELL_BUSY_POLL);
    return true;
  }

  /**
   * Leave busy-poll if the word says so (a restarted owner may find its predecessor's state):
   * AWAKE, then the fence that lets the owner sleep again.
   */
  leaveBusyPoll(): void {
    if (Atomics.load(this.i32, this.at) !== DOORBELL_BUSY_POLL) return;
    Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
    busyPollExitFence();
  }
}
