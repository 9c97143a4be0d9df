// Doorbell sockets the shard rings itself (docs/ARCHITECTURE.md "The wake-up chain"). A
// shared-memory link with `sock=` gives its out cursor a wake word (CUR_WAKE); the WASM
// producer flips it from ASLEEP to AWAKE when it publishes frames for the peer. Instead of a
// main-thread bridge waking on that word (Atomics.waitAsync, then a socket write from the
// event loop: one more thread wake-up per answer), the owning shard looks at its links' words
// every pass and writes the byte itself, re-arming the word first (so a later publish rings
// again). The table lives in shared memory, one per shard, found through the shard's control
// block (CB_SOCKET_BELLS, 0 = none yet); each entry holds the word's address and a descriptor
// of our own (dup) for the socket, closed only after the shard has stopped looking at it.
//   u32 @0: entries in use (the shard scans entries 0 .. this - 1)
//   entry i @ table + 8 + 8 i: u32 word address (0 = free), i32 fd
import type { SharedMemory } from '../memory/shared-memory.js';
import { CB_SOCKET_BELLS } from './control.js';
import type { BellAddon } from '../native/bell.js';

export const SOCKET_BELL_SLOTS = 32;
const ENTRY = 8;
const HEAD = 8;
const TABLE_BYTES = HEAD + SOCKET_BELL_SLOTS * ENTRY;
const AWAKE = 0;
const ASLEEP = 1;

/** Control-plane side: the tables of every shard. */
export class SocketBells {
  private readonly tables = new Map<number, number>();

  constructor(private readonly mem: SharedMemory, private readonly controlBlocks: readonly number[]) {}

  /** Have shard `shard` ring `fd` (already our own dup) when `word` flips to AWAKE. False when its table is full. */
  add(shard: number, word: number, fd: number): boolean {
    const { mem } = this;
    let table = this.tables.get(shard);
    if (table === undefined) {
      table = mem.alloc(TABLE_BYTES);
      mem.u8.fill(0, table, table + TABLE_BYTES);
      this.tables.set(shard, table);
      Atomics.store(mem.u32, (this.controlBlocks[shard]! + CB_SOCKET_BELLS) >>> 2, table);
    }
    for (let i = 0; i < SOCKET_BELL_SLOTS; i++) {
      const at = (table + HEAD + i * ENTRY) >>> 2;
      if (Atomics.load(mem.u32, at) !== 0) continue;
      Atomics.store(mem.i32, word >>> 2, ASLEEP); // armed: the next publish flips it
      Atomics.store(mem.i32, at + 1, fd);
      Atomics.store(mem.u32, at, word); // the entry is live once its word is there
      if (Atomics.load(mem.u32, table >>> 2) <= i) Atomics.store(mem.u32, table >>> 2, i + 1);
      return true;
    }
    return false;
  }

  /**
   * Stop ringing for `word`. The shard may still be in a pass that loaded the entry: close the
   * descriptor only after it acknowledged a command sent after this (Router.detach does).
   */
  remove(shard: number, word: number): void {
    const table = this.tables.get(shard);
    if (table === undefined) return;
    const { u32 } = this.mem;
    for (let i = 0; i < SOCKET_BELL_SLOTS; i++) {
      const at = (table + HEAD + i * ENTRY) >>> 2;
      if (Atomics.load(u32, at) === word) Atomics.store(u32, at, 0);
    }
    // Shrink the scanned range past free entries at its end.
    let n = Atomics.load(u32, table >>> 2);
    while (n > 0 && Atomics.load(u32, (table + HEAD + (n - 1) * ENTRY) >>> 2) === 0) n--;
    Atomics.store(u32, table >>> 2, n);
  }
}

/** Shard side, every loop pass: ring the sockets whose word a publish flipped to AWAKE. */
export function ringSocketBells(i32: Int32Array, u32: Uint32Array, table: number, bell: BellAddon): void {
  const n = u32[table >>> 2]!;
  for (let i = 0, at = (table + HEAD) >>> 2; i < n; i++, at += ENTRY >>> 2) {
    const word = u32[at]!;
    if (word === 0) continue;
    if (Atomics.load(i32, word >>> 2) !== AWAKE) continue;
    Atomics.store(i32, word >>> 2, ASLEEP); // re-arm first, then ring: a later publish rings again
    bell.ring(i32[at + 1]!);
  }
}
