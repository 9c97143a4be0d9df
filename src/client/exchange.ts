// Request/response exchanges over a FrameChannel for the tools that talk to a bus step by step
// (conformance checks, device discovery, probes, replay): send frames with backpressure handled, and
// collect what comes back until a condition holds or the time is up. Everything received is
// kept in order, so a check can look at every frame the bus sent, not only the one it expected.
import { B_PING, HDR_SIZE, TYPE_BUS, TYPE_RESPONSE } from '../protocol/constants.js';
import { le16, le32 } from '../protocol/header.js';

/**
 * The part of a bus's frame channel (src/bus/bus-link.ts FrameChannel) an exchange uses: the
 * client layer sits below the buses and names only what it needs.
 */
export interface FrameChannel {
  readonly maxMessageSize: number;
  send(frame: Uint8Array): boolean;
  flush(): void;
  recv(): Uint8Array | null;
  wait(timeoutMs: number): Promise<boolean>;
}

/** A frame as received, with the time it was taken from the channel (performance.now() ms). */
export interface Received {
  frame: Uint8Array;
  at: number;
}

export class Exchange {
  /** Frames received and not yet taken by a receive() or drain(). */
  private inbox: Received[] = [];
  private nextToken = 1;

  /** When given, every frame received is also appended here (a record of all the bus sent). */
  constructor(readonly channel: FrameChannel, private readonly log?: Received[]) {}

  /** A fresh non-zero token (events use 0), unique among the next 65535 requests of this exchange. */
  token(): number {
    const t = this.nextToken;
    this.nextToken = t === 0xffff ? 1 : t + 1;
    return t;
  }

  /** Answers the other side's keep-alive PINGs (`pings.answered` counts them). */
  readonly pings = new PingResponder();

  private pull(): number {
    let n = 0;
    for (let f = this.channel.recv(); f !== null; f = this.channel.recv()) {
      const r = { frame: f, at: performance.now() };
      this.log?.push(r);
      // A bus that PINGs its peer (a vmsg route shared-memory link: ping=250 by default) declares
      // a silent peer dead; answer its PINGs here, they are no answer to anything we asked.
      if (this.pings.take(f)) continue;
      this.inbox.push(r);
      n++;
    }
    this.pings.send(this.channel);
    return n;
  }

  /**
   * Send every frame in order and publish them; a full bus is waited out (frames that arrive
   * meanwhile are kept). Throws when the bus takes nothing for `timeoutMs`.
   */
  async send(frames: Uint8Array[], timeoutMs = 5000): Promise<void> {
    let deadline = performance.now() + timeoutMs;
    for (const f of frames) {
      while (!this.channel.send(f)) {
        this.channel.flush();
        this.pull();
        if (performance.now() > deadline) throw new Error(`the bus accepted no frame for ${timeoutMs} ms (its ring stays full)`);
        await new Promise((r) => setTimeout(r, 1));
      }
      deadline = performance.now() + timeoutMs;
    }
    this.channel.flush();
  }

  /**
   * Receive until `done(all frames received so far in this call)` is true or `timeoutMs`
   * passes; returns those frames (they leave the inbox).
   */
  async receive(done: (got: Received[]) => boolean, timeoutMs: number): Promise<Received[]> {
    const deadline = performance.now() + timeoutMs;
    const got: Received[] = [];
    for (;;) {
      this.pull();
      got.push(...this.inbox);
      this.inbox = [];
      if (done(got)) return got;
      const left = deadline - performance.now();
      if (left <= 0) return got;
      await this.channel.wait(Math.min(left, 50));
    }
  }

  /** Everything that arrives within `ms` (a quiet period: checks that nothing unexpected comes). */
  quiet(ms: number): Promise<Received[]> {
    return this.receive(() => false, ms);
  }

  /** Frames already received, without waiting. */
  drain(): Received[] {
    this.pull();
    const got = this.inbox;
    this.inbox = [];
    return got;
  }
}

/** True for a bus PING request (the peer's keep-alive): it must be answered with its data echoed. */
export const isPingRequest = (f: Uint8Array): boolean => f.length >= HDR_SIZE + 4 && f[0] === TYPE_BUS && f[1] === B_PING;

/** The answer to the PING request `f`: the same header and data with the response bit set. */
export function pingAnswer(f: Uint8Array): Uint8Array {
  const r = f.slice(0, HDR_SIZE + 4);
  r[0] = TYPE_BUS | TYPE_RESPONSE;
  r[6] = r.length & 0xff;
  r[7] = r.length >> 8;
  return r;
}

/**
 * Answers the other side's keep-alive PINGs for a driver that reads a channel itself: `take`
 * every received frame (true: it was a PING, now queued for an answer), then `send` — answers
 * the bus has no room for now wait for the next call, none is lost.
 */
export class PingResponder {
  private pending: Uint8Array[] = [];
  /** PINGs answered so far. */
  answered = 0;

  take(f: Uint8Array): boolean {
    if (!isPingRequest(f)) return false;
    this.pending.push(pingAnswer(f));
    return true;
  }

  /** Send what the channel takes now (and flush); returns how many answers went out. */
  send(channel: FrameChannel): number {
    let n = 0;
    while (n < this.pending.length && channel.send(this.pending[n]!)) n++;
    if (n > 0) {
      this.pending.splice(0, n);
      this.answered += n;
      channel.flush();
    }
    return n;
  }
}

export const u16 = le16;
export const u32 = le32;

/** Build a frame: header fields, then the payload bytes; msg_size is the total. */
export function frame(type: number, msgId: number, dev: number, token: number, payload: Uint8Array | number[] = []): Uint8Array {
  const f = new Uint8Array(HDR_SIZE + payload.length);
  const dv = new DataView(f.buffer);
  f[0] = type;
  f[1] = msgId;
  dv.setUint16(2, dev, true);
  dv.setUint16(4, token, true);
  dv.setUint16(6, f.length, true);
  f.set(payload, HDR_SIZE);
  return f;
}

/** Little-endian u32 words as payload bytes. */
export function words(...w: number[]): Uint8Array {
  const b = new Uint8Array(4 * w.length);
  const dv = new DataView(b.buffer);
  w.forEach((x, i) => dv.setUint32(4 * i, x >>> 0, true));
  return b;
}
