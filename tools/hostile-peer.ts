// A hostile driver on a shared-memory window (vmamp or SPSC, docs/BUSES.md §2, §3), as a
// separate process: it attaches like `vmsg bench --target` and keeps requests flowing to a
// device, while it attacks the window with one of
//   indices  its published indices out of range, backwards, jumping ahead; then re-synced
//   torn     frames whose index is published before their bytes, bytes rewritten while the
//            router may read them (header included)
//   states   its vmamp queue head flipped between states and garbage (magic included)
//   shrink   the window file truncated under both processes (the router must not die of SIGBUS)
// One session per process: it ends after --seconds, or once the attack took the link down.
// Prints one JSON line of what it did. Run by tools/hostile-session.ts (soak, tests).
import { truncateSync } from 'node:fs';
import { openFrameChannel } from '../src/bus/open.js';
import type { ShmFrameChannel } from '../src/bus/shm-channel.js';
import { parseLinkUri } from '../src/bus/uri.js';
import { CUR_CAP, CUR_FLAGS, CUR_LOCAL, CUR_PEER, CUR_PENDING, CUR_PUB, CUR_SLOTS, CUR_STRIDE, CUR_CACHED, CURF_IDX16 } from '../src/ring/cursor.js';
import { VMAMP_QH_MAGIC, VMAMP_QH_STATUS, VMAMP_QH_TAIL, VMAMP_STATE_READY, VMAMP_STATE_RUN } from '../src/wasm/layout.js';
import { pageSize } from '../src/native/mmap.js';
import { ATTACKS, type Attack } from './hostile-attacks.js';


interface Args {
  target: string;
  attack: Attack;
  seconds: number;
  dev: number;
  seed: number;
  /** shrink: the length to truncate to; default one of 0, 64 bytes, one page (the last two need not fault). */
  shrinkTo: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { seconds: 2, dev: 1, seed: 1, shrinkTo: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--target') a.target = v;
    else if (k === '--attack') {
      if (!(ATTACKS as readonly string[]).includes(v)) throw new Error(`--attack must be one of ${ATTACKS.join(', ')}, got ${v}`);
      a.attack = v as Attack;
    } else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--dev') a.dev = Number(v);
    else if (k === '--seed') a.seed = Number(v) >>> 0;
    else if (k === '--shrink-to') a.shrinkTo = Number(v);
    else throw new Error(`unknown option ${k}; usage: hostile-peer --target URI --attack ${ATTACKS.join('|')} [--seconds S] [--dev D] [--seed N] [--shrink-to BYTES]`);
  }
  if (a.target === undefined || a.attack === undefined) throw new Error('--target and --attack are required');
  return a as Args;
}

