// The in-process fuzzer's oracle. It watches every frame the far ends write and read, and the
// router's counters between routing calls, and reports where the router breaks a promise:
//
// - Differential: each frame the router takes gets the verdict of src/protocol/validate.ts
//   (validateRouter, with the link's direction, size limit and the attached devices), turned
//   into what the router must do with it: drop it with that reason, hand it to the control
//   plane, answer it (GET_DEVICES, PING), or route it. After each routing call, the source's
//   counters for the header-level reasons, the control plane and bus answers must move by
//   exactly what the taken frames predict. Where the two layers order their checks
//   differently, the rules are listed in `routerVerdict` (a frame with two defects is counted
//   under the one the router checks first).
// - Outcomes (docs/ARCHITECTURE.md "Order and head-of-line promises"): every request a driver
//   sends ends in exactly one outcome — its response, or one failure event whose reason is the
//   refusal it must get (unknown device, policy, too large for the device's link) or one the
//   router's state explains (DEVICE_BUSY, TIMEOUT, DRIVER_STALLED, a response too large for
//   the driver) — and a driver sees the outcomes of its requests to one device in the order it
//   sent them. Frames dropped for a stuck driver (ENDPOINT_STALLED) excuse as many missing
//   failure events and bus answers, never a response.
// - One labelling rule ("One labelling rule for answers"): a device's answer to a request
//   already answered is DUPLICATE_RESPONSE, to one closed by its deadline LATE_RESPONSE, with a
//   msg_id other than its request's (while it waits) RESPONSE_ID_MISMATCH, with token 0
//   UNMATCHED_RESPONSE; checked per routing call against the label counters.
// - DRIVER_STALLED only for a driver that has read nothing for longer than the timeout.
// - Delivery: every frame written to an endpoint passes the router checks for its direction,
//   size and the devices that endpoint may see; a device hears only about its own devices and
//   requests carry a router token (never 0, strictly after the previous one); a device event
//   reaches only a driver that sent that device a routable request; GET_DEVICES answers list
//   only devices the driver may see.
import { validateRouter, type ValidateContext } from '../../../src/protocol/validate.js';
import { Reason } from '../../../src/protocol/reasons.js';
import type { InprocRouter, Link } from './inproc-router.js';
import { TakenQueue } from './taken-queue.js';

export interface Violation {
  /** Short, stable name of what broke (the shrinker keeps cases that break the same thing). */
  kind: string;
  detail: string;
}

/** Reasons only a header check produces: counted at once, on the source, by the source's shard. */
const DRIVER_EXCLUSIVE = [Reason.MSG_SIZE_LT_HEADER, Reason.MSG_SIZE_GT_BUFFER, Reason.UNSUPPORTED_MSG_ID, Reason.RESPONSE_TO_EVENT,
  Reason.WRONG_DIRECTION, Reason.BUS_DEV_NUM_NONZERO, Reason.GET_DEVICES_ALIGNMENT, Reason.PAYLOAD_TRUNCATED,
  Reason.PAYLOAD_LENGTH_MISMATCH, Reason.UNVALIDATED_DEV_NUM] as number[];
const DEVICE_EXCLUSIVE = [Reason.MSG_SIZE_LT_HEADER, Reason.MSG_SIZE_GT_BUFFER, Reason.MSG_SIZE_GT_BUS_MAX, Reason.UNSUPPORTED_MSG_ID,
  Reason.RESPONSE_TO_EVENT, Reason.WRONG_DIRECTION, Reason.BUS_DEV_NUM_NONZERO, Reason.PAYLOAD_TRUNCATED,
  Reason.PAYLOAD_LENGTH_MISMATCH, Reason.UNVALIDATED_DEV_NUM, Reason.SPOOFED_DEV_NUM] as number[];
const LABELS = [Reason.UNMATCHED_RESPONSE, Reason.LATE_RESPONSE, Reason.DUPLICATE_RESPONSE, Reason.RESPONSE_ID_MISMATCH] as number[];
/** Failure reasons of a request the router would forward, explained by state, not by the frame. */
const STATE_FAILURES = new Set<number>([Reason.DEVICE_BUSY, Reason.TIMEOUT, Reason.DRIVER_STALLED, Reason.MSG_SIZE_GT_LINK_MAX]);

