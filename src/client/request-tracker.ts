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
  /** Requests in send order: the open ones and settled ones not yet compacted away (from `head`). */
  private readonly items: R[] = [];
  private head = 0;
  /** Settled requests still in `items`. */
  private dead = 0;
  private openCount = 0;
  private readonly byToken = new Map<number, R>();
  private nextToken = 1;
  private nextSeq = 0;
  private newestAnswered = -1;

  /**
   * `keyed` false: the requests' tokens are not unique (a bus that puts one fixed token, or
   * none, in every request), so they are found by `find` in send order, never by token.
   */
  constructor(private readonly keyed = true) {}

  /** A non-zero token not in flight here (events carry 0). Throws when all 65535 are. */
  token(): number {
    if (this.byToken.size >= 0xffff) throw new RangeError('65535 requests outstanding: no free token');
    let t = this.nextToken;
    while (this.byToken.has(t)) t = t === 0xffff ? 1 : t + 1;
    this.nextToken = t === 0xffff ? 1 : t + 1;
    return t;
  }

  /** Track `r` (its token from `token()`, or the one it carries), numbering it in send order. */
  add(r: R): void {
    r.seq = this.nextSeq++;
    r.settled = false;
    this.items.push(r);
    this.openCount++;
    if (this.keyed) this.byToken.set(r.token, r);
  }

  /** The open request with `token`, if any. */
  get(token: number): R | undefined {
    return this.byToken.get(token);
  }

  /** The oldest open request that `match` accepts. */
  find(match: (r: R) => boolean): R | undefined {
    const a = this.items;
    for (let i = this.head; i < a.length; i++) if (!a[i]!.settled && match(a[i]!)) return a[i];
    return undefined;
  }

  /** End `r` (answered, failed or expired): its token is free again. */
  settle(r: R): void {
    if (r.settled) return;
    r.settled = true;
    this.openCount--;
    if (this.keyed && this.byToken.get(r.token) === r) this.byToken.delete(r.token);
    // Settled requests leave the list once they are most of it: compacted in place, each
    // request moves at most once per halving (amortised O(1), no allocation), and one request
    // left unanswered cannot make the list grow with everything settled behind it.
    if (++this.dead > 64 && this.dead * 2 > this.items.length) this.compact();
  }

  private compact(): void {
    const a = this.items;
    let w = 0;
    for (let i = this.head; i < a.length; i++) if (!a[i]!.settled) a[w++] = a[i]!;
    a.length = w;
    this.head = 0;
    this.dead = 0;
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
    const a = this.items;
    while (this.head < a.length && a[this.head]!.settled) this.head++;
    return a[this.head];
  }

  /** Every open request, oldest first. */
  *open(): IterableIterator<R> {
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i]!.settled) yield this.items[i]!;
  }

  /** Open requests. */
  get size(): number {
    return this.openCount;
  }
}