/** xorshift32: a session is a function of its seed (up to the router's timing). */
function rng(seed: number): (n: number) => number {
  let s = seed || 0x9e3779b9;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rand = rng(args.seed);
  const uri = parseLinkUri(args.target);
  const file = uri.text.slice(uri.scheme.length + 1).split('?')[0]!;
  const ch = (await openFrameChannel(args.target, { waitMs: 20_000 })) as ShmFrameChannel;
  const { mem, txCursor, rxCursor } = ch.rings();
  const { u8, u16, u32 } = mem;
  const cw = (cur: number, field: number): number => u32[(cur + field) >>> 2]!;
  const idx16 = (cw(txCursor, CUR_FLAGS) & CURF_IDX16) !== 0;
  const loadIdx = (addr: number): number => (idx16 ? Atomics.load(u16, addr >>> 1) : Atomics.load(u32, addr >>> 2));
  const storeIdx = (addr: number, v: number): void => void (idx16 ? Atomics.store(u16, addr >>> 1, v) : Atomics.store(u32, addr >>> 2, v));
  const isVmamp = uri.scheme === 'vmamp';
  // Our vmamp queue head holds the tail we publish at +4 (docs/ARCHITECTURE.md "vmamp window").
  const myQh = cw(txCursor, CUR_PUB) - VMAMP_QH_TAIL;
  const peerQh = cw(txCursor, CUR_PEER) - 6;
  const done = { attack: args.attack, sent: 0, received: 0, indexWrites: 0, outOfRange: 0, torn: 0, stateFlips: 0, truncated: 0, linkGone: false };

  const request = (token: number): Uint8Array => {
    const f = new Uint8Array(8);
    f[0] = 0;
    f[1] = 0x07; // GET_DEVICE_STATUS: an 8-byte request every device answers
    f[2] = args.dev & 0xff;
    f[3] = args.dev >>> 8;
    f[4] = token & 0xff;
    f[5] = (token >>> 8) & 0xff;
    f[6] = 8;
    return f;
  };
  /** Our cursors agree with what we published (after an attack wrote something else there). */
  const resync = (): void => {
    // Producer: continue where the router's consumer is, so the ring is empty in both views.
    const txPeer = loadIdx(cw(txCursor, CUR_PEER));
    const cap = cw(txCursor, CUR_CAP);
    const tx = txPeer < cap ? txPeer : 0;
    storeIdx(cw(txCursor, CUR_PUB), tx);
    u32[(txCursor + CUR_LOCAL) >>> 2] = tx;
    u32[(txCursor + CUR_CACHED) >>> 2] = tx;
    u32[(txCursor + CUR_PENDING) >>> 2] = 0;
    // Consumer: everything the router published counts as read.
    const rxPeer = loadIdx(cw(rxCursor, CUR_PEER));
    const rx = rxPeer < cw(rxCursor, CUR_CAP) ? rxPeer : 0;
    storeIdx(cw(rxCursor, CUR_PUB), rx);
    u32[(rxCursor + CUR_LOCAL) >>> 2] = rx;
    u32[(rxCursor + CUR_CACHED) >>> 2] = rx;
    u32[(rxCursor + CUR_PENDING) >>> 2] = 0;
  };
  // The router may still be READY when this side reached RUN (each side goes RUN on seeing the
  // other READY or RUN, a step apart): READY before its first RUN is bring-up, not a link gone.
  let peerRan = false;
  const peerGone = (): boolean => {
    if (!isVmamp) return false;
    const st = u16[(peerQh + VMAMP_QH_STATUS) >>> 1]! & 31;
    if (st === VMAMP_STATE_RUN) { peerRan = true; return false; }
    return peerRan || st !== VMAMP_STATE_READY;
  };

  /** A hostile index: out of range, backwards, or far ahead (in range). */
  const hostileIndex = (own: number, cap: number): number => {
    const max = idx16 ? 0xffff : 0xffffffff;
    switch (rand(6)) {
      case 0: return cap;
      case 1: return Math.min(max, cap + 1 + rand(1000));
      case 2: return max;
      case 3: return idx16 ? 0x8000 : 0x80000000;
      case 4: return (own + cap - 1 - rand(Math.max(1, cap - 1))) % cap; // backwards
      default: return (own + 1 + rand(cap - 1)) % cap; // a jump ahead
    }
  };

  /** One torn frame: index first, then the bytes, rewritten a while (the router may be reading). */
  const tornFrame = (token: number): boolean => {
    const cap = cw(txCursor, CUR_CAP);
    const local = cw(txCursor, CUR_LOCAL);
    const next = local + 1 === cap ? 0 : local + 1;
    if (next === loadIdx(cw(txCursor, CUR_PEER))) return false; // full
    const slot = cw(txCursor, CUR_SLOTS) + local * cw(txCursor, CUR_STRIDE);
    const stride = cw(txCursor, CUR_STRIDE);
    storeIdx(cw(txCursor, CUR_PUB), next);
    u32[(txCursor + CUR_LOCAL) >>> 2] = next;
    u8.set(request(token), slot);
    for (let i = 0, n = 1 + rand(64); i < n; i++) u8[slot + rand(Math.min(stride, 16))] = rand(256);
    if (rand(2) === 0) u8.set(request(token), slot); // sometimes the tear heals into a valid frame
    done.torn++;
    return true;
  };

  const end = performance.now() + args.seconds * 1000;
  const attackAt = performance.now() + 50 + rand(Math.max(1, args.seconds * 500)); // states, shrink: once, a little in
  let token = 1;
  let inFlight = 0;
  let iter = 0;
  while (performance.now() < end) {
    iter++;
    // Ordinary traffic, up to 8 in flight (lost answers are the attack's doing: forget them now and then).
    while (inFlight < 8 && ch.send(request(token))) { token = (token + 1) & 0xffff || 1; inFlight++; done.sent++; }
    ch.flush();
    for (let f = ch.recv(); f !== null; f = ch.recv()) { done.received++; inFlight = Math.max(0, inFlight - 1); }
    if (iter % 64 === 0) inFlight = 0;
    switch (args.attack) {
      case 'indices': {
        const which = rand(2) === 0 ? txCursor : rxCursor;
        const cap = cw(which, CUR_CAP);
        const v = hostileIndex(cw(which, CUR_LOCAL), cap);
        storeIdx(cw(which, CUR_PUB), v);
        done.indexWrites++;
        if (v >= cap) done.outOfRange++;
        for (let spin = rand(2000); spin > 0; spin--) if (peerGone()) break; // let the router see it
        resync();
        break;
      }
      case 'torn':
        for (let i = 0, n = 1 + rand(4); i < n; i++) if (!tornFrame(token)) break; else token = (token + 1) & 0xffff || 1;
        break;
      case 'states':
        if (isVmamp && performance.now() >= attackAt) {
          const states = [0, 1, 3, 4, 5 + rand(27), VMAMP_STATE_RUN];
          const st = rand(8) === 0 ? rand(0x10000) : states[rand(states.length)]!;
          Atomics.store(u16, (myQh + VMAMP_QH_STATUS) >>> 1, st);
          if (rand(4) === 0) Atomics.store(u16, (myQh + VMAMP_QH_MAGIC) >>> 1, rand(0x10000));
          done.stateFlips++;
        }
        break;
      case 'shrink':
        if (done.truncated === 0 && performance.now() >= attackAt) {
          const page = pageSize();
          truncateSync(file, args.shrinkTo ?? [0, page, 64][rand(3)]!);
          done.truncated++;
        }
        break;
    }
    if (peerGone() || (args.attack === 'shrink' && done.truncated > 0 && iter % 16 === 0 && performance.now() > attackAt + 500)) {
      done.linkGone = peerGone();
      break;
    }
    if (iter % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  if (args.attack === 'indices') resync();
  await ch.close();
  process.stdout.write(JSON.stringify(done) + '\n');
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`hostile-peer: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