const P_CONTROL = -1; // handed to the control plane
const P_ANSWER = -2; //  a bus request the router answers
const P_LABEL = -3; //   a device's response: its label is predicted when it is taken
const P_REPORT = -4; //  a device link's VMSG_EVT_REQUEST_FAILED naming one of its devices: ends a request (terminated) or is labelled like an answer; not predicted
const P_ROUTE = 0; //    routed (forwarded, parked, refused with a failure, or dropped by state)

interface Req {
  token: number;
  msgId: number;
  /** The failure it must get (0: it is routable). */
  refusal: number;
  /** Taken while its driver had read nothing for longer than the timeout (or owned by another shard): DRIVER_STALLED possible. */
  stallable: boolean;
}

interface Recv {
  msgId: number;
  /** Router clock range within which it was forwarded. */
  lo: number;
  hi: number;
  /** Requests this device had received before it. */
  index: number;
  answered: boolean;
  closedLate: boolean;
  unsure: boolean;
}

class LinkModel {
  /**
   * Frames written and not yet taken: units, verdict (P_* or an exclusive drop reason), header
   * fields, and a driver's request's outcome entry (stallable is decided when the router takes it).
   */
  readonly fifo = new TakenQueue<Req>();
  /** Counter values on the link's own shard, last seen (index: EC_* counter). */
  readonly last: Float64Array;
  readonly exclusive: number[];
  readonly ctxIn: ValidateContext;
  readonly ctxOut: ValidateContext;
  // drivers
  readonly pending = new Map<number, Req[]>();
  readonly busPending: { id: number; token: number }[] = [];
  readonly requested = new Set<number>();
  lastRead = 0;
  /** Malformed request-shaped frames taken while the driver was stalled: the router refuses them too (see outcome). */
  readonly stallRefused = new Set<number>();
  /** Outcomes (requests) and bus answers found missing so far. */
  skips = 0;
  busSkips = 0;
  // devices
  readonly received = new Map<number, Map<number, Recv>>();
  readonly lastToken = new Map<number, number>();
  /** Requests received and not yet answered by the device model (the generator's to-do list). */
  readonly toAnswer: { dev: number; token: number; msgId: number }[] = [];
  receivedCount = 0;
  /** "dev:token" of answers taken before the device read that token: it may have been issued (and answered) already. */
  readonly tainted = new Set<number>();
  fwdLo = -1;
  fwdHi = -1;
  pingsOut = 0;

  constructor(readonly link: Link, counters: number, present: Set<number>, visible: Set<number>) {
    this.last = new Float64Array(counters);
    const max = link.cfg.maxMessageSize;
    const driver = link.cfg.kind === 'driver';
    this.exclusive = driver ? DRIVER_EXCLUSIVE : DEVICE_EXCLUSIVE;
    this.ctxIn = { direction: driver ? 'driver_to_device' : 'device_to_driver', busMaxSize: max, knownDevices: present };
    this.ctxOut = { direction: driver ? 'device_to_driver' : 'driver_to_device', busMaxSize: max, knownDevices: driver ? visible : new Set(link.cfg.devices ?? []) };
  }
}

export class Oracle {
  readonly violations: Violation[] = [];
  readonly models: LinkModel[];
  private readonly present: Set<number>;
  private readonly owner = new Map<number, Link>();
  private readonly lastExpire: number[];
  /** Extra failure reasons a fault plan makes possible (SHARD_RESTARTED). */
  readonly extraFailures = new Set<number>();
  /** Counts for the report. */
  framesWritten = 0;
  framesRead = 0;
  outcomes = 0;
  labelsPredicted = 0;
  /** Failure events for malformed frames of a stalled driver (a known disagreement, see outcome). */
  stalledMalformed = 0;

  constructor(private readonly r: InprocRouter) {
    this.present = new Set(r.devices.keys());
    for (const d of r.devices.values()) this.owner.set(d.dev, d.link);
    this.lastExpire = new Array<number>(r.opts.shards).fill(0);
    this.models = r.links.map((l) => {
      const visible = new Set([...this.present].filter((d) => l.cfg.allow === undefined || l.cfg.allow.includes(d)));
      return new LinkModel(l, r.L.EC_COUNTERS, this.present, visible);
    });
  }

