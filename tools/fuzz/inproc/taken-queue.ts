// The frames a far end wrote that the router has not taken yet, oldest first, with what the
// oracle predicted for each: a ring of typed arrays, so the per-frame bookkeeping of the
// in-process fuzzer allocates nothing (its garbage collection cost more than the routing).
// Only a driver's request carries an object (its outcome entry, kept until its outcome).

export class TakenQueue<R> {
  private cap = 64;
  private head = 0;
  private n = 0;
  private units = new Int32Array(this.cap);
  private verdicts = new Int32Array(this.cap);
  /** dev_num << 16 | token. */
  private keys = new Int32Array(this.cap);
  private msgIds = new Uint8Array(this.cap);
  private reqs: (R | undefined)[] = new Array<R | undefined>(this.cap).fill(undefined);

  get length(): number {
    return this.n;
  }

  push(units: number, verdict: number, dev: number, token: number, msgId: number, req: R | undefined): void {
    if (this.n === this.cap) this.grow();
    const i = (this.head + this.n) & (this.cap - 1);
    this.units[i] = units;
    this.verdicts[i] = verdict;
    this.keys[i] = (dev << 16) | token;
    this.msgIds[i] = msgId;
    this.reqs[i] = req;
    this.n++;
  }

  // The oldest entry's fields (valid while length > 0).
  get units0(): number { return this.units[this.head]!; }
  get verdict0(): number { return this.verdicts[this.head]!; }
  get dev0(): number { return this.keys[this.head]! >>> 16; }
  get token0(): number { return this.keys[this.head]! & 0xffff; }
  get msgId0(): number { return this.msgIds[this.head]!; }
  get req0(): R | undefined { return this.reqs[this.head]; }

  shift(): void {
    this.reqs[this.head] = undefined;
    this.head = (this.head + 1) & (this.cap - 1);
    this.n--;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const units = new Int32Array(cap), verdicts = new Int32Array(cap), keys = new Int32Array(cap), msgIds = new Uint8Array(cap);
    const reqs = new Array<R | undefined>(cap).fill(undefined);
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & (this.cap - 1);
      units[k] = this.units[i]!; verdicts[k] = this.verdicts[i]!; keys[k] = this.keys[i]!; msgIds[k] = this.msgIds[i]!; reqs[k] = this.reqs[i];
    }
    this.units = units; this.verdicts = verdicts; this.keys = keys; this.msgIds = msgIds; this.reqs = reqs;
    this.cap = cap;
    this.head = 0;
  }
}
