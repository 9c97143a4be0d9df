// Device number remap of a link to an external device-side bus, the one rule for every link kind
// (shared-memory windows and stream gateways; docs/ARCHITECTURE.md "Device numbers across a
// link", docs/PROTOCOL.md §7 rule 11: a bridge may remap device numbers between bus instances).
// The rule, for a remote device number R that becomes reachable:
//   1. local number R, when no other device of the local router uses it;
//   2. else the local number R had before on this link (a device that comes back after a link
//      drop gets its old number), when free;
//   3. else the lowest free local number from `base` upward (wrapping below it at the end).
// Numbers in use are those the router has attached plus those any remap of the same router
// has claimed and not released (claims cover the time an addDevice is in progress, and are
// released once it is done).
import type { Router } from '../router/router.js';

/** Where rule 3 starts unless the link says otherwise (`remap_base=`). */
export const DEFAULT_REMAP_BASE = 256;

const claimedByRouter = new WeakMap<Router, Set<number>>();
/**
 * Rule 2's memory, per router and link URI: it outlives one opened link or one connection, so a
 * peer that restarts (vmsg route opens the link again) or reconnects to a listening gateway
 * (a new session per connection) gets its old numbers back.
 */
const historyByRouter = new WeakMap<Router, Map<string, Map<number, number>>>();

export class DeviceRemap {
  /** remote number → local number + 1 (0 = not present): the per-frame lookup. */
  readonly toLocal = new Uint32Array(65536);
  /** local number → remote number + 1 (0 = not present). */
  readonly toRemote = new Uint32Array(65536);
  /** Every assignment made for this link URI on this router (rule 2). */
  private readonly history: Map<number, number>;
  private readonly claimed: Set<number>;

  /** `linkKey` names the link across re-opens (its URI); without one the history is this object's own. */
  constructor(router: Router, readonly base = DEFAULT_REMAP_BASE, linkKey?: string) {
    let c = claimedByRouter.get(router);
    if (c === undefined) claimedByRouter.set(router, (c = new Set()));
    this.claimed = c;
    if (linkKey === undefined) this.history = new Map();
    else {
      let links = historyByRouter.get(router);
      if (links === undefined) historyByRouter.set(router, (links = new Map()));
      let h = links.get(linkKey);
      if (h === undefined) links.set(linkKey, (h = new Map()));
      this.history = h;
    }
  }

  /**
   * Choose and claim a local number for `remote`; `attached(n)` says whether the router has
   * device n attached right now. Returns undefined when all 65536 are in use.
   */
  claim(remote: number, attached: (n: number) => boolean): number | undefined {
    const free = (n: number): boolean => !attached(n) && !this.claimed.has(n);
    let local: number | undefined;
    const before = this.history.get(remote);
    if (free(remote)) local = remote;
    else if (before !== undefined && free(before)) local = before;
    else {
      for (let i = 0; i < 65536; i++) {
        const n = (this.base + i) & 0xffff;
        if (free(n)) {
          local = n;
          break;
        }
      }
    }
    if (local === undefined) return undefined;
    this.claimed.add(local);
    // Rule 2 only matters for a number other than the remote one (that one is rule 1): the
    // usual case, same number, costs no entry (memory per device with thousands of them).
    if (local === remote) this.history.delete(remote);
    else this.history.set(remote, local);
    return local;
  }

  /** Frames may now flow between `remote` and `local` (the router has validated `local`). */
  activate(remote: number, local: number): void {
    this.toLocal[remote] = local + 1;
    this.toRemote[local] = remote + 1;
  }

  /** Stop translating `remote` (its frames are dropped from now on); returns its local number. */
  deactivate(remote: number): number | undefined {
    const l = this.toLocal[remote]!;
    if (l === 0) return undefined;
    this.toLocal[remote] = 0;
    this.toRemote[l - 1] = 0;
    return l - 1;
  }

  /** Give the claim back: once the router has `local` attached (its own record keeps it taken), or after it removed it. */
  release(local: number): void {
    this.claimed.delete(local);
  }
}
