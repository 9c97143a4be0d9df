// The conformance checker's view of the bus under test: one Exchange over the FrameChannel, a
// log of every frame received (rules about "everything the bus sent" read it), the device under
// test, and `ask()`: one request, its answer (or the bus's transport-failure report), and any
// further answer to it that would break "exactly one response".
import type { FrameChannel } from '../bus/bus-link.js';
import { Exchange, frame, u16, type Received } from '../client/exchange.js';
import type { Profile } from '../protocol/codec.js';
import { TYPE_BUS, TYPE_RESPONSE } from '../protocol/constants.js';
import { reasonName } from '../protocol/reasons.js';
import { failedDevice, failedReason, failedToken, isRequestFailed } from '../client/request-failed.js';


export interface ConformOptions {
  /** Device under test (device rules, and the bus rules that need a device). Default: the first GET_DEVICES reports. */
  dev?: number;
  /** Payload layouts: PR28 / PATCH v1 ('rev1', default) or the 2026 deltas ('rev1-2026'). */
  profile?: Profile;
  /**
   * How long an answer may take. Must exceed the bus's own request timeout: a bus that ends a
   * dropped request with a failure holds later answers of that device until then. Default 3000 ms.
   */
  timeoutMs?: number;
  /** How long to listen for frames that must not come (duplicates, answers to dropped frames). Default 200 ms. */
  quietMs?: number;
  /**
   * How long to wait for the device under test's first answer before any rule runs: a router in
   * front holds a device's answers behind requests it has not ended yet (those an earlier run left
   * unanswered, until the router's own request timeout). Default 15000 ms.
   */
  settleMs?: number;
  /** Run only rules whose id starts with one of these (e.g. "bus", "device.reset"). */
  only?: string[];
  /**
   * Guest address of memory the device can reach, where the virtqueue check places its queue
   * (descriptor table, driver area at +0x1000, device area at +0x2000; 12 KiB in all). A device
   * may refuse a queue it cannot address. Default 0x1_0000_0000: the guest memory `vmsg route`
   * gives its built-in devices.
   */
  queueBase?: bigint;
}

export const DEFAULT_QUEUE_BASE = 0x1_0000_0000n;

export interface Answer {
  /** The answer's frame, when one came. */
  answer: Uint8Array | undefined;
  /** The bus reported a transport failure for the request instead (reason name). */
  failure: string | undefined;
  /** Further answers to the same request seen before returning. */
  extra: Uint8Array[];
}

/** True when `f` answers a request of (`bus`, `dev`, `msgId`, `token`); the token must match when `byToken`. */
export function answers(f: Uint8Array, bus: boolean, dev: number, msgId: number, token: number, byToken = true): boolean {
  if (f.length < 8 || (f[0]! & TYPE_RESPONSE) === 0 || ((f[0]! & TYPE_BUS) !== 0) !== bus || f[1] !== msgId) return false;
  if (!bus && u16(f, 2) !== dev) return false;
  return !byToken || u16(f, 4) === token;
}

/** The failure report for (`dev`, `token`), if `f` is one: its reason name. */
export function failureFor(f: Uint8Array, dev: number, token: number): string | undefined {
  if (isRequestFailed(f, 0, f.length) && failedDevice(f, 0) === dev && failedToken(f, 0) === token) return reasonName(failedReason(f, 0));
  return undefined;
}

export const hex = (f: Uint8Array): string => Buffer.from(f).toString('hex');

export class ConformContext {
  /** Every frame received during the run, in order. */
  readonly log: Received[] = [];
  readonly ex: Exchange;
  readonly profile: Profile;
  readonly timeoutMs: number;
  readonly quietMs: number;
  readonly settleMs: number;
  readonly queueBase: bigint;
  /** Devices GET_DEVICES reported (undefined: the walk failed). */
  devices: number[] | undefined;
  /** Device under test, undefined when there is none. */
  dev: number | undefined;
  /** Why there is no device under test. */
  noDevice = '';
  /** Filled by the GET_DEVICE_INFO rule: what the device reported. */
  info: { configSize: number; maxQueues: number; featureBits: number } | undefined;
  /** Memo of shared exchanges (several rules judge one burst). */
  readonly memo = new Map<string, Promise<unknown>>();

  constructor(readonly channel: FrameChannel, opts: ConformOptions) {
    this.ex = new Exchange(channel, this.log);
    this.profile = opts.profile ?? 'rev1';
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.quietMs = opts.quietMs ?? 200;
    this.settleMs = opts.settleMs ?? 15_000;
    this.queueBase = opts.queueBase ?? DEFAULT_QUEUE_BASE;
  }

  token(): number {
    return this.ex.token();
  }

  async send(frames: Uint8Array[]): Promise<void> {
    await this.ex.send(frames);
  }

  /** Receive until `done` holds or the timeout (everything received also goes to the log). */
  receive(done: (got: Received[]) => boolean, timeoutMs = this.timeoutMs): Promise<Received[]> {
    return this.ex.receive(done, timeoutMs);
  }

  quiet(ms = this.quietMs): Promise<Received[]> {
    return this.receive(() => false, ms);
  }

  /** Build a transport request to the device under test. */
  request(msgId: number, payload: Uint8Array | number[] = [], token = this.token()): Uint8Array {
    return frame(0, msgId, this.dev ?? 0, token, payload);
  }

  /**
   * Send one request and wait for its answer (matched by class, dev_num, msg_id and token; an
   * answer with another token is taken when nothing else is in flight, since a bus may leave
   * tokens as the device wrote them, PROTOCOL.md §7 rule 9) or the bus's failure report for it.
   */
  async ask(req: Uint8Array, opts: { listenForMore?: boolean; timeoutMs?: number } = {}): Promise<Answer> {
    const bus = (req[0]! & TYPE_BUS) !== 0, id = req[1]!, dev = u16(req, 2), token = u16(req, 4);
    const match = (f: Uint8Array): boolean => answers(f, bus, dev, id, token, false);
    await this.send([req]);
    const got = await this.receive((g) => g.some((r) => match(r.frame) || failureFor(r.frame, dev, token) !== undefined), opts.timeoutMs);
    const all = got.map((r) => r.frame);
    if (opts.listenForMore === true) all.push(...(await this.quiet()).map((r) => r.frame));
    const matching = all.filter(match);
    const failure = all.map((f) => failureFor(f, dev, token)).find((x) => x !== undefined);
    return { answer: matching[0], failure, extra: matching.slice(1) };
  }

  /** "no answer within N ms" / "the bus reported REASON" for a request that got no answer. */
  describeMissing(a: Answer, what: string): string {
    return a.failure !== undefined ? `${what}: the bus reported a transport failure (${a.failure}) instead of an answer` : `${what}: no answer within ${this.timeoutMs} ms`;
  }
}