  fail(kind: string, detail: string): void {
    if (this.violations.length < 50) this.violations.push({ kind, detail });
  }

  /** The far end of `link` wrote a frame at `at` (`room` bytes readable by the router, `units` slots). */
  onWrite(link: Link, at: number, room: number, units: number): void {
    const m = this.models[link.id]!;
    const u8 = this.r.mem.u8;
    const view = u8.subarray(at, at + room);
    const type = u8[at]!;
    const msgId = u8[at + 1]!;
    const dev = u8[at + 2]! | (u8[at + 3]! << 8);
    const token = u8[at + 4]! | (u8[at + 5]! << 8);
    const size = u8[at + 6]! | (u8[at + 7]! << 8);
    const verdict = this.routerVerdict(m, view, type, msgId, dev, size);
    let req: Req | undefined;
    this.framesWritten++;
    if (link.cfg.kind === 'driver') {
      if ((verdict === P_ROUTE || verdict === Reason.UNVALIDATED_DEV_NUM) && (type & 3) === 0 && (msgId & 0x40) === 0) {
        const refusal = this.refusalOf(link, dev, size);
        let q = m.pending.get(dev);
        if (q === undefined) m.pending.set(dev, (q = []));
        req = { token, msgId, refusal, stallable: this.owner.get(dev) !== undefined && this.owner.get(dev)!.cfg.shard !== link.cfg.shard };
        q.push(req);
        if (refusal === 0) m.requested.add(dev);
      } else if (verdict === P_ANSWER) {
        m.busPending.push({ id: msgId, token });
      }
    } else if (verdict === P_ANSWER) {
      m.pingsOut++;
    }
    m.fifo.push(units, verdict, dev, token, msgId, req);
  }

  /** The failure a routable request to `dev` must get whatever the router's state (0: none). */
  private refusalOf(link: Link, dev: number, size: number): number {
    if (!this.present.has(dev)) return Reason.UNVALIDATED_DEV_NUM;
    if (link.cfg.allow !== undefined && !link.cfg.allow.includes(dev)) return Reason.POLICY_DENIED;
    if (size > this.owner.get(dev)!.cfg.maxMessageSize) return Reason.MSG_SIZE_GT_BUS_MAX;
    return 0;
  }

  /**
   * What the router must do with a frame, from the validator's verdict. Where the router
   * checks in another order than validate.ts, a frame with two defects is counted under the
   * router's first; the rules, each a documented order of the hot path (assembly/router/):
   * 1. a bus message with a dev_num is BUS_DEV_NUM_NONZERO before its msg_id is looked at;
   * 2. bus frames the router does not terminate (responses, EVENT_DEVICE from a device,
   *    implementation-defined ids) go to the control plane unjudged: their payload and
   *    direction are the control plane's to check;
   * 3. a transport response from a driver is WRONG_DIRECTION whatever its msg_id;
   * 4. a device's transport frame is first looked up by dev_num (UNVALIDATED_DEV_NUM, then
   *    SPOOFED_DEV_NUM for another link's device), then a request from it is WRONG_DIRECTION
   *    whatever its msg_id, and a response is matched by its token (its label says why it is
   *    dropped: an unknown msg_id cannot match its request's).
   */
  private routerVerdict(m: LinkModel, view: Uint8Array, type: number, msgId: number, dev: number, size: number): number {
    const v = validateRouter(view, m.ctxIn);
    const reason = v.ok ? 0 : v.reason;
    if (reason === Reason.MSG_SIZE_LT_HEADER || reason === Reason.MSG_SIZE_GT_BUFFER || reason === Reason.MSG_SIZE_GT_BUS_MAX || reason === Reason.HDR_TRUNCATED) return reason;
    const bus = (type & 2) !== 0;
    const response = (type & 1) !== 0;
    const driver = m.link.cfg.kind === 'driver';
    if (bus) {
      if (dev !== 0) return Reason.BUS_DEV_NUM_NONZERO;
      if (driver) {
        if (response || (msgId & 0x80) !== 0) return P_CONTROL;
        if (msgId === 0x02 || msgId === 0x03) return reason === 0 ? P_ANSWER : reason;
        return reason;
      }
      if (!response && msgId === 0x03) return reason === 0 ? P_ANSWER : reason;
      if (!response && msgId === 0xc1) {
        // A bridge's report that a request failed (classify.ts failedByDevice): size, then the device it names.
        if (size !== 16) return size < 16 ? Reason.PAYLOAD_TRUNCATED : Reason.PAYLOAD_LENGTH_MISMATCH;
        const named = view[8]! | (view[9]! << 8);
        if (!this.present.has(named)) return Reason.UNVALIDATED_DEV_NUM;
        if (this.owner.get(named) !== m.link) return Reason.SPOOFED_DEV_NUM;
        return P_REPORT;
      }
      return P_CONTROL;
    }
    if (driver) {
      if (response) return Reason.WRONG_DIRECTION;
      return reason;
    }
    if (!this.present.has(dev)) return Reason.UNVALIDATED_DEV_NUM;
    if (this.owner.get(dev) !== m.link) return Reason.SPOOFED_DEV_NUM;
    if (response) return (msgId & 0x40) !== 0 ? Reason.RESPONSE_TO_EVENT : P_LABEL;
    if ((msgId & 0x40) === 0) return Reason.WRONG_DIRECTION;
    return reason;
  }

