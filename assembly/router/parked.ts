// Park queues (layout PQ_* in ./layout): frames a shard holds back, in order, behind a device
// whose window or ring is full (DS_PARK) or an output ring that is full (OUT_PARK). Every
// queue with frames is on one of the shard's service lists, which routeSome walks before
// taking new frames, so parked frames always go out before newer ones.
import { PQ_HEAD, PQ_TAIL, PQ_COUNT, PQ_LIST_NEXT, PQ_LISTED, PS_NEXT, PS_AUX, PS_KIND, TAG_KIND } from './layout';
import { poolGive } from './pool';

@inline export function parkedCount(q: usize): u32 {
  return load<u32>(q, PQ_COUNT);
}

/** Pool slot of the oldest parked frame (only when parkedCount(q) != 0). */
@inline export function parkedHead(q: usize): usize {
  return <usize>load<u32>(q, PQ_HEAD);
}

/** Append pool slot `ps` (a finished frame) and put the queue on the shard list whose head word is at `list`. */
export function parkAppend(list: usize, q: usize, ps: usize): void {
  store<u32>(ps, 0, PS_NEXT);
  const count = load<u32>(q, PQ_COUNT);
  if (count == 0) store<u32>(q, <u32>ps, PQ_HEAD);
  else store<u32>(<usize>load<u32>(q, PQ_TAIL), <u32>ps, PS_NEXT);
  store<u32>(q, <u32>ps, PQ_TAIL);
  store<u32>(q, count + 1, PQ_COUNT);
  if (load<u32>(q, PQ_LISTED) == 0) {
    store<u32>(q, 1, PQ_LISTED);
    store<u32>(q, load<u32>(list), PQ_LIST_NEXT);
    store<u32>(list, <u32>q);
  }
}

/**
 * Frames that left a park queue since parkedMovedTake last looked (this instance's thread only).
 * A parked frame written to a ring is published after the shard announced its sleep; a consumer
 * that then frees room compares with the index it saw before (cursor.ts CURF_FREES) and may not
 * wake the shard. So the shard's last look before sleeping counts these as work and looks again.
 */
let gParkedMoved: u32 = 0;

/** Frames that left a park queue since the last call (and start counting again from 0). */
export function parkedMovedTake(): u32 {
  const n = gParkedMoved;
  gParkedMoved = 0;
  return n;
}

/** Done with the oldest parked frame: its slot goes back to the pool. */
@inline export function parkedPop(shard: usize, q: usize): void {
  gParkedMoved++;
  const ps = <usize>load<u32>(q, PQ_HEAD);
  store<u32>(q, load<u32>(ps, PS_NEXT), PQ_HEAD);
  store<u32>(q, load<u32>(q, PQ_COUNT) - 1, PQ_COUNT);
  poolGive(shard, ps);
}

/** Release every frame of queue `q` whose PS_AUX is `aux`, keeping the others in order. Returns how many. */
export function parkedRemoveAux(shard: usize, q: usize, aux: u32): u32 {
  let removed: u32 = 0;
  let prev: usize = 0;
  let ps = <usize>load<u32>(q, PQ_HEAD);
  for (let n = load<u32>(q, PQ_COUNT); n != 0; n--) {
    const next = <usize>load<u32>(ps, PS_NEXT);
    if (<u32>load<u16>(ps, PS_AUX) == aux) {
      if (prev == 0) store<u32>(q, <u32>next, PQ_HEAD);
      else store<u32>(prev, <u32>next, PS_NEXT);
      if (<usize>load<u32>(q, PQ_TAIL) == ps) store<u32>(q, <u32>prev, PQ_TAIL);
      poolGive(shard, ps);
      removed++;
    } else {
      prev = ps;
    }
    ps = next;
  }
  store<u32>(q, load<u32>(q, PQ_COUNT) - removed, PQ_COUNT);
  return removed;
}

/** How many frames of queue `q` are of kind `kind` (PS_KIND & TAG_KIND); walks the queue (control paths only). */
export function parkedCountKind(shard: usize, q: usize, kind: u32): u32 {
  let n: u32 = 0;
  let ps = <usize>load<u32>(q, PQ_HEAD);
  for (let k = load<u32>(q, PQ_COUNT); k != 0; k--) {
    if ((<u32>load<u16>(ps, PS_KIND) & TAG_KIND) == kind) n++;
    ps = <usize>load<u32>(ps, PS_NEXT);
  }
  return n;
}

/** Take the queues that became empty off the shard list whose head word is at `list`. */
export function parkListPrune(list: usize): void {
  let prev: usize = 0;
  let q = <usize>load<u32>(list);
  while (q != 0) {
    const next = <usize>load<u32>(q, PQ_LIST_NEXT);
    if (load<u32>(q, PQ_COUNT) == 0) {
      store<u32>(q, 0, PQ_LISTED);
      if (prev == 0) store<u32>(list, <u32>next);
      else store<u32>(prev, <u32>next, PQ_LIST_NEXT);
    } else {
      prev = q;
    }
    q = next;
  }
}

/** Take queue `q` off the shard list whose head word is at `list` whatever it holds (its owner is going away). */
export function parkListRemove(list: usize, q: usize): void {
  if (load<u32>(q, PQ_LISTED) == 0) return;
  let prev: usize = 0;
  let cur = <usize>load<u32>(list);
  while (cur != 0 && cur != q) { prev = cur; cur = <usize>load<u32>(cur, PQ_LIST_NEXT); }
  if (cur == q) {
    const next = load<u32>(q, PQ_LIST_NEXT);
    if (prev == 0) store<u32>(list, next);
    else store<u32>(prev, next, PQ_LIST_NEXT);
  }
  store<u32>(q, 0, PQ_LISTED);
}
