// One side's private view of an SPSC ring: the producer or consumer state for our native ring,
// the vmamp window (docs/BUSES.md §2.1) and the SPSC v1 ring (docs/BUSES.md §3.1). The ring layouts
// differ only in where the two indices live, their width and where slots start, so all
// three are driven through this 56-byte cursor that lives in memory only its owner touches.
// The only ring implementation: TypeScript calls it too (src/ring/cursor.ts). Memory ordering: wasm atomics are sequentially consistent,
// which gives the release (publish) / acquire (peer load) pairs the layouts require.

export const CUR_SLOTS: u32 = 0; //   u32 address of slot 0
export const CUR_PUB: u32 = 4; //     u32 address of the index this side publishes
export const CUR_PEER: u32 = 8; //    u32 address of the index the peer publishes
export const CUR_CAP: u32 = 12; //    u32 number of slots (any value >= 2, not a power of two)
export const CUR_STRIDE: u32 = 16; // u32 bytes between slots
export const CUR_LOCAL: u32 = 20; //  u32 this side's index, maybe not yet published
export const CUR_CACHED: u32 = 24; // u32 last peer index seen (re-read only when the ring looks full/empty)
export const CUR_PENDING: u32 = 28; // u32 steps taken since the last publish
export const CUR_BATCH: u32 = 32; //  u32 publish every BATCH steps (and always when blocked)
export const CUR_FLAGS: u32 = 36; //  u32 CURF_* below
export const CUR_WAKE: u32 = 40; //   u32 address of the peer's doorbell word, 0 = peer never sleeps
export const CUR_FAULTS: u32 = 44; // u32 peer index reads that were out of range (hostile or torn peer)
export const CUR_MAX_UNITS: u32 = 48; // u32 most slots one frame takes: 1 = one frame per slot; > 1 = packed ring (PACKED_UNIT slots)
export const CUR_PEEK_UNITS: u32 = 52; // u32 consumer of a packed ring: slots of the frame consumePeek returned
export const CUR_SIZE: u32 = 56;
// Only ring state: what the owner keeps about a cursor (the router's "publish later" list, its
// capture mark) lives in the owner's tables.

// A packed ring (our native ring only) stores a frame in ceil(msg_size / 16) consecutive 16-byte
// slots ("units"), so small frames share cache lines (4 per line): the producer advances by the
// frame's units at commit, the consumer by the same count read from the same header. A frame
// never wraps: the ring's memory has MAX_UNITS - 1 units of slack after the last one, and the
// index space wraps as usual (a frame starting at unit cap - 1 uses the slack, not units 0..).
// Space check: the producer reserves only with MAX_UNITS units free, so any frame fits.
export const PACKED_UNIT: u32 = 16;

/** Units of a frame of `size` bytes in a ring of at most `maxUnits` per frame (at least 1). */
@inline export function frameUnits(size: u32, maxUnits: u32): u32 {
  const u = (size + PACKED_UNIT - 1) >> 4;
  return select<u32>(1, select<u32>(maxUnits, u, u > maxUnits), u == 0);
}

/**
 * Units of the frame with header word `w` in a consumer's run: 1 in a slot ring (`maxUnits`
 * 1), else from its msg_size, cut to the `left` units published (a frame claiming more is
 * then dropped by its reader as bigger than its buffer).
 */
@inline export function runFrameUnits(w: u64, maxUnits: u32, left: u32): u32 {
  if (maxUnits <= 1) return 1;
  const u = frameUnits(<u32>(w >> 48), maxUnits);
  return u > left ? left : u;
}

export const CURF_IDX16: u32 = 1; // indices are u16 (vmamp); otherwise u32/i32
// Both sides are threads of this process on x86-64, where a plain store is a release store:
// the index may be published with one when the peer cannot be asleep (no doorbell, or the
// doorbell says DOORBELL_BUSY_POLL). src/wait/fence.ts decides; u32 indices only.
export const CURF_RELAXED: u32 = 2;
// A consumer cursor: its publishes free room, so they wake a sleeping producer only when the
// room was short before them (fewer free units than the largest frame: the producer may be
// waiting for it). A producer asleep with room is waiting for something else (an answer in
// another ring) and is left asleep. Sound only if every producer that sleeps for room
// publishes its index first and looks at the room after announcing sleep (docs/ARCHITECTURE.md
// "Doorbell protocol"). Native rings only (nativeRingInit gives it to the consumer cursor when
// asked: src/ring/native.ts nativeCursorFlags); vmamp and SPSC consumers ring nobody.
export const CURF_FREES: u32 = 4;

