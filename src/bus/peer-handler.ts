// What a stream link does with each far end it reaches: the driver session (src/bus/stream.ts)
// or the gateway session (src/bus/gateway.ts). The link owns sockets, handshakes and
// reconnects; a handler owns the router side of one peer.
import type { StreamConnection } from './stream-connection.js';

/** What one end of a stream link does with its connections (one handler per peer). */
export interface PeerHandler {
  /** A connection to the peer was established: start moving frames. */
  up(conn: StreamConnection): Promise<void>;
  /** That connection ended (`reason`): clean up what depended on it. */
  down(reason: string): Promise<void>;
  /** The link closes for good: release the router endpoint. */
  close(): Promise<void>;
  /** Local device numbers reachable through this peer now. */
  readonly devices: readonly number[];
  /** Remote → local device numbers now (gateway handlers; empty for drivers). */
  deviceMap(): DeviceMapping[];
}

export interface DeviceMapping {
  remote: number;
  local: number;
}
