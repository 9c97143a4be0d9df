// Which nodes are alive, from their liveness entries. Each node rewrites its entry every
// HEARTBEAT_MS; a node whose entry has not changed for DEAD_AFTER_MS is dead. Ages run on this
// host's monotonic clock from when we saw the change, so clocks of other hosts do not matter;
// only an entry found when we start is aged by its server timestamp. While the directory is out
// of reach nothing is seen from anyone, so the clock stops ('frozen'): no node dies of our own
// outage, and on resumption every node gets a fresh DEAD_AFTER_MS to show up.

/** How often a node rewrites its liveness entry. */
export const HEARTBEAT_MS = 1000;
/** A liveness entry older than this means the node is dead. */
export const DEAD_AFTER_MS = 3000;

export class Liveness {
  /** node → monotonic time its liveness entry last changed. */
  private readonly seen = new Map<string, number>();
  private frozenAt: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The node's entry changed now (or `ageMs` ago, for an entry found at start). Returns true if it was not alive before. */
  beat(node: string, ageMs = 0): boolean {
    const wasAlive = this.isAlive(node);
    this.seen.set(node, this.now() - Math.max(0, ageMs));
    return !wasAlive && this.isAlive(node);
  }

  isAlive(node: string): boolean {
    const t = this.seen.get(node);
    if (t === undefined) return false;
    return (this.frozenAt ?? this.now()) - t <= DEAD_AFTER_MS;
  }

  /** Nodes that were alive and have aged past DEAD_AFTER_MS (forgotten: the next beat makes them alive again). */
  expire(): string[] {
    if (this.frozenAt !== undefined) return [];
    const dead: string[] = [];
    const now = this.now();
    for (const [node, t] of this.seen) {
      if (now - t > DEAD_AFTER_MS) {
        dead.push(node);
        this.seen.delete(node);
      }
    }
    return dead;
  }

  /** The node left (deleted its entry): not alive until its next beat. */
  forget(node: string): void {
    this.seen.delete(node);
  }

  get frozen(): boolean {
    return this.frozenAt !== undefined;
  }

  freeze(): void {
    this.frozenAt ??= this.now();
  }

  /** The directory is back: every node alive at the freeze starts a fresh DEAD_AFTER_MS. */
  thaw(): void {
    if (this.frozenAt === undefined) return;
    const now = this.now();
    for (const [node, t] of this.seen) if (this.frozenAt - t <= DEAD_AFTER_MS) this.seen.set(node, now);
    this.frozenAt = undefined;
  }

  /** Nodes alive now. */
  alive(): string[] {
    return [...this.seen.keys()].filter((n) => this.isAlive(n));
  }
}