// Which side a cursor drives (argument of the layouts' cursor-fill functions).
export const CURSOR_PRODUCER: u32 = 0;
export const CURSOR_CONSUMER: u32 = 1;

// Doorbell word: 0 = owner awake, 1 = owner asleep in Atomics.wait on this word,
// 2 = owner busy-polls and never sleeps (leaving that state takes a fence: src/wait/fence.ts),
// 3 = owner asleep in poll(2) (a shard that also waits for its links' doorbell sockets): the
// waker writes the eventfd held in the i32 DOORBELL_POLL_FD bytes after the word instead.
export const DOORBELL_AWAKE: i32 = 0;
export const DOORBELL_ASLEEP: i32 = 1;
export const DOORBELL_BUSY_POLL: i32 = 2;
export const DOORBELL_ASLEEP_POLL: i32 = 3;
export const DOORBELL_POLL_FD: u32 = 4;

// Write the eventfd of a doorbell whose owner sleeps in poll(2) (src/wasm/module.ts: the
// doorbell addon's signal): the only call out of the hot path, and only to wake a sleeper.
@external('env', 'wakePoll') declare function wakePoll(fd: i32): void;

/** Acquire-load the peer's index. Out-of-range values are counted and reported as 0xffffffff. */
@inline function loadPeerIndex(cur: usize): u32 {
  const at = <usize>load<u32>(cur, CUR_PEER);
  const v: u32 = (load<u32>(cur, CUR_FLAGS) & CURF_IDX16) ? <u32>atomic.load<u16>(at) : atomic.load<u32>(at);
  if (v >= load<u32>(cur, CUR_CAP)) {
    store<u32>(cur, load<u32>(cur, CUR_FAULTS) + 1, CUR_FAULTS);
    return 0xffffffff;
  }
  return v;
}

/** The peer's published index as it is now, whatever its width (no range check: for progress checks only). */
export function peerIndexNow(cur: usize): u32 {
  const at = <usize>load<u32>(cur, CUR_PEER);
  return (load<u32>(cur, CUR_FLAGS) & CURF_IDX16) ? <u32>atomic.load<u16>(at) : atomic.load<u32>(at);
}

/** Release-store this side's index, then ring the peer's doorbell if it sleeps. */
@inline function publishIndex(cur: usize, v: u32): void {
  const at = <usize>load<u32>(cur, CUR_PUB);
  const flags = load<u32>(cur, CUR_FLAGS);
  const bell = <usize>load<u32>(cur, CUR_WAKE);
  store<u32>(cur, 0, CUR_PENDING);
  // A consumer's own index before this publish (only it writes the word: a plain load).
  const before: u32 = (flags & CURF_FREES) ? ((flags & CURF_IDX16) ? <u32>load<u16>(at) : load<u32>(at)) : 0;
  if (flags & CURF_RELAXED) {
    // A seq-cst store is an x86 xchg that drains the store buffer (+0.15 us per hop measured);
    // a plain store is enough while the peer cannot be asleep. The second look at the bell
    // catches a peer that left busy-poll meanwhile (its fence then makes our store visible,
    // or we see it left and publish the seq-cst way below: src/wait/fence.ts).
    if (bell == 0) { store<u32>(at, v); return; }
    if (atomic.load<i32>(bell) == DOORBELL_BUSY_POLL) {
      store<u32>(at, v);
      if (atomic.load<i32>(bell) == DOORBELL_BUSY_POLL) return;
    }
  }
  if (flags & CURF_IDX16) atomic.store<u16>(at, <u16>v);
  else atomic.store<u32>(at, v);
  // Checked after the index store: the sleeper sets the bell before its last look at the
  // ring, so with sequentially consistent atomics one of the two sees the other.
  if (bell == 0) return;
  const state = atomic.load<i32>(bell);
  if (state == DOORBELL_ASLEEP || state == DOORBELL_ASLEEP_POLL) wakeSleeper(cur, bell, state, flags, before);
}

