// Everything a router shard's poll(2) sleep waits on besides its eventfd (src/wait/poll-doorbell.ts):
// its links' doorbell sockets (src/router/socket-bells.ts) and the stream connections it serves
// (src/router/stream-pumps.ts), as one socket set.
import type { SocketSet } from '../wait/poll-doorbell.js';
import type { ShardSockets } from './socket-bells.js';
import type { ShardPumps } from './stream-pumps.js';
import { SOCKET_BELL_SLOTS } from './socket-bells.js';
import { STREAM_PUMP_SLOTS } from './stream-pumps.js';

export class ShardSocketSet implements SocketSet {
  readonly fds = new Int32Array(SOCKET_BELL_SLOTS + STREAM_PUMP_SLOTS);
  readonly modes = new Int32Array(SOCKET_BELL_SLOTS + STREAM_PUMP_SLOTS);
  count = 0;
  private readonly status = new Int32Array(SOCKET_BELL_SLOTS);

  constructor(private readonly bells: ShardSockets, private readonly pumps: ShardPumps) {}

  refresh(): void {
    const { bells, pumps } = this;
    bells.refresh();
    pumps.refresh();
    const b = bells.count;
    this.fds.set(bells.fds.subarray(0, b));
    this.modes.fill(0, 0, b); // doorbells: take() drains them
    this.fds.set(pumps.fds.subarray(0, pumps.count), b);
    this.modes.set(pumps.modes.subarray(0, pumps.count), b);
    this.count = b + pumps.count;
  }

  report(status: Int32Array): void {
    const b = this.bells.count;
    if (b !== 0) {
      this.status.set(status.subarray(0, b));
      this.bells.report(this.status);
    }
    this.pumps.report(status, b);
  }
}
