// What a removed device number leaves behind. Its state stays in the device table as a
// tombstone, so a request sent for the number later still fails from the shard that owned it,
// after every outcome owed before it; the last MAX_TOMBSTONES removed numbers keep one. And the
// number keeps its token sequence: a device attached under it again starts where the old one
// stopped, so a late answer to the old device's requests cannot match a new request's token.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterTables } from './tables.js';
import type { ShardPool } from './shard-pool.js';

/** Removed device numbers whose state stays in the table as a tombstone. */
export const MAX_TOMBSTONES = 1024;

export class DeviceTombstones {
  /** Next router token of each device number that was removed. */
  readonly nextToken = new Map<number, number>();
  /** States still in the device table, oldest first. */
  private readonly states = new Map<number, { state: number; bytes: number }>();

  constructor(private readonly mem: SharedMemory, private readonly tables: RouterTables, private readonly shards: ShardPool) {}

  /** The first router token of a device attached under `dev` (undefined: the number is new). */
  firstToken(dev: number): number | undefined {
    return this.nextToken.get(dev);
  }

  /** Device `dev`'s state (`bytes` long at `state`) is no longer used by any shard except as a tombstone; the oldest beyond MAX_TOMBSTONES is freed. */
  async bury(dev: number, state: number, bytes: number): Promise<void> {
    this.nextToken.set(dev, this.mem.u32[(state + this.tables.L.DS_NEXT_TOKEN) >>> 2]!);
    this.states.set(dev, { state, bytes });
    if (this.states.size > MAX_TOMBSTONES) await this.free(this.states.keys().next().value!, true);
  }

  /**
   * Free the tombstone of device number `dev`, taking it out of the table first when `clear`
   * (it may already have been replaced by a new state). Frames hold no pointer to a device
   * state, so once every shard has run a command since, none can still be using it.
   */
  async free(dev: number, clear: boolean): Promise<void> {
    const t = this.states.get(dev);
    if (t === undefined) return;
    this.states.delete(dev);
    if (clear) Atomics.compareExchange(this.mem.u32, (this.tables.devTable >>> 2) + dev, t.state, 0);
    await this.shards.sync();
    this.mem.free(t.state, t.bytes);
  }
}