/**
 * The peer's bell says it sleeps: wake it, unless this is a consumer whose peer had room (it
 * waits for an answer elsewhere). Out of line: publishIndex is inlined at every publish site,
 * and this rare path would only grow the routing loops.
 */
function wakeSleeper(cur: usize, bell: usize, state: i32, flags: u32, before: u32): void {
  if ((flags & CURF_FREES) && !roomWasShort(cur, before)) return;
  ringAsleep(bell, state);
}

/** Wake the owner of `bell`, whose word was just loaded as `state` (ASLEEP or ASLEEP_POLL). */
export function ringAsleep(bell: usize, state: i32): void {
  if (state == DOORBELL_ASLEEP) {
    if (atomic.cmpxchg<i32>(bell, DOORBELL_ASLEEP, DOORBELL_AWAKE) == DOORBELL_ASLEEP) atomic.notify(bell, 1);
  } else if (atomic.cmpxchg<i32>(bell, DOORBELL_ASLEEP_POLL, DOORBELL_AWAKE) == DOORBELL_ASLEEP_POLL) {
    wakePoll(atomic.load<i32>(bell + DOORBELL_POLL_FD));
  }
}

/**
 * A consumer about to wake its sleeping producer: was the room short before it moved its index
 * from `before`? The producer's index is loaded fresh, not the cached copy: a producer that sleeps
 * for room published its index before announcing sleep, and a stale copy would show more room
 * than it saw. Short = fewer free units than produceReserve asks for (a full slot ring; fewer
 * than MAX_UNITS in a packed ring). A torn producer index counts as short (ring: never lose one).
 */
function roomWasShort(cur: usize, before: u32): bool {
  const producer = peerIndexNow(cur);
  const cap = load<u32>(cur, CUR_CAP);
  if (producer >= cap || before >= cap) return true;
  return freeUnits(cur, producer, before) < load<u32>(cur, CUR_MAX_UNITS);
}

/**
 * Fill all CUR_SIZE bytes of a fresh cursor: geometry from the arguments, local/cached/pending/
 * faults zero (a fresh ring: both indices 0).
 */
export function cursorInit(
  cur: usize, slots: usize, pub: usize, peer: usize, cap: u32, stride: u32, batch: u32, flags: u32, bell: u32,
): void {
  memory.fill(cur, 0, CUR_SIZE);
  store<u32>(cur, <u32>slots, CUR_SLOTS);
  store<u32>(cur, <u32>pub, CUR_PUB);
  store<u32>(cur, <u32>peer, CUR_PEER);
  store<u32>(cur, cap, CUR_CAP);
  store<u32>(cur, stride, CUR_STRIDE);
  store<u32>(cur, batch, CUR_BATCH);
  store<u32>(cur, flags, CUR_FLAGS);
  store<u32>(cur, bell, CUR_WAKE);
  store<u32>(cur, 1, CUR_MAX_UNITS);
}

@inline function nextIndex(cur: usize, i: u32): u32 {
  const n = i + 1;
  return n == load<u32>(cur, CUR_CAP) ? 0 : n; // compare-and-wrap: capacities need not be powers of two
}

/** Address of the slot at index `local` (either side). */
@inline export function cursorSlotAt(cur: usize, local: u32): usize {
  return <usize>load<u32>(cur, CUR_SLOTS) + <usize>local * <usize>load<u32>(cur, CUR_STRIDE);
}

/** Publish whatever this side has done but not yet published. */
export function cursorFlush(cur: usize): void {
  if (load<u32>(cur, CUR_PENDING) != 0) publishIndex(cur, load<u32>(cur, CUR_LOCAL));
}

// ---------------------------------------------------------------- producer

/** Address of the slot to fill next, or 0 when the ring is full (pending work is published first). */
@inline export function produceReserve(cur: usize): usize {
  if (load<u32>(cur, CUR_MAX_UNITS) > 1) return packedReserve(cur); // out of line: keeps this path small
  const local = load<u32>(cur, CUR_LOCAL);
  const next = nextIndex(cur, local);
  if (next == load<u32>(cur, CUR_CACHED)) {
    const peer = loadPeerIndex(cur);
    if (peer == 0xffffffff || next == peer) {
      cursorFlush(cur);
      return 0;
    }
    store<u32>(cur, peer, CUR_CACHED);
  }
  return cursorSlotAt(cur, local);
}

