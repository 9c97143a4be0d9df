// Endpoint ids: an endpoint's row in the router's tables, stamped on every frame it sends. A
// detached id comes back into use only after a quarantine, so a frame still on its way to the
// old owner (parked, forwarded, then failed at its deadline) never reaches a new one.

/** The quarantine is at least this long… */
const QUARANTINE_MIN_MS = 10_000;
/** …and at least this many request timeouts (parked, then forwarded, then failed at the deadline). */
const QUARANTINE_TIMEOUTS = 3;

/** How long a detached endpoint id stays out of use, for a router whose requests time out after `timeoutMs`. */
export function endpointQuarantineMs(timeoutMs: number): number {
  return Math.max(QUARANTINE_MIN_MS, QUARANTINE_TIMEOUTS * timeoutMs);
}

/** A taken id; `reused` when it belonged to a detached endpoint before. */
export interface TakenId {
  id: number;
  reused: boolean;
}

export class EndpointIds {
  private next = 0;
  /** Detached ids, oldest first, and when they were freed (performance.now(): a wall-clock step must not end a quarantine early). */
  private readonly freed: { id: number; at: number }[] = [];

  constructor(private readonly max: number, private readonly quarantineMs: number) {}

  /** The oldest detached id once out of quarantine, else a never-used one; RangeError when all `max` are taken. */
  take(now = performance.now()): TakenId {
    const oldest = this.freed[0];
    if (oldest !== undefined && now - oldest.at > this.quarantineMs) {
      this.freed.shift();
      return { id: oldest.id, reused: true };
    }
    if (this.next >= this.max) {
      throw new RangeError(`router is full: ${this.max} endpoints attached (raise maxEndpoints)`);
    }
    return { id: this.next++, reused: false };
  }

  /** `id`'s endpoint is detached: its quarantine starts now. */
  release(id: number, now = performance.now()): void {
    this.freed.push({ id, at: now });
  }
}
