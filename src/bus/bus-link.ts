// What every external bus adapter (src/bus/<kind>.ts) gives the router and the CLI. A bus link
// joins the router to one separately running program: an external driver (the program drives
// devices through us: we are its bus's device side) or an external device-side bus (we discover
// its devices with GET_DEVICES and route our drivers' requests to them).

/** How a link ended, reported once. */
export interface LinkDown {
  /** 'closed' = we closed it; 'peer-shutdown' = the peer said so; 'peer-dead' = detected (state, missed pings, socket loss). */
  cause: 'closed' | 'peer-shutdown' | 'peer-dead' | 'error';
  detail: string;
}

export interface BusLink {
  /** The URI the link was opened from. */
  readonly uri: string;
  /** Which side of the router the external program sits on. */
  readonly side: 'driver' | 'device';
  /** Router device numbers reachable through this link (device side), kept current across hotplug. */
  readonly devices: readonly number[];
  /** What the link's start-up line adds, if anything (e.g. its bus model and what that costs). */
  readonly detail?: string | undefined;
  /** Settles when the link goes down, whatever the cause (never rejects). */
  readonly down: Promise<LinkDown>;
  /** Detach from the router (devices REMOVED, in-flight requests failed) and release files/sockets. */
  close(): Promise<void>;
}

/**
 * A driver's raw frame channel to a device-side bus: what `vmsg bench --target URI` drives.
 * Frames are whole virtio-msg messages (header + payload).
 */
export interface FrameChannel {
  /** Largest frame the bus carries. */
  readonly maxMessageSize: number;
  /**
   * True when received frames reach recv() only through this thread's event loop (sockets):
   * a caller that polls must yield to the loop often, or answers wait for its next yield.
   */
  readonly eventDriven?: boolean;
  /** Queue one frame; false when the bus has no room now (call flush(), wait, retry). */
  send(frame: Uint8Array): boolean;
  /** Publish queued frames and notify the peer (batched: one notification for many frames). */
  flush(): void;
  /** The next received frame (a copy), or null when none is ready. */
  recv(): Uint8Array | null;
  /** Resolves true when a frame may be readable (or, after a send found the ring full, room may be back), false after timeoutMs. */
  wait(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}
