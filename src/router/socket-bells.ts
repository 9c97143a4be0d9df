// Doorbell sockets the shard serves itself (docs/ARCHITECTURE.md "The wake-up chain"), both ways.
// Out: a shared-memory link with `sock=` gives its out cursor a wake word (CUR_WAKE); the WASM
// producer flips it from ASLEEP to AWAKE when it publishes frames for the peer. Instead of a
// main-thread bridge waking on that word (Atomics.waitAsync, then a socket write from the
// event loop: one more thread wake-up per answer), the owning shard looks at its links' words
// every pass and writes the byte itself, re-arming the word first (so a later publish rings
// again). In: the shard reads the peer's bytes itself (ShardSockets below, the socket set of
// its src/wait/poll-doorbell.ts): it sleeps in poll(2) on them, so a peer's byte wakes the
// shard directly; the main thread no longer reads the socket and learns that the peer closed
// it from the entry's state, which the shard sets (SocketBells.closed).
// The table lives in shared memory, one per shard, found through the shard's control block
// (CB_SOCKET_BELLS, 0 = none yet), a ./shard-slot-table.ts table; each entry holds the word's
// address and a descriptor of our own (dup) for the socket, closed only after the shard has
// stopped looking at it.
//   u32 @0: entries in use (the shard scans entries 0 .. this - 1)
//   u32 @4: generation, bumped on every add and remove (the shard rebuilds its socket list)
//   u32 @8: the shard's sleeps ended by a socket byte; u32 @12: by an in-process waker's eventfd
//   entry i @ table + 16 + 16 i: u32 word address (0 = free), i32 fd, u32 state (ENTRY_*)
import type { SharedMemory } from '../memory/shared-memory.js';
import { CB_SOCKET_BELLS } from './control.js';
import type { BellAddon } from '../native/bell.js';
import type { SocketSet } from '../wait/poll-doorbell.js';
import { ShardSlotTables, SlotTableWatch, SLOT_HEAD, SLOT_USED } from './shard-slot-table.js';

export const SOCKET_BELL_SLOTS = 32;
const ENTRY = 16;
const T_SOCKET_WAKES = 8;
const T_EVENT_WAKES = 12;
const E_FD = 4;
const E_STATE = 8;
/** Entry state: the socket is open as far as the shard knows. */
const ENTRY_OPEN = 0;
/** Entry state: the shard saw the peer close the socket (or it failed) and stopped reading it. */
const ENTRY_CLOSED = 1;
const AWAKE = 0;
const ASLEEP = 1;

/** Control-plane side: the tables of every shard (./shard-slot-table.ts, keyed by the word's address). */
export class SocketBells {
  private readonly tables: ShardSlotTables;

  constructor(private readonly mem: SharedMemory, controlBlocks: readonly number[]) {
    this.tables = new ShardSlotTables(mem, controlBlocks, CB_SOCKET_BELLS, SOCKET_BELL_SLOTS, ENTRY);
  }

  /** Have shard `shard` ring `fd` (already our own dup) when `word` flips to AWAKE. False when its table is full. */
  add(shard: number, word: number, fd: number): boolean {
    const { mem } = this;
    return this.tables.add(shard, word, (at) => {
      Atomics.store(mem.i32, word >>> 2, ASLEEP); // armed: the next publish flips it
      Atomics.store(mem.i32, at + (E_FD >>> 2), fd);
      Atomics.store(mem.u32, at + (E_STATE >>> 2), ENTRY_OPEN);
    });
  }

  /**
   * Stop ringing for `word`. The shard may still be in a pass that loaded the entry: close the
   * descriptor only after it acknowledged a command sent after this (Router.detach does).
   */
  remove(shard: number, word: number): void {
    this.tables.remove(shard, word);
  }

  /** True when shard `shard` saw the peer close the socket of `word` (or it failed): the link is down. */
  closed(shard: number, word: number): boolean {
    const at = this.tables.find(shard, word);
    return at >= 0 && Atomics.load(this.mem.u32, at + (E_STATE >>> 2)) === ENTRY_CLOSED;
  }

  /** Shard `shard`'s sleeps so far that a socket byte ended, and that an in-process waker ended. */
  wakes(shard: number): { socket: number; event: number } {
    const table = this.tables.table(shard);
    if (table === undefined) return { socket: 0, event: 0 };
    const { u32 } = this.mem;
    return { socket: Atomics.load(u32, (table + T_SOCKET_WAKES) >>> 2), event: Atomics.load(u32, (table + T_EVENT_WAKES) >>> 2) };
  }
}

/**
 * Shard side, inbound: the open sockets of the shard's table as a socket set to poll
 * (src/wait/poll-doorbell.ts). The list is rebuilt when the table's generation moves; a socket
 * reported closed is marked ENTRY_CLOSED for the main thread and not polled again.
 */
export class ShardSockets implements SocketSet {
  readonly fds = new Int32Array(SOCKET_BELL_SLOTS);
  count = 0;
  /** Entry addresses (u32 index of the word) of fds[i]. */
  private readonly entries = new Int32Array(SOCKET_BELL_SLOTS);
  private readonly watch: SlotTableWatch;

  constructor(private readonly u32: Uint32Array, tableAt: number) {
    this.watch = new SlotTableWatch(u32, tableAt);
  }

  refresh(): void {
    const n = this.watch.changed();
    if (n < 0) return;
    const { u32 } = this;
    let k = 0;
    for (let i = 0, at = (this.watch.table + SLOT_HEAD) >>> 2; i < n && i < SOCKET_BELL_SLOTS; i++, at += ENTRY >>> 2) {
      if (Atomics.load(u32, at) === 0 || Atomics.load(u32, at + (E_STATE >>> 2)) !== ENTRY_OPEN) continue;
      this.fds[k] = u32[at + (E_FD >>> 2)]! | 0;
      this.entries[k++] = at;
    }
    this.count = k;
  }

  report(status: Int32Array): void {
    let closed = false;
    for (let i = 0; i < this.count; i++) {
      if (status[i] !== -1) continue;
      Atomics.store(this.u32, this.entries[i]! + (E_STATE >>> 2), ENTRY_CLOSED);
      closed = true;
    }
    if (closed) this.watch.invalidate(); // rebuild without it
  }

  /** Publish the owner's wake-up counts (SocketBells.wakes). */
  publishWakes(socket: number, event: number): void {
    const { table } = this.watch;
    if (table === 0) return;
    Atomics.store(this.u32, (table + T_SOCKET_WAKES) >>> 2, socket);
    Atomics.store(this.u32, (table + T_EVENT_WAKES) >>> 2, event);
  }
}

/** Shard side, every loop pass: ring the sockets whose word a publish flipped to AWAKE. */
export function ringSocketBells(i32: Int32Array, u32: Uint32Array, table: number, bell: BellAddon): void {
  const n = u32[(table + SLOT_USED) >>> 2]!;
  for (let i = 0, at = (table + SLOT_HEAD) >>> 2; i < n; i++, at += ENTRY >>> 2) {
    const word = u32[at]!;
    if (word === 0) continue;
    if (Atomics.load(i32, word >>> 2) !== AWAKE) continue;
    Atomics.store(i32, word >>> 2, ASLEEP); // re-arm first, then ring: a later publish rings again
    bell.ring(i32[at + (E_FD >>> 2)]!);
  }
}
