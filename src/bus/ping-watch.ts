// Keep-alive bookkeeping of a link that PINGs its peer (shared-memory links, stream gateways):
// one PING out at a time, and a peer that leaves one unanswered for PING_DEAD_PERIODS periods is
// dead. The link sends the frames and acts on the verdict; this holds only the rule.

/** A peer that has not answered a PING for this many periods is dead. */
export const PING_DEAD_PERIODS = 8;

export type PingTick = { send: number } | { deadMs: number } | null;

export class PingWatch {
  private out: { data: number; at: number } | null = null;
  private seq = 0;

  constructor(readonly periodMs: number) {}

  /**
   * At a period tick: `{ send: data }` when a PING should go out now (with that 32-bit data),
   * `{ deadMs }` when the one out has waited longer than PING_DEAD_PERIODS periods, else null.
   */
  tick(now: number): PingTick {
    if (this.out !== null) {
      const silent = now - this.out.at;
      return silent > PING_DEAD_PERIODS * this.periodMs ? { deadMs: silent } : null;
    }
    const data = (this.seq = (this.seq + 1) >>> 0);
    this.out = { data, at: now };
    return { send: data };
  }

  /** A PING answer arrived with `data`; true when it answers the one out. */
  answered(data: number): boolean {
    if (this.out === null || this.out.data !== data) return false;
    this.out = null;
    return true;
  }
}