  /** Predicted drops by reason code for one link and routing call (reused: no allocation per call). */
  private readonly predicted = new Int32Array(64);

  /** Shard `s` ran a routing call: check what it took from each of its sources. */
  afterRoute(s: number): void {
    for (const m of this.models) if (m.link.cfg.shard === s) this.checkTaken(s, m);
  }

  /** Counter `idx` of link `m` on shard `s`: its change since the last look. */
  private delta(s: number, m: LinkModel, idx: number): number {
    const v = this.r.counter(s, m.link.id, idx);
    const d = v - m.last[idx]!;
    m.last[idx] = v;
    return d;
  }

  /** `what`: a drop reason code, or -1 / -2 for the control plane / bus answers (named only on failure). */
  private cmp(m: LinkModel, taken: number, relaxed: boolean, what: number, obs: number, pred: number, slack = 0): void {
    if ((obs >= pred && obs <= pred + slack) || (relaxed && obs <= pred)) return;
    const name = what === -1 ? 'frames to the control plane' : what === -2 ? 'bus requests answered' : `drops ${reasonLabel(what)}`;
    this.fail('differential', `${m.link.cfg.name} (${taken} frame(s) taken at ${this.r.now} ms): ${name} counted ${obs}, the validator predicts ${pred}`);
  }