// produceReserve and produceCommit as the router's fast paths use them: the index after the
// frame is worked out once, with the room check, and handed to the commit, which would
// otherwise load the cursor's fields again (the frame's stores between could alias them).

/** This side's index: where the next frame goes (produceNextSeen, cursorSlotAt). */
@inline export function producerIndex(cur: usize): u32 { return load<u32>(cur, CUR_LOCAL); }

/**
 * produceReserve as far as the cursor already knows, with no side effect, for a frame of `size`
 * bytes at `local` (producerIndex): the index after that frame. It equals the last peer index
 * seen exactly when that leaves no room (produceFullSeen; in a packed ring the room is for the
 * largest frame, as produceReserve asks): then produceReserve decides (it looks at the peer,
 * and may publish). No sentinel: a select of one, tested again, cost the walks 7 instructions.
 */
@inline export function produceNextSeen(cur: usize, local: u32, size: u32): u32 {
  const most = load<u32>(cur, CUR_MAX_UNITS);
  if (most > 1) {
    // With room, the frame ends short of the peer (freeUnits keeps one unit between them).
    const peer = load<u32>(cur, CUR_CACHED);
    if (freeUnits(cur, local, peer) < most) return peer;
    return advanceIndex(cur, local, frameUnits(size, most));
  }
  return nextIndex(cur, local);
}

/** No room as last seen for the frame produceNextSeen gave `next` for. */
@inline export function produceFullSeen(cur: usize, next: u32): bool {
  return next == load<u32>(cur, CUR_CACHED);
}

/**
 * produceCommit of the frame written at the index before `next` (produceNextSeen, for that
 * frame's msg_size). True when the step is left unpublished (= hasPending after it), so the
 * caller need not load CUR_PENDING back.
 */
@inline export function produceCommitTo(cur: usize, next: u32): bool {
  store<u32>(cur, next, CUR_LOCAL);
  const pending = load<u32>(cur, CUR_PENDING) + 1;
  if (pending >= load<u32>(cur, CUR_BATCH)) { publishIndex(cur, next); return false; }
  store<u32>(cur, pending, CUR_PENDING);
  return true;
}

/** produceReserve of a packed ring: room for the largest frame (its size is known only at commit). */
function packedReserve(cur: usize): usize {
  const local = load<u32>(cur, CUR_LOCAL);
  const maxUnits = load<u32>(cur, CUR_MAX_UNITS);
  if (freeUnits(cur, local, load<u32>(cur, CUR_CACHED)) < maxUnits) {
    const peer = loadPeerIndex(cur);
    if (peer == 0xffffffff || freeUnits(cur, local, peer) < maxUnits) {
      cursorFlush(cur);
      return 0;
    }
    store<u32>(cur, peer, CUR_CACHED);
  }
  return cursorSlotAt(cur, local);
}

/** Slots the producer at `local` may still fill before reaching the consumer at `peer` (one kept empty). */
@inline function freeUnits(cur: usize, local: u32, peer: u32): u32 {
  return peer > local ? peer - local - 1 : peer + load<u32>(cur, CUR_CAP) - local - 1;
}

/** Index `n` slots after `i`, wrapped. */
@inline function advanceIndex(cur: usize, i: u32, n: u32): u32 {
  const v = i + n;
  const cap = load<u32>(cur, CUR_CAP);
  return v >= cap ? v - cap : v;
}

/** Make the slot returned by produceReserve visible (now or with the batch). */
@inline export function produceCommit(cur: usize): void {
  const local = load<u32>(cur, CUR_LOCAL);
  // A packed frame's own msg_size says how many units it took (the reader computes the same).
  const next = load<u32>(cur, CUR_MAX_UNITS) > 1 ? packedNext(cur, local) : nextIndex(cur, local);
  store<u32>(cur, next, CUR_LOCAL);
  const pending = load<u32>(cur, CUR_PENDING) + 1;
  if (pending >= load<u32>(cur, CUR_BATCH)) publishIndex(cur, next);
  else store<u32>(cur, pending, CUR_PENDING);
}

