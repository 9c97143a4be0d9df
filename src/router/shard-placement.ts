// Which shard a new endpoint goes to: the one asked for, else the least loaded, where a driver
// link weighs one and a device link one per device it serves (at least one).

/** What placement needs of an attached endpoint. */
export interface PlacedEndpoint {
  readonly kind: 'driver' | 'device';
  readonly shard: number;
  readonly devices: { readonly size: number };
}

export function placeShard(requested: number | undefined, shards: number, attached: Iterable<PlacedEndpoint>): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 0 || requested >= shards) {
      throw new RangeError(`shard must be an integer from 0 to ${shards - 1}, got ${requested}`);
    }
    return requested;
  }
  const load = new Array<number>(shards).fill(0);
  for (const e of attached) load[e.shard]! += e.kind === 'device' ? Math.max(1, e.devices.size) : 1;
  return load.indexOf(Math.min(...load));
}
