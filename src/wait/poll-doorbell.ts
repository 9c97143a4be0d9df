// A doorbell whose owner also waits for external peers' doorbell sockets: a router shard that
// takes its links' doorbell bytes itself (docs/ARCHITECTURE.md "The wake-up chain"), so a byte
// from a C peer wakes the shard directly instead of the main thread's event loop, which then
// had to wake the shard (two thread wake-ups per frame burst instead of one).
//
// With sockets to watch, sleep() announces DOORBELL_ASLEEP_POLL and sleeps in poll(2) on the
// sockets plus an eventfd that in-process wakers write instead of Atomics.notify (the protocol
// and its no-lost-wake-up argument: src/wait/doorbell.ts). Without sockets it is the plain
// futex sleep. Bytes are drained (non-blocking) before the announce, so a sleep never returns
// at once on bytes whose frames the last look already took; a byte drained before that look
// belongs to a publish the look sees (peers publish first, then send the byte).
import { Doorbell, DOORBELL_ASLEEP_POLL, DOORBELL_AWAKE, DOORBELL_POLL_FD, type Look } from './doorbell.js';
import { TAKE_CLOSED, TAKE_DATA, TAKE_EVENT, TAKE_RANG, type BellAddon } from '../native/bell.js';

/** The sockets a PollDoorbell watches; refreshed before every sleep and drain. */
export interface SocketSet {
  /** Descriptors fds[0 .. count - 1] (sockets the owner reads; nobody else may read them). */
  readonly fds: Int32Array;
  readonly count: number;
  /** Per-socket take() modes (src/native/bell.ts MODE_*); absent: every socket is a doorbell. */
  readonly modes?: Int32Array;
  /** Bring fds/count up to date (sockets added or removed since). */
  refresh(): void;
  /** After a poll: status[i] = 1 fds[i] rang, -1 it closed or failed (stop watching it), 0 neither; a data socket's READY_* bits. */
  report(status: Int32Array): void;
}

const NO_SOCKETS: SocketSet = { fds: new Int32Array(0), count: 0, refresh: () => {}, report: () => {} };

export class PollDoorbell extends Doorbell {
  /** Sleeps in poll(2) ended by a socket byte, by the eventfd (an in-process waker), by the timeout. */
  socketWakes = 0;
  eventWakes = 0;
  timeouts = 0;
  private readonly evfd: number;
  private readonly status = new Int32Array(64);

  /** `sockets` null: no sockets, the sleep is poll(2) on the eventfd alone (a worker woken by in-process wakers only). */
  constructor(buffer: SharedArrayBuffer, addr: number, private readonly addon: BellAddon, private readonly sockets: SocketSet | null) {
    super(buffer, addr);
    if (addr + DOORBELL_POLL_FD + 4 > buffer.byteLength) throw new RangeError('poll doorbell: no room for the eventfd after the word');
    this.evfd = addon.eventAcquire();
    Atomics.store(this.i32, this.at + (DOORBELL_POLL_FD >>> 2), this.evfd);
  }

  override sleep(look: Look, timeoutMs: number | (() => number)): boolean {
    const s = this.sockets ?? NO_SOCKETS;
    s.refresh();
    if ((s.count === 0 && this.sockets !== null) || this.evfd < 0) return super.sleep(look, timeoutMs);
    if (s.count !== 0) this.drain();
    Atomics.store(this.i32, this.at, DOORBELL_ASLEEP_POLL);
    // The last look must come after the ASLEEP_POLL store (src/wait/doorbell.ts).
    if (look()) {
      Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
      return true;
    }
    this.sleeps++;
    const ms = typeof timeoutMs === 'number' ? timeoutMs : timeoutMs();
    const r = this.addon.take(this.evfd, s.fds, s.count, ms, this.status, s.modes);
    Atomics.store(this.i32, this.at, DOORBELL_AWAKE);
    if (r === 0) this.timeouts++;
    if ((r & (TAKE_RANG | TAKE_DATA)) !== 0) this.socketWakes++;
    if ((r & TAKE_EVENT) !== 0) this.eventWakes++;
    if ((r & (TAKE_RANG | TAKE_CLOSED | TAKE_DATA)) !== 0) s.report(this.status);
    return false;
  }

  /**
   * Read the bytes the sockets hold without sleeping: a spinning owner calls this now and then,
   * so a peer that rings on every publish never fills its socket (and sees a closed one).
   */
  drain(): void {
    const s = this.sockets ?? NO_SOCKETS;
    s.refresh();
    if (s.count === 0) return;
    if ((this.addon.take(-1, s.fds, s.count, 0, this.status, s.modes) & (TAKE_RANG | TAKE_CLOSED | TAKE_DATA)) !== 0) s.report(this.status);
  }

  /** The owner stops for good: the eventfd goes back to the pool (never while asleep). */
  close(): void {
    if (this.evfd >= 0) this.addon.eventRelease(this.evfd);
  }
}
