// What the translator (translate.ts) needs of a legacy v0 bus, whatever carries it: QEMU
// linux-user's queue files and doorbell socket (qemu-v0.ts) or OpenAMP's static queues
// (openamp.ts). We are always the driver side of such a bus.

export type LegacyDialect = 'qemu' | 'openamp';

export interface LegacyWire {
  readonly dialect: LegacyDialect;
  /** Where the device sees the memory the driver's virtqueues must live in, when known. */
  readonly memory: { base: number; size: number } | undefined;
  /** Queue one 40-byte v0 frame for the device; false when the bus has no room now. */
  send(frame: Uint8Array): boolean;
  /** The device has taken (consumed) every frame sent so far. */
  taken(): boolean;
  /** The next frame the device sent (a 40-byte copy), or null. */
  recv(): Uint8Array | null;
  /** Called when the device signals (a doorbell); buses without one are polled. */
  onSignal: () => void;
  /** True when the device signals every frame it sends (no need to poll for them while idle). */
  readonly signalled: boolean;
  /** Settles with why, once, when the bus fails (socket closed, layout gone). */
  readonly down: Promise<string>;
  close(): void;
}
