// Replay of a capture (`vmsg replay FILE.vmc --target URI [--speed X]`): the driver side of a
// .vmc capture (every frame a driver link sent towards the router) is sent again through a
// FrameChannel, at the recorded pace scaled by `speed` (0 = as fast as the bus takes them), and
// each answer is compared with the one captured for the same request. Tokens are the bus's
// business (docs/PROTOCOL.md §7 rule 8), so requests get fresh tokens and answers are compared by
// per-device order, msg_id, dev_num, type, msg_size and payload bytes, never by token.
import type { FrameChannel } from '../client/exchange.js';
import { readCapture } from './reader.js';
import { DIR_FROM_ROUTER, DIR_TO_ROUTER, type CaptureTrailer } from './vmc.js';
import { BUS_NAMES, HDR_SIZE, MSG_ID_EVENT_BIT, TRANSPORT_NAMES, TYPE_BUS, TYPE_RESPONSE } from '../protocol/constants.js';
import { reasonName } from '../protocol/reasons.js';
import { PingResponder } from '../client/exchange.js';
import { failedDevice, failedToken, isRequestFailed } from '../client/request-failed.js';
import { RequestTracker, type TrackedRequest } from '../client/request-tracker.js';
import { le16, msgSizeAt } from '../protocol/header.js';

/** Mismatches listed in the report; later ones are only counted. */
const MAX_LISTED = 50;

export interface ReplayOptions {
  /** Time scaling: 1 = the recorded pace, 2 = twice as fast, 0 = as fast as the bus takes them. Default 1. */
  speed?: number;
  /** Driver links (endpoint ids in the capture) to replay. Default: every driver link. */
  links?: number[];
  /** How long the last answers may take after the last frame is sent. Default 2000 ms. */
  timeoutMs?: number;
  /** Requests in flight per device at most (the token space of one device). Default 1024. */
  window?: number;
}

export interface ReplayMismatch {
  /** "bus" for bus messages, else the device number. */
  device: number | 'bus';
  /** Position of the request among that device's requests (0-based). */
  index: number;
  request: string;
  problem: string;
  expected: string;
  got: string;
}

export interface ReplayReport {
  format: 'vmsg-replay';
  version: 1;
  capture: string;
  links: number[];
  speed: number;
  seconds: number;
  /** Frames sent: requests, events and malformed frames as captured. */
  sent: number;
  requests: number;
  /** Requests whose captured answer (or transport failure) was compared with the replayed one. */
  compared: number;
  matches: number;
  mismatches: number;
  /** Requests answered in the capture but not in the replay (within timeoutMs). */
  missing: number;
  /** Requests with no captured outcome (the capture ended first or lost records): sent, not judged. */
  uncompared: number;
  /** Answers in the replay that fit no request sent (including late answers to requests already counted missing). */
  unexpected: number;
  /** Answers that overtook an older request of the same device. */
  order_violations: number;
  /** Frames the channel could not carry (larger than its maximum message size). */
  unsendable: number;
  /** Events by name: as captured on the replayed links, and as received now (compared loosely: the bus may merge notifications). */
  events: { captured: Record<string, number>; replayed: Record<string, number> };
  /** The capture's trailer (lost records make a capture incomplete). */
  trailer: CaptureTrailer | null;
  /** The first mismatches, and the first requests left unanswered (MAX_LISTED each). */
  mismatch_list: ReplayMismatch[];
  missing_list: ReplayMismatch[];
}

interface Expected {
  kind: 'answer' | 'failure';
  frame: Uint8Array;
}

