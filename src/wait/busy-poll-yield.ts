// When a shard polling a busy-poll link gives its CPU away: on every empty pass (sched_yield),
// or only after a bounded spin. A relay passes each batch to one side and the answer comes from
// the other, alternately. When the pollers outnumber the cores one of the two peers shares the
// shard's CPU: its answer needs the CPU, so the shard should yield at once; the other peer,
// on a core of its own, answers within a few passes, so a yield there hands the CPU to a poller
// that keeps it until its own next yield (tens of µs) while the answer sits unread. Which side
// is which the shard cannot see, but the turns alternate: frames that came while it spun
// (no yield since the last frames) were the near peer's answer, so what it forwarded now goes
// to the peer that needs the CPU: yield at once. Frames found after a yield are the CPU-sharing
// peer's answer, and what goes out now goes to the other core: spin up to `spins` passes.
// With `spins` 0 this is the plain yield on every empty pass.
import type { BellAddon } from '../native/bell.js';

export class BusyPollYield {
  /** Empty passes since the last pass that routed frames. */
  private empty = 0;
  /** Empty passes to spin before yielding, this turn. */
  private budget: number;

  constructor(private readonly addon: Pick<BellAddon, 'yield'>, private readonly spins: number) {
    this.budget = spins;
  }

  /** A pass routed frames. */
  frames(): void {
    this.budget = this.empty <= this.budget ? 0 : this.spins;
    this.empty = 0;
  }

  /** A pass found nothing while a busy-poll link is attached: yield the CPU, or not yet. */
  emptyPass(): void {
    if (++this.empty > this.budget) this.addon.yield();
  }
}
