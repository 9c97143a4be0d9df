// Requests in flight on one ordering domain (one device, or the bus messages), the way every
// driver-side user tracks them: a token not in use (tokens are unique per dev_num among
// outstanding requests, docs/PROTOCOL.md §7 rule 10), the request by its token when the answer
// comes, the oldest one still open (deadlines), and per-device order (§7 rule 16).

/** What the tracker needs of a request: its token, its send-order number, whether it ended. */
export interface TrackedRequest {
  token: number;
  /** Send-order number, given by `add`. */
  seq: number;
  /** Set by `settle`. */
  settled: boolean;
}

export class RequestTracker<R extends TrackedRequest> {
  /** Open and settled requests in send order; settled ones are skipped from `head`. */
  private items: R[] = [];
  private head = 0;
  private readonly byToken = new Map<number, R>();
  private nextToken = 1;
  private nextSeq = 0;
  private newestAnswered = -1;

  /** A non-zero token not in flight here (events carry 0). Throws when all 65535 are. */
  token(): number {
    if (this.byToken.size >= 0xffff) throw new RangeError('65535 requests outstanding: no free token');
    let t = this.nextToken;
    while (this.byToken.has(t)) t = t === 0xffff ? 1 : t + 1;
    this.nextToken = t === 0xffff ? 1 : t + 1;
    return t;
  }

  /** Track `r` (its token from `token()`), numbering it in send order. */
  add(r: R): void {
    r.seq = this.nextSeq++;
    r.settled = false;
    this.items.push(r);
    this.byToken.set(r.token, r);
  }

  /** The open request with `token`, if any. */
  get(token: number): R | undefined {
    return this.byToken.get(token);
  }

  /** End `r` (answered, failed or expired): its token is free again. */
  settle(r: R): void {
    if (r.settled) return;
    r.settled = true;
    if (this.byToken.get(r.token) === r) this.byToken.delete(r.token);
    if (this.items[this.head] === r) this.first(); // keeps the settled prefix from growing
  }

  /**
   * Per-device order: false when `r` is answered after a newer request already was. A request
   * that is never answered is a timeout, not an order violation.
   */
  answeredInOrder(r: R): boolean {
    if (r.seq < this.newestAnswered) return false;
    this.newestAnswered = r.seq;
    return true;
  }

  /** The oldest open request. */
  first(): R | undefined {
    while (this.head < this.items.length && this.items[this.head]!.settled) this.head++;
    // Drop the settled prefix once it is most of the list (amortised: each request moves once).
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  /** Every open request, oldest first. */
  *open(): IterableIterator<R> {
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i]!.settled) yield this.items[i]!;
  }

  /** Open requests. */
  get size(): number {
    return this.byToken.size;
  }
}