/** The producer index after the frame written at `local` of a packed ring. */
function packedNext(cur: usize, local: u32): u32 {
  const slot = cursorSlotAt(cur, local);
  return advanceIndex(cur, local, frameUnits(<u32>load<u16>(slot, 6), load<u32>(cur, CUR_MAX_UNITS)));
}

// ---------------------------------------------------------------- producer runs
// A producer that writes many frames in a row (the echo device, the closed-loop driver) keeps
// its index in a local instead of a reserve and a commit per frame: it asks once how many units
// are free, writes frames in place from runStart(cur) while at least maxUnits(cur) are left
// (the rule produceReserve applies to each frame), and commits them with produceAdvance, at
// least every publishDue(cur) frames so the batch publishes when produceCommit would.

/** Units free from runStart(cur) as last seen (no look at the peer: a lower bound). */
@inline export function produceFreeSeen(cur: usize): u32 {
  return freeUnits(cur, load<u32>(cur, CUR_LOCAL), load<u32>(cur, CUR_CACHED));
}

/**
 * Units free from runStart(cur) after a fresh look at the consumer's index. When fewer than
 * `want` are free the ring is full for this producer, and its pending steps are published first
 * (as produceReserve does): the consumer must see them to free room.
 */
export function produceFreeNow(cur: usize, want: u32): u32 {
  const peer = loadPeerIndex(cur);
  if (peer == 0xffffffff) {
    cursorFlush(cur);
    return 0;
  }
  store<u32>(cur, peer, CUR_CACHED);
  const free = freeUnits(cur, load<u32>(cur, CUR_LOCAL), peer);
  if (free < want) cursorFlush(cur);
  return free;
}

/** Frames a producer may still commit before its batch publishes (>= 1). */
@inline export function publishDue(cur: usize): u32 {
  const pending = load<u32>(cur, CUR_PENDING);
  const batch = load<u32>(cur, CUR_BATCH);
  return pending < batch ? batch - pending : 1;
}

/** Commit `frames` frames written in place from runStart(cur), `units` units in all (published with the batch). */
@inline export function produceAdvance(cur: usize, units: u32, frames: u32): void {
  if (frames == 0) return;
  const next = advanceIndex(cur, load<u32>(cur, CUR_LOCAL), units);
  store<u32>(cur, next, CUR_LOCAL);
  const pending = load<u32>(cur, CUR_PENDING) + frames;
  if (pending >= load<u32>(cur, CUR_BATCH)) publishIndex(cur, next);
  else store<u32>(cur, pending, CUR_PENDING);
}

/** Free slots as last seen (a lower bound: the consumer may have freed more). */
export function produceFreeHint(cur: usize): u32 {
  const cap = load<u32>(cur, CUR_CAP);
  const local = load<u32>(cur, CUR_LOCAL);
  const peer = load<u32>(cur, CUR_CACHED);
  const used = local >= peer ? local - peer : local + cap - peer;
  return cap - 1 - used;
}

// ---------------------------------------------------------------- consumer

/** Address of the next slot to read, or 0 when the ring is empty (pending frees are published first). */
@inline export function consumePeek(cur: usize): usize {
  const local = load<u32>(cur, CUR_LOCAL);
  let peer = load<u32>(cur, CUR_CACHED);
  if (local == peer) {
    peer = loadPeerIndex(cur);
    if (peer == 0xffffffff || local == peer) {
      cursorFlush(cur);
      return 0;
    }
    store<u32>(cur, peer, CUR_CACHED);
  }
  const slot = cursorSlotAt(cur, local);
  const maxUnits = load<u32>(cur, CUR_MAX_UNITS);
  if (maxUnits > 1) {
    // Read the size once, here: release() advances by what was seen now, never past what the
    // producer published (a frame claiming more is the producer's fault, and is cut short).
    const avail = peer > local ? peer - local : peer + load<u32>(cur, CUR_CAP) - local;
    const u = frameUnits(<u32>load<u16>(slot, 6), maxUnits);
    store<u32>(cur, u > avail ? avail : u, CUR_PEEK_UNITS);
  }
  return slot;
}

