// Which device numbers a gateway's shard forwards as they are (src/bus/shard-bridge.ts): an 8 KiB
// bitmap in the router's shared memory, bit n set while remote device n is attached as local
// device n. Frames of other numbers (remapped ones) go through the main thread's remap.
import type { Router } from '../router/router.js';

/** Bit n set = device number n is the same on both sides and attached: the shard forwards its frames as they are. */
export class DeviceFilter {
  readonly at: number;
  private readonly u8: Uint8Array;

  constructor(private readonly router: Router) {
    this.at = router.mem.alloc(8192);
    this.u8 = router.mem.u8;
  }

  set(n: number, on: boolean): void {
    const i = this.at + (n >>> 3);
    const v = on ? this.u8[i]! | (1 << (n & 7)) : this.u8[i]! & ~(1 << (n & 7));
    Atomics.store(this.u8, i, v);
  }

  /** Once no bridge uses it any more. */
  free(): void {
    this.router.mem.free(this.at, 8192);
  }
}