  /** What shard `s` took from link `m` in its last routing call, against the counters it moved. */
  private checkTaken(s: number, m: LinkModel): void {
    const { r } = this;
    const L = r.L;
    const link = m.link;
    if (link.cfg.kind === 'device') {
      if (m.fwdLo < 0) m.fwdLo = r.now;
      m.fwdHi = r.now;
    }
    let units = r.takenUnits(link);
    // The router refuses a driver's frames (DRIVER_STALLED) only once it has drained nothing for a whole timeout.
    const relaxed = link.cfg.kind === 'driver' && r.now - m.lastRead > r.opts.timeoutMs;
    const predicted = this.predicted;
    predicted.fill(0);
    let ctl = 0, answered = 0, unsureLabels = 0, taken = 0, reports = 0;
    const q = m.fifo;
    while (units > 0) {
      if (q.length === 0 || q.units0 > units) {
        this.fail('ring', `${link.cfg.name}: the router consumed ${units} slot(s) that do not end at a frame boundary`);
        break;
      }
      const tu = q.units0, verdict = q.verdict0, req = q.req0;
      units -= tu;
      if (relaxed && req !== undefined) req.stallable = true;
      if (relaxed && req === undefined && verdict === Reason.UNSUPPORTED_MSG_ID && tu > 0) m.stallRefused.add(stallKey(q.dev0, q.token0, q.msgId0));
      taken++;
      if (verdict === P_CONTROL) ctl++;
      else if (verdict === P_ANSWER) answered++;
      else if (verdict === P_REPORT) { reports++; unsureLabels++; }
      else if (verdict === P_LABEL) {
        const label = this.label(m, q.dev0, q.token0, q.msgId0);
        if (label < 0) unsureLabels++;
        else if (label > 0) predicted[label]!++;
      } else if (verdict > 0) predicted[verdict]!++;
      q.shift();
    }
    // Counters of this shard for the link (the exclusive reasons are only ever counted here).
    for (const reason of m.exclusive) this.cmp(m, taken, relaxed, reason, this.delta(s, m, L.EC_DROP_BASE + reason), predicted[reason]!);
    this.cmp(m, taken, relaxed, -1, this.delta(s, m, L.EC_TO_CONTROL), ctl);
    this.cmp(m, taken, relaxed, -2, this.delta(s, m, L.EC_TERMINATED), answered, reports); // a matching report counts as terminated
    if (link.cfg.kind === 'device') {
      let extra = 0;
      let said = '';
      for (const reason of LABELS) {
        const obs = this.delta(s, m, L.EC_DROP_BASE + reason);
        const pred = predicted[reason]!;
        if (obs < pred) this.fail('label', `${link.cfg.name}: ${reasonLabel(reason)} counted ${obs}, predicted ${pred} (answers taken at ${r.now} ms)`);
        if (obs !== pred) said += `${said === '' ? '' : ', '}${reasonLabel(reason)} ${obs}/${pred}`;
        extra += obs - pred;
      }
      if (extra > unsureLabels) {
        this.fail('label', `${link.cfg.name}: ${extra} answer(s) labelled beyond the prediction (counted/predicted where they differ: ${said}), only ${unsureLabels} unpredictable`);
      }
    }
  }

  /**
   * The label a device's response gets when the router takes it (0: delivered or held; -1: not
   * predictable here — a token the device never received, or a deadline within the clock range
   * the request may have been forwarded in).
   */
  private label(m: LinkModel, dev: number, token: number, msgId: number): number {
    if (token === 0) return Reason.UNMATCHED_RESPONSE;
    const rec = m.received.get(dev)?.get(token);
    if (rec === undefined) m.tainted.add(dev * 0x10000 + token);
    if (rec === undefined || rec.unsure || m.receivedCount - rec.index > 900) return -1;
    this.labelsPredicted++;
    if (rec.answered) return rec.closedLate ? Reason.LATE_RESPONSE : Reason.DUPLICATE_RESPONSE;
    const shard = this.owner.get(dev)!.cfg.shard;
    const timeout = this.r.opts.timeoutMs;
    const expiredSure = this.lastExpire[shard]! >= rec.hi + timeout;
    const expiredMaybe = this.lastExpire[shard]! >= rec.lo + timeout || this.extraFailures.size > 0;
    if (expiredMaybe && !expiredSure) {
      rec.unsure = true;
      return -1;
    }
    if (expiredSure) {
      rec.answered = true;
      rec.closedLate = true;
      return Reason.LATE_RESPONSE;
    }
    if (msgId !== rec.msgId) return Reason.RESPONSE_ID_MISMATCH;
    rec.answered = true;
    return 0;
  }

  /** Shard `s` ran expire() at the current clock. */
  afterExpire(s: number): void {
    this.lastExpire[s] = this.r.now;
  }