interface Entry extends TrackedRequest {
  timeMs: number;
  bytes: Uint8Array;
  /** Requests only: what the capture says came back. */
  isRequest: boolean;
  expected: Expected | undefined;
  domain: string;
  deviceLabel: number | 'bus';
  index: number;
  /** Replay state: the token it went out with; settled once answered, failed or not sendable. */
  token: number;
  seq: number;
  settled: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const u16 = le16;

function messageName(f: Uint8Array): string {
  if (f.length < 2) return 'malformed';
  const names: Record<number, string> = (f[0]! & TYPE_BUS) !== 0 ? BUS_NAMES : TRANSPORT_NAMES;
  return names[f[1]!] ?? `0x${f[1]!.toString(16).padStart(2, '0')}`;
}

/** A request (not a response, not an event, header sane) expects exactly one answer. */
function isRequest(f: Uint8Array): boolean {
  if (f.length < HDR_SIZE) return false;
  const size = msgSizeAt(f, 0);
  return size >= HDR_SIZE && size <= f.length && (f[0]! & TYPE_RESPONSE) === 0 && (f[1]! & MSG_ID_EVENT_BIT) === 0;
}

/** Ordering domain of a frame: one per device number for transport messages, one for bus messages. */
const domainOf = (f: Uint8Array): string => ((f[0]! & TYPE_BUS) !== 0 ? 'bus' : `d${u16(f, 2)}`);

export class ReplayOptionsError extends RangeError {
  override name = 'ReplayOptionsError';
}

/** Read the driver side of `path` (frames its driver links sent) and what came back to it. */
async function load(path: string, links: number[] | undefined): Promise<{ entries: Entry[]; links: number[]; captured: Record<string, number>; trailer: CaptureTrailer | null }> {
  const driverLinks = new Set<number>();
  const entries: Entry[] = [];
  const captured: Record<string, number> = {};
  // link:domain:token -> captured requests still waiting for their answer, oldest first; and
  // answers recorded before their request (the router answers bus requests while it handles
  // them, and records the request once handled).
  const pending = new Map<string, Entry[]>();
  const early = new Map<string, Expected[]>();
  const expect = (key: string, x: Expected): void => {
    const e = pending.get(key)?.shift();
    if (e !== undefined) e.expected = x;
    else {
      let q = early.get(key);
      if (q === undefined) early.set(key, (q = []));
      q.push(x);
    }
  };
  const perDomain = new Map<string, number>();
  let trailer: CaptureTrailer | null = null;
  const wanted = (link: number): boolean => driverLinks.has(link) && (links === undefined || links.includes(link));
  for await (const item of readCapture(path)) {
    if (item.kind === 'link') {
      if (item.link.kind === 'driver') driverLinks.add(item.link.link);
      continue;
    }
    if (item.kind === 'trailer') {
      trailer = item.trailer;
      continue;
    }
    const { link, dir, bytes, timeMs } = item.frame;
    if (!wanted(link)) continue;
    if (dir === DIR_TO_ROUTER) {
      const req = isRequest(bytes);
      const domain = bytes.length >= HDR_SIZE ? domainOf(bytes) : 'malformed';
      const index = req ? (perDomain.get(domain) ?? 0) : -1;
      if (req) perDomain.set(domain, index + 1);
      const e: Entry = { timeMs, bytes, isRequest: req, expected: undefined, domain, deviceLabel: domain === 'bus' ? 'bus' : u16(bytes, 2), index, token: 0, seq: 0, settled: false };
      entries.push(e);
      if (req) {
        const key = `${link}:${domain}:${u16(bytes, 4)}`;
        e.expected = early.get(key)?.shift();
        if (e.expected === undefined) {
          let q = pending.get(key);
          if (q === undefined) pending.set(key, (q = []));
          q.push(e);
        }
      }
      continue;
    }
    if (dir !== DIR_FROM_ROUTER || bytes.length < HDR_SIZE) continue;
    if ((bytes[0]! & TYPE_RESPONSE) !== 0) {
      expect(`${link}:${domainOf(bytes)}:${u16(bytes, 4)}`, { kind: 'answer', frame: bytes });
    } else if (isRequestFailed(bytes, 0, bytes.length)) {
      expect(`${link}:d${failedDevice(bytes, 0)}:${failedToken(bytes, 0)}`, { kind: 'failure', frame: bytes });
    } else {
      const name = messageName(bytes);
      captured[name] = (captured[name] ?? 0) + 1;
    }
  }
  entries.sort((a, b) => a.timeMs - b.timeMs); // file order is time order per shard only
  return { entries, links: [...driverLinks].filter((l) => links === undefined || links.includes(l)).sort((a, b) => a - b), captured, trailer };
}

/** What differs between a captured answer and a replayed one (token excluded), or undefined. */
function difference(expected: Expected, got: Uint8Array, gotFailure: boolean): string | undefined {
  const e = expected.frame;
  if (expected.kind === 'failure') {
    if (!gotFailure) return `the capture has a transport failure (${reasonName(e[11]!)}), the replay an answer`;
    return e[11] === got[11] && e[10] === got[10] ? undefined : `transport failure ${reasonName(got[11]!)} for msg_id 0x${got[10]!.toString(16)}, captured ${reasonName(e[11]!)} for 0x${e[10]!.toString(16)}`;
  }
  if (gotFailure) return `the capture has an answer, the replay a transport failure (${reasonName(got[11]!)})`;
  if (e[0] !== got[0]) return `type 0x${got[0]!.toString(16)}, captured 0x${e[0]!.toString(16)}`;
  if (e[1] !== got[1]) return `msg_id 0x${got[1]!.toString(16)}, captured 0x${e[1]!.toString(16)}`;
  if (u16(e, 2) !== u16(got, 2)) return `dev_num ${u16(got, 2)}, captured ${u16(e, 2)}`;
  if (msgSizeAt(e, 0) !== msgSizeAt(got, 0)) return `msg_size ${msgSizeAt(got, 0)}, captured ${msgSizeAt(e, 0)}`;
  for (let i = HDR_SIZE; i < msgSizeAt(e, 0); i++) if (e[i] !== got[i]) return `payload differs from byte ${i}`;
  return undefined;
}

export async function replayCapture(path: string, channel: FrameChannel, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const speed = opts.speed ?? 1;
  if (typeof speed !== 'number' || !Number.isFinite(speed) || speed < 0) throw new ReplayOptionsError(`speed must be a number >= 0 (0 = as fast as possible), got ${speed}`);
  const timeoutMs = opts.timeoutMs ?? 2000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new ReplayOptionsError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
  const window = opts.window ?? 1024;
  if (!Number.isInteger(window) || window < 1 || window > 32768) throw new ReplayOptionsError(`window must be an integer from 1 to 32768, got ${window}`);
  const { entries, links, captured, trailer } = await load(path, opts.links);
  if (opts.links !== undefined) {
    const missing = opts.links.filter((l) => !links.includes(l));
    if (missing.length > 0) throw new ReplayOptionsError(`${path} has no driver link ${missing.join(', ')}`);
  }

  const report: ReplayReport = {
    format: 'vmsg-replay', version: 1, capture: path, links, speed, seconds: 0,
    sent: 0, requests: 0, compared: 0, matches: 0, mismatches: 0, missing: 0, uncompared: 0, unexpected: 0,
    order_violations: 0, unsendable: 0, events: { captured, replayed: {} }, trailer, mismatch_list: [], missing_list: [],
  };
  const list = (to: ReplayMismatch[], e: Entry, problem: string, got: Uint8Array | undefined): void => {
    if (to.length < MAX_LISTED) {
      to.push({ device: e.deviceLabel, index: e.index, request: messageName(e.bytes), problem, expected: e.expected === undefined ? '' : hex(e.expected.frame), got: got === undefined ? '' : hex(got) });
    }
  };

  // Requests in flight per ordering domain: fresh tokens, answers by token, per-device order.
  const inFlight = new Map<string, RequestTracker<Entry>>();
  const domain = (d: string): RequestTracker<Entry> => {
    let t = inFlight.get(d);
    if (t === undefined) inFlight.set(d, (t = new RequestTracker<Entry>()));
    return t;
  };
  let open = 0;

  const settle = (e: Entry, got: Uint8Array, gotFailure: boolean): void => {
    const flying = inFlight.get(e.domain)!;
    flying.settle(e);
    open--;
    if (!flying.answeredInOrder(e)) report.order_violations++;
    if (e.expected === undefined) {
      report.uncompared++;
      return;
    }
    report.compared++;
    const diff = difference(e.expected, got, gotFailure);
    if (diff === undefined) report.matches++;
    else {
      report.mismatches++;
      list(report.mismatch_list, e, diff, got);
    }
  };

  const pings = new PingResponder(); // the bus's keep-alive PINGs are no frames of the capture
  const receive = (): number => {
    let n = 0;
    for (let f = channel.recv(); f !== null; f = channel.recv()) {
      if (pings.take(f)) continue;
      n++;
      if (f.length < HDR_SIZE) {
        report.unexpected++;
        continue;
      }
      if ((f[0]! & TYPE_RESPONSE) !== 0) {
        const e = inFlight.get(domainOf(f))?.get(u16(f, 4));
        if (e === undefined) report.unexpected++;
        else settle(e, f, false);
      } else if (isRequestFailed(f, 0, f.length)) {
        const e = inFlight.get(`d${failedDevice(f, 0)}`)?.get(failedToken(f, 0));
        if (e === undefined) report.unexpected++;
        else settle(e, f, true);
      } else {
        const name = messageName(f);
        report.events.replayed[name] = (report.events.replayed[name] ?? 0) + 1;
      }
    }
    pings.send(channel);
    return n;
  };

  const t0 = performance.now();
  const capture0 = entries[0]?.timeMs ?? 0;
  for (const e of entries) {
    // Pace: frame i goes at its recorded offset divided by the speed.
    if (speed > 0) {
      const due = t0 + (e.timeMs - capture0) / speed;
      for (let left = due - performance.now(); left > 0; left = due - performance.now()) {
        channel.flush();
        if (receive() === 0) await channel.wait(Math.min(left, 20));
      }
    }
    let frame = e.bytes;
    if (e.isRequest) {
      const flying = domain(e.domain);
      while (flying.size >= window) {
        channel.flush();
        if (receive() === 0) await channel.wait(20);
      }
      e.token = flying.token();
      frame = e.bytes.slice();
      frame[4] = e.token & 0xff;
      frame[5] = e.token >> 8;
    }
    if (frame.length > channel.maxMessageSize) {
      report.unsendable++;
      e.settled = true;
      continue;
    }
    while (!channel.send(frame)) {
      channel.flush();
      if (receive() === 0) await channel.wait(5);
    }
    report.sent++;
    if (e.isRequest) {
      report.requests++;
      inFlight.get(e.domain)!.add(e);
      open++;
    }
  }
  channel.flush();
  let quietSince = performance.now();
  while (open > 0 && performance.now() - quietSince < timeoutMs) {
    if (receive() > 0) quietSince = performance.now();
    else await channel.wait(20);
  }
  receive();
  for (const e of entries) {
    if (!e.isRequest || e.settled) continue;
    if (e.expected === undefined) report.uncompared++;
    else {
      report.compared++;
      report.missing++;
      list(report.missing_list, e, `no answer within ${timeoutMs} ms`, undefined);
    }
  }
  report.seconds = Number(((performance.now() - t0) / 1000).toFixed(3));
  return report;
}

/** True when every compared answer matched and none is missing (the replay's exit rule). */
export function replayMatched(r: ReplayReport): boolean {
  return r.mismatches === 0 && r.missing === 0 && r.unexpected === 0 && r.order_violations === 0;
}

export function formatReplayText(r: ReplayReport): string {
  const lines = [
    `vmsg replay: ${r.capture}, driver link(s) ${r.links.join(',') || 'none'}, speed ${r.speed === 0 ? 'as fast as possible' : `${r.speed}x`}, ${r.seconds} s`,
    `  sent ${r.sent} frames (${r.requests} requests)${r.unsendable > 0 ? `, ${r.unsendable} too large for this bus` : ''}`,
    `  compared ${r.compared}: ${r.matches} match, ${r.mismatches} differ, ${r.missing} missing; ${r.uncompared} not in the capture; ${r.unexpected} unexpected answers; ${r.order_violations} order violations`,
  ];
  const names = [...new Set([...Object.keys(r.events.captured), ...Object.keys(r.events.replayed)])].sort();
  if (names.length > 0) lines.push(`  events (captured → replayed): ${names.map((n) => `${n} ${r.events.captured[n] ?? 0} → ${r.events.replayed[n] ?? 0}`).join(', ')}`);
  if (r.trailer === null) lines.push('  note: the capture has no trailer (its writer did not finish): the last answers may be missing from it');
  else if (r.trailer.lost > 0) lines.push(`  note: the capture lost ${r.trailer.lost} records: some answers are not in it`);
  for (const m of [...r.mismatch_list, ...r.missing_list]) {
    lines.push(`  ${m.device === 'bus' ? 'bus' : `device ${m.device}`} request #${m.index} ${m.request}: ${m.problem}${m.expected === '' ? '' : `
      captured ${m.expected}`}${m.got === '' ? '' : `
      replayed ${m.got}`}`);
  }
  const listed = r.mismatch_list.length + r.missing_list.length, total = r.mismatches + r.missing;
  if (total > listed) lines.push(`  … ${total - listed} more not listed`);
  lines.push(`  verdict: ${replayMatched(r) ? 'MATCH' : 'DIFFERENT'}`);
  return lines.join('\n') + '\n';
}