/** Give the slot returned by consumePeek back to the producer (now or with the batch). */
@inline export function consumeRelease(cur: usize): void {
  const local = load<u32>(cur, CUR_LOCAL);
  const next = load<u32>(cur, CUR_MAX_UNITS) <= 1 ? nextIndex(cur, local) : advanceIndex(cur, local, load<u32>(cur, CUR_PEEK_UNITS));
  store<u32>(cur, next, CUR_LOCAL);
  const pending = load<u32>(cur, CUR_PENDING) + 1;
  if (pending >= load<u32>(cur, CUR_BATCH)) publishIndex(cur, next);
  else store<u32>(cur, pending, CUR_PENDING);
}

/**
 * Slots readable now (frames, unless the ring is packed: then units, walked frame by frame with
 * frameUnits): the cached count, or, when that is 0, a fresh look at the peer index
 * (publishing pending frees first when the ring is empty). With consumeAdvance this lets a
 * consumer walk a run of slots with its index in a register instead of in memory.
 */
@inline export function consumeAvailable(cur: usize): u32 {
  const local = load<u32>(cur, CUR_LOCAL);
  let peer = load<u32>(cur, CUR_CACHED);
  if (local == peer) {
    peer = loadPeerIndex(cur);
    if (peer == 0xffffffff || local == peer) {
      cursorFlush(cur);
      return 0;
    }
    store<u32>(cur, peer, CUR_CACHED);
  }
  return peer > local ? peer - local : peer + load<u32>(cur, CUR_CAP) - local;
}

/** Give back `n` slots (units of a packed ring) read from the current position (published with the batch). */
@inline export function consumeAdvance(cur: usize, n: u32): void {
  if (n == 0) return;
  const cap = load<u32>(cur, CUR_CAP);
  let local = load<u32>(cur, CUR_LOCAL) + n;
  if (local >= cap) local -= cap;
  store<u32>(cur, local, CUR_LOCAL);
  const pending = load<u32>(cur, CUR_PENDING) + n;
  if (pending >= load<u32>(cur, CUR_BATCH)) publishIndex(cur, local);
  else store<u32>(cur, pending, CUR_PENDING);
}

// ---------------------------------------------------------------- runs
// A consumer that walks a run (consumeAvailable, then consumeAdvance) keeps its index in a local
// and reads the ring's geometry once, before the walk: loads from the cursor would not be
// hoisted past the walk's stores. These name what it reads and how it steps.

/** This side's index: the first slot of the run consumeAvailable counted. */
@inline export function runStart(cur: usize): u32 { return load<u32>(cur, CUR_LOCAL); }
/** Address of slot 0. */
@inline export function ringSlots(cur: usize): usize { return <usize>load<u32>(cur, CUR_SLOTS); }
/** Bytes from one slot to the next. */
@inline export function slotStride(cur: usize): u32 { return load<u32>(cur, CUR_STRIDE); }
/** Number of slots (units, in a packed ring). */
@inline export function ringCapacity(cur: usize): u32 { return load<u32>(cur, CUR_CAP); }
/** Most slots one frame takes (1 = a frame per slot). */
@inline export function maxUnits(cur: usize): u32 { return load<u32>(cur, CUR_MAX_UNITS); }
/** A packed ring: frames take frameUnits(msg_size) slots. */
@inline export function isPacked(cur: usize): bool { return load<u32>(cur, CUR_MAX_UNITS) > 1; }
/** Address of slot `i` of a ring whose slot 0 is at `slots`. */
@inline export function slotAt(slots: usize, stride: u32, i: u32): usize { return slots + <usize>i * <usize>stride; }
/** The slot after `i` (compare-and-wrap). */
@inline export function slotNext(i: u32, cap: u32): u32 {
  if (++i == cap) i = 0; // compare-and-wrap: capacities need not be powers of two
  return i;
}
/** The slot `n` (<= cap) after `i`, wrapped. */
@inline export function slotAfter(i: u32, n: u32, cap: u32): u32 {
  i += n;
  if (i >= cap) i -= cap;
  return i;
}
/** Steps taken but not yet published. */
@inline export function hasPending(cur: usize): bool { return load<u32>(cur, CUR_PENDING) != 0; }

/** Frames readable as last seen (a lower bound). */
export function consumeAvailableHint(cur: usize): u32 {
  const cap = load<u32>(cur, CUR_CAP);
  const local = load<u32>(cur, CUR_LOCAL);
  const peer = load<u32>(cur, CUR_CACHED);
  return peer >= local ? peer - local : peer + cap - local;
}