  /** The far end of `link` read `f` from its ring. */
  onRead(link: Link, f: Uint8Array): void {
    const m = this.models[link.id]!;
    this.framesRead++;
    const v = validateRouter(f, m.ctxOut);
    if (!v.ok) this.fail('delivered-invalid', `${link.cfg.name} received ${hex(f)}: ${reasonLabel(v.reason)} (${v.detail})`);
    // Type bits 2-7 are reserved (ignored, passed on as they are).
    const type = f[0]! & 3;
    const msgId = f[1]!;
    const dev = f[2]! | (f[3]! << 8);
    const token = f[4]! | (f[5]! << 8);
    if (link.cfg.kind === 'driver') {
      m.lastRead = this.r.now;
      if (type === 1) this.outcome(m, dev, token, msgId, 0, f);
      else if (type === 2 && msgId === 0xc1 && f.length >= 16) {
        this.outcome(m, f[8]! | (f[9]! << 8), f[12]! | (f[13]! << 8), f[10]!, f[11]!, f);
      } else if (type === 0 && (msgId & 0x40) !== 0) {
        if (token !== 0) this.fail('misdelivery', `${link.cfg.name}: device event ${hex(f)} carries token ${token}`);
        if (!m.requested.has(dev)) this.fail('misdelivery', `${link.cfg.name} received an event of device ${dev}, to which it never sent a routable request: ${hex(f)}`);
      } else if (type === 3 && (msgId === 0x02 || msgId === 0x03)) {
        this.busAnswer(m, msgId, token, f);
      } else {
        this.fail('misdelivery', `${link.cfg.name} received a frame no driver should get: ${hex(f)}`);
      }
      return;
    }
    // A device link.
    if (type === 3 && msgId === 0x03) {
      if (m.pingsOut-- <= 0) this.fail('misdelivery', `${link.cfg.name} received a PING answer it did not ask for`);
      return;
    }
    if ((type & 2) !== 0 || (type & 1) !== 0) {
      this.fail('misdelivery', `${link.cfg.name} (a device link) received ${hex(f)}`);
      return;
    }
    if (!(link.cfg.devices ?? []).includes(dev)) this.fail('misdelivery', `${link.cfg.name} received a frame for device ${dev}, not one of its own`);
    if ((msgId & 0x40) !== 0) {
      if (token !== 0) this.fail('token', `${link.cfg.name}: event ${hex(f)} with token ${token} (events carry 0)`);
      return;
    }
    if (token === 0) { this.fail('token', `${link.cfg.name}: request ${hex(f)} with token 0`); return; }
    const prev = m.lastToken.get(dev);
    if (prev !== undefined) {
      const step = (token - prev + 0xffff) % 0xffff;
      if (step === 0 || step > 0x8000) this.fail('token', `${link.cfg.name}: device ${dev} got token ${token} after ${prev}`);
    }
    m.lastToken.set(dev, token);
    let recv = m.received.get(dev);
    if (recv === undefined) m.received.set(dev, (recv = new Map()));
    const tainted = m.tainted.delete(dev * 0x10000 + token);
    recv.set(token, { msgId, lo: m.fwdLo < 0 ? this.r.now : m.fwdLo, hi: m.fwdHi < 0 ? this.r.now : m.fwdHi, index: m.receivedCount++, answered: false, closedLate: false, unsure: tainted });
    m.toAnswer.push({ dev, token, msgId });
  }

  /** A device link read everything the router had written for it (its forward range restarts). */
  deviceDrained(link: Link): void {
    const m = this.models[link.id]!;
    m.fwdLo = -1;
    m.fwdHi = -1;
  }

  /** Failure events may be dropped for a stuck driver (ENDPOINT_STALLED), never responses. */
  private slack(m: LinkModel): number {
    const stalled = this.r.drops(m.link.id, Reason.DRIVER_STALLED);
    return this.r.drops(m.link.id, Reason.ENDPOINT_STALLED) - m.skips - Math.max(0, m.busSkips - stalled);
  }

  /** Bus requests of a stalled driver are dropped too (DRIVER_STALLED), and their answers like failure events. */
  private busSlack(m: LinkModel): number {
    return this.r.drops(m.link.id, Reason.ENDPOINT_STALLED) + this.r.drops(m.link.id, Reason.DRIVER_STALLED) - m.skips - m.busSkips;
  }

