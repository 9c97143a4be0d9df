// A per-shard table of entries in shared memory that the main thread edits and the shard
// follows: the shard's socket bells (./socket-bells.ts) and stream pumps (./stream-pumps.ts).
// One table per shard, allocated on its first add and found through the shard's control block
// (0 = none yet):
//   u32 @0 (SLOT_USED): entries in use, the shard scans entries 0 .. this - 1
//   u32 @4 (SLOT_GEN): generation, bumped on every add and remove (the shard rebuilds its list)
//   bytes 8 .. 15: the user's (socket bells: the shard's wake counts)
//   entry i @ table + SLOT_HEAD + i * entry bytes; its first u32 is the key (0 = free): written
//   last on add, so the shard never sees an entry whose other fields are not there yet.
import type { SharedMemory } from '../memory/shared-memory.js';

export const SLOT_USED = 0;
export const SLOT_GEN = 4;
export const SLOT_HEAD = 16;

/** Control-plane side: the tables of every shard, all of one layout. */
export class ShardSlotTables {
  private readonly tables = new Map<number, number>();

  /**
   * @param controlOffset the control-block field holding the table's address (CB_*)
   * @param slots entries per table
   * @param entryBytes bytes per entry (a multiple of 4, key first)
   */
  constructor(
    private readonly mem: SharedMemory,
    private readonly controlBlocks: readonly number[],
    private readonly controlOffset: number,
    readonly slots: number,
    private readonly entryBytes: number,
  ) {}

  /** Shard `shard`'s table address, undefined before its first add. */
  table(shard: number): number | undefined {
    return this.tables.get(shard);
  }

  /**
   * Add `key` (non-zero) to shard `shard`'s table: `fill(at)` writes the entry's other fields (at:
   * the u32 index of the entry), then the key goes in. False when the table is full.
   */
  add(shard: number, key: number, fill?: (at: number) => void): boolean {
    const { mem } = this;
    let table = this.tables.get(shard);
    if (table === undefined) {
      table = mem.alloc(SLOT_HEAD + this.slots * this.entryBytes); // zeroed
      this.tables.set(shard, table);
      Atomics.store(mem.u32, (this.controlBlocks[shard]! + this.controlOffset) >>> 2, table);
    }
    for (let i = 0; i < this.slots; i++) {
      const at = (table + SLOT_HEAD + i * this.entryBytes) >>> 2;
      if (Atomics.load(mem.u32, at) !== 0) continue;
      fill?.(at);
      Atomics.store(mem.u32, at, key); // the entry is live once its key is there
      if (Atomics.load(mem.u32, (table + SLOT_USED) >>> 2) <= i) Atomics.store(mem.u32, (table + SLOT_USED) >>> 2, i + 1);
      Atomics.add(mem.u32, (table + SLOT_GEN) >>> 2, 1);
      return true;
    }
    return false;
  }

  /** Free the entries of `key` in shard `shard`'s table; the shard may still be in a pass that loaded them. */
  remove(shard: number, key: number): void {
    const table = this.tables.get(shard);
    if (table === undefined) return;
    const { u32 } = this.mem;
    for (let i = 0; i < this.slots; i++) {
      const at = (table + SLOT_HEAD + i * this.entryBytes) >>> 2;
      if (Atomics.load(u32, at) === key) Atomics.store(u32, at, 0);
    }
    // Shrink the scanned range past free entries at its end.
    let n = Atomics.load(u32, (table + SLOT_USED) >>> 2);
    while (n > 0 && Atomics.load(u32, (table + SLOT_HEAD + (n - 1) * this.entryBytes) >>> 2) === 0) n--;
    Atomics.store(u32, (table + SLOT_USED) >>> 2, n);
    Atomics.add(u32, (table + SLOT_GEN) >>> 2, 1);
  }

  /** The u32 index of `key`'s entry in shard `shard`'s table, or -1. */
  find(shard: number, key: number): number {
    const table = this.tables.get(shard);
    if (table === undefined) return -1;
    const { u32 } = this.mem;
    for (let i = 0; i < this.slots; i++) {
      const at = (table + SLOT_HEAD + i * this.entryBytes) >>> 2;
      if (Atomics.load(u32, at) === key) return at;
    }
    return -1;
  }
}

/** Shard side: whether the table (its address at u32 index `tableAt`) appeared or changed since the last look. */
export class SlotTableWatch {
  /** The table's address as last followed (0 = none yet). */
  table = 0;
  private gen = -1;

  constructor(private readonly u32: Uint32Array, private readonly tableAt: number) {}

  /** The entries in use to rebuild from, or -1 when there is no table or nothing moved since the last call. */
  changed(): number {
    const table = this.u32[this.tableAt]!;
    if (table === 0) return -1;
    const gen = Atomics.load(this.u32, (table + SLOT_GEN) >>> 2);
    if (table === this.table && gen === this.gen) return -1;
    this.table = table;
    this.gen = gen;
    return Atomics.load(this.u32, (table + SLOT_USED) >>> 2);
  }

  /** Rebuild at the next look even if the generation did not move. */
  invalidate(): void {
    this.gen = -1;
  }
}
