// The device side of a bus model's prediction (bench/model-validate*.ts): a FrameChannel that
// answers the moment a frame is flushed, in the caller's thread, as the project's C peers do
// (status 0x0f to every request, PING data back, an EVENT_USED per EVENT_AVAIL), so everything
// the bus costs in a prediction is the model's.
import type { FrameChannel } from '../src/bus/bus-link.js';

/** A device that answers the moment a frame is flushed, as the C peer does (no bus, no thread). */
export class IdealDevice implements FrameChannel {
  constructor(readonly maxMessageSize = 64) {}
  private readonly sent: Uint8Array[] = [];
  private readonly answers: Uint8Array[] = [];
  send(f: Uint8Array): boolean {
    this.sent.push(f.slice());
    return true;
  }
  flush(): void {
    for (const f of this.sent.splice(0)) {
      if ((f[0]! & 1) !== 0) continue;
      const a = new Uint8Array(12);
      a.set(f.subarray(0, 6));
      a[6] = 12;
      if ((f[1]! & 0x40) !== 0) {
        if (f[1] !== 0x41) continue;
        a[0] = 0; a[1] = 0x42; a[4] = 0; a[5] = 0; // EVENT_USED for the same queue, token 0
        a.set(f.subarray(8, 12), 8);
      } else {
        a[0] = f[0]! | 1;
        if (f[1] === 0x03 && (f[0]! & 2) !== 0) a.set(f.subarray(8, 12), 8); // PING data back
        else a[8] = 0x0f;
      }
      this.answers.push(a);
    }
  }
  recv(): Uint8Array | null {
    return this.answers.shift() ?? null;
  }
  async wait(timeoutMs: number): Promise<boolean> {
    if (this.answers.length > 0) return true;
    await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 1)));
    return this.answers.length > 0;
  }
  async close(): Promise<void> {}
}