  private outcome(m: LinkModel, dev: number, token: number, msgId: number, failure: number, f: Uint8Array): void {
    this.outcomes++;
    const q = m.pending.get(dev);
    const i = q === undefined ? -1 : q.findIndex((x) => x.token === token && x.msgId === msgId);
    if ((q === undefined || i < 0) && failure === Reason.DRIVER_STALLED && m.stallRefused.delete(stallKey(dev, token, msgId))) {
      // Known: a stalled driver's frame is refused before its msg_id is checked, so a request
      // with an unknown msg_id gets a failure event instead of a silent UNSUPPORTED_MSG_ID drop.
      this.stalledMalformed++;
      return;
    }
    if (q === undefined || i < 0) {
      this.fail('outcome', `${m.link.cfg.name} got an outcome for no request it has open: ${hex(f)}`);
      return;
    }
    if (i > 0) {
      // Failure events (never responses) dropped as ENDPOINT_STALLED may leave gaps.
      if (i > this.slack(m)) {
        this.fail('order', `${m.link.cfg.name}: outcome for device ${dev} token ${token} came before those of ${i} earlier request(s) (first: token ${q[0]!.token}, msg_id ${q[0]!.msgId}): ${hex(f)}`);
      }
      m.skips += i;
    }
    const req = q[i]!;
    q.splice(0, i + 1);
    if (failure === Reason.DRIVER_STALLED && !req.stallable) {
      this.fail('driver-stalled', `${m.link.cfg.name}: request to device ${dev} (token ${token}) refused DRIVER_STALLED though its driver had read frames within the timeout when the router took it`);
    }
    if (failure === 0) {
      if (req.refusal !== 0) this.fail('refusal', `${m.link.cfg.name}: request to device ${dev} (token ${token}) was answered; it must fail ${reasonLabel(req.refusal)}`);
    } else if (req.refusal !== 0) {
      if (failure !== req.refusal && failure !== Reason.DRIVER_STALLED && !this.extraFailures.has(failure)) {
        this.fail('refusal', `${m.link.cfg.name}: request to device ${dev} (token ${token}) failed ${reasonLabel(failure)}, must fail ${reasonLabel(req.refusal)}`);
      }
    } else if (!STATE_FAILURES.has(failure) && !this.extraFailures.has(failure)) {
      this.fail('refusal', `${m.link.cfg.name}: routable request to device ${dev} (token ${token}) failed ${reasonLabel(failure)}`);
    }
  }

  private busAnswer(m: LinkModel, msgId: number, token: number, f: Uint8Array): void {
    const i = m.busPending.findIndex((b) => b.id === msgId && b.token === token);
    if (i < 0) { this.fail('outcome', `${m.link.cfg.name}: bus answer to nothing it asked: ${hex(f)}`); return; }
    if (i > this.busSlack(m)) this.fail('order', `${m.link.cfg.name}: bus answer ${hex(f)} overtook ${i} earlier bus request(s)`);
    m.busSkips += i;
    m.busPending.splice(0, i + 1);
    if (msgId === 0x02 && f.length >= 14) {
      const offset = f[8]! | (f[9]! << 8);
      const count = f[10]! | (f[11]! << 8);
      const visible = m.ctxOut.knownDevices!;
      for (let b = 0; b < count && 14 + (b >> 3) < f.length; b++) {
        if ((f[14 + (b >> 3)]! >> (b & 7)) & 1 && !visible.has(offset + b)) this.fail('misdelivery', `${m.link.cfg.name}: GET_DEVICES lists device ${offset + b}, which it may not see`);
      }
    }
  }

  /** At quiescence: every request and bus request has had its outcome. */
  settled(): void {
    for (const m of this.models) {
      if (m.link.cfg.kind !== 'driver') continue;
      let open = 0;
      for (const q of m.pending.values()) open += q.length;
      if (open + m.busPending.length > this.busSlack(m) || open > this.slack(m)) {
        const first = [...m.pending.entries()].find(([, q]) => q.length > 0);
        this.fail('lost', `${m.link.cfg.name}: ${open} request(s) ended without an outcome${first ? ` (device ${first[0]}, token ${first[1][0]!.token})` : ''}`);
      }
    }
  }
}

function stallKey(dev: number, token: number, msgId: number): number {
  return (dev * 0x10000 + token) * 256 + msgId;
}

export function reasonLabel(code: number): string {
  const e = Object.entries(Reason).find(([, v]) => v === code);
  return e === undefined ? `reason ${code}` : e[0];
}

function hex(f: Uint8Array): string {
  return Buffer.from(f.subarray(0, 48)).toString('hex') + (f.length > 48 ? '…' : '');
}
