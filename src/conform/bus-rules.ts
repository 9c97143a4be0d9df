// Bus rules of docs/PROTOCOL.md §7 that a driver can observe through the bus:
// limits, PING echo, GET_DEVICES windows, per-device order, exactly one answer per request,
// silent drops of malformed frames, no answer to events, no traffic for unvalidated device
// numbers, and the shape of the bus messages the bus makes itself.
import { frame, u16, u32, words, type Received } from '../client/exchange.js';
import { getDevicesWindow } from '../client/discovery.js';
import {
  BUS_MAX_MIN_ADVERTISED, B_EVENT_DEVICE, B_GET_DEVICES, B_PING, DEVICE_BUS_STATE_IMPL_MIN, DEVICE_BUS_STATE_READY, DEVICE_BUS_STATE_REMOVED,
  GET_DEVICES_ALIGN, MSG_ID_EVENT_BIT, MSG_ID_IMPL_BIT, TYPE_BUS, TYPE_RESERVED_MASK, TYPE_RESPONSE,
  T_EVENT_AVAIL, T_EVENT_CONFIG, T_EVENT_USED, T_GET_DEVICE_FEATURES, T_GET_DEVICE_INFO, T_GET_DEVICE_STATUS,
} from '../protocol/constants.js';
import { answers, failureFor, hex, type ConformContext } from './context.js';
import { fail, pass, skip, type Rule, type RuleOutcome } from './rule.js';

/** The largest PR28 fixed-size frame (SET_VQUEUE, GET_VQUEUE answer). */
const PR28_LARGEST_FIXED = 48;
const PING_DATA = 0xa5c30f1e;
/** Requests in the ordering burst (three read-only kinds, interleaved). */
const BURST = 24;

const noDevice = (ctx: ConformContext): RuleOutcome => skip(`needs a device on the bus (${ctx.noDevice})`);

/** Frames the bus may send that are not answers: its own failure reports and other implementation-defined events, EVENT_DEVICE, EVENT_USED/EVENT_CONFIG from devices. */
function isPermittedUnsolicited(f: Uint8Array): boolean {
  if (f.length < 8 || (f[0]! & TYPE_RESPONSE) !== 0) return false;
  const id = f[1]!;
  if ((f[0]! & TYPE_BUS) !== 0) return id === B_EVENT_DEVICE || (id & (MSG_ID_IMPL_BIT | MSG_ID_EVENT_BIT)) === (MSG_ID_IMPL_BIT | MSG_ID_EVENT_BIT);
  return id === T_EVENT_USED || id === T_EVENT_CONFIG;
}

/** Send a PING after `frames` and collect until its answer (plus a quiet period): what the bus sent meanwhile. */
async function withMarker(ctx: ConformContext, frames: Uint8Array[]): Promise<{ got: Received[]; marker: number; markerAnswered: boolean }> {
  const marker = ctx.token();
  await ctx.send([...frames, frame(TYPE_BUS, B_PING, 0, marker, words(0x5eed))]);
  const isMarker = (f: Uint8Array): boolean => answers(f, true, 0, B_PING, marker);
  const got = await ctx.receive((g) => g.some((r) => isMarker(r.frame)));
  got.push(...(await ctx.quiet()));
  return { got: got.filter((r) => !isMarker(r.frame)), marker, markerAnswered: got.some((r) => isMarker(r.frame)) };
}

interface Burst {
  sent: { id: number; token: number }[];
  answers: Uint8Array[];
  failures: number;
}

/** BURST read-only requests to the device back to back; everything the device answered (shared by the order and exactly-one rules). */
function burst(ctx: ConformContext): Promise<Burst> {
  let p = ctx.memo.get('burst') as Promise<Burst> | undefined;
  if (p === undefined) {
    p = (async () => {
      const kinds: [number, Uint8Array][] = [[T_GET_DEVICE_STATUS, new Uint8Array(0)], [T_GET_DEVICE_INFO, new Uint8Array(0)], [T_GET_DEVICE_FEATURES, words(0, 1)]];
      const sent: Burst['sent'] = [];
      const frames: Uint8Array[] = [];
      for (let i = 0; i < BURST; i++) {
        const [id, payload] = kinds[i % kinds.length]!;
        const token = ctx.token();
        sent.push({ id, token });
        frames.push(ctx.request(id, payload, token));
      }
      const dev = ctx.dev!;
      const isAnswer = (f: Uint8Array): boolean => f.length >= 8 && (f[0]! & (TYPE_RESPONSE | TYPE_BUS)) === TYPE_RESPONSE && u16(f, 2) === dev;
      const isFailure = (f: Uint8Array): boolean => sent.some((s) => failureFor(f, dev, s.token) !== undefined);
      await ctx.send(frames);
      const got = await ctx.receive((g) => g.filter((r) => isAnswer(r.frame) || isFailure(r.frame)).length >= BURST);
      got.push(...(await ctx.quiet()));
      return { sent, answers: got.map((r) => r.frame).filter(isAnswer), failures: got.filter((r) => isFailure(r.frame)).length };
    })();
    ctx.memo.set('burst', p);
  }
  return p;
}

const NAMES: Record<number, string> = { [T_GET_DEVICE_STATUS]: 'GET_DEVICE_STATUS', [T_GET_DEVICE_INFO]: 'GET_DEVICE_INFO', [T_GET_DEVICE_FEATURES]: 'GET_DEVICE_FEATURES' };
const name = (id: number): string => NAMES[id] ?? `0x${id.toString(16)}`;

export const BUS_RULES: Rule[] = [
  {
    id: 'bus.max-size',
    section: '§7.3',
    scope: 'bus',
    title: 'the bus advertises a maximum message size that carries every fixed-size message',
    async run(ctx) {
      const max = ctx.channel.maxMessageSize;
      const need = ctx.profile === 'rev1-2026' ? BUS_MAX_MIN_ADVERTISED : PR28_LARGEST_FIXED;
      return max >= need ? pass(`maximum ${max} bytes (≥ ${need})`) : fail(`maximum ${max} bytes is below ${need}: ${ctx.profile === 'rev1-2026' ? 'the 2026 minimum' : "PR28's 48-byte SET_VQUEUE / GET_VQUEUE answer"} cannot cross this bus`);
    },
  },
  {
    id: 'bus.ping-echo',
    section: '§7.28',
    scope: 'bus',
    title: 'PING is answered once, with the 32-bit data echoed exactly and the request\'s token',
    async run(ctx) {
      const token = ctx.token();
      const a = await ctx.ask(frame(TYPE_BUS, B_PING, 0, token, words(PING_DATA)), { listenForMore: true });
      if (a.answer === undefined) return fail(ctx.describeMissing(a, 'PING'));
      const f = a.answer;
      const problems: string[] = [];
      if (f.length !== 12) problems.push(`answer is ${f.length} bytes, not 12`);
      else if (u32(f, 8) !== PING_DATA) problems.push(`data 0x${u32(f, 8).toString(16)} echoed for 0x${PING_DATA.toString(16)}`);
      if (f[0] !== (TYPE_BUS | TYPE_RESPONSE)) problems.push(`type byte 0x${f[0]!.toString(16)} (bus response is 0x03, reserved bits 0)`);
      if (u16(f, 2) !== 0) problems.push(`dev_num ${u16(f, 2)} (bus messages carry 0)`);
      if (u16(f, 4) !== token) problems.push(`token ${u16(f, 4)}, request had ${token}`);
      if (a.extra.length > 0) problems.push(`${a.extra.length} more answer(s) to the same PING`);
      return problems.length === 0 ? pass(`0x${PING_DATA.toString(16)} echoed`) : fail(`PING answer ${hex(f)}: ${problems.join('; ')}`);
    },
  },
  {
    id: 'bus.get-devices-windows',
    section: '§7.27',
    scope: 'bus',
    title: 'GET_DEVICES answers echo the offset, cover a count that is a multiple of 8 with exactly count/8 bitmap bytes, and chain next_offset to the end',
    async run(ctx) {
      const count = getDevicesWindow(ctx.channel.maxMessageSize);
      let offset = 0;
      const present: number[] = [];
      for (let windows = 0; ; windows++) {
        if (windows > 65536 / GET_DEVICES_ALIGN) return fail('the next_offset chain does not end');
        const p = new Uint8Array(4);
        new DataView(p.buffer).setUint16(0, offset, true);
        new DataView(p.buffer).setUint16(2, count, true);
        const a = await ctx.ask(frame(TYPE_BUS, B_GET_DEVICES, 0, ctx.token(), p));
        if (a.answer === undefined) return fail(ctx.describeMissing(a, `GET_DEVICES offset ${offset} count ${count}`));
        const f = a.answer;
        if (f.length < 14) return fail(`GET_DEVICES answer ${hex(f)} is shorter than 14 bytes`);
        const gotOffset = u16(f, 8), gotCount = u16(f, 10), next = u16(f, 12);
        const at = `window at ${offset}: answer offset ${gotOffset} count ${gotCount} next_offset ${next} (${f.length} bytes)`;
        if (u16(f, 2) !== 0 || (f[0]! & TYPE_RESERVED_MASK) !== 0) return fail(`${at}: dev_num ${u16(f, 2)} and type 0x${f[0]!.toString(16)} (must be 0 and 0x03)`);
        if (gotOffset !== offset) return fail(`${at}: offset not echoed`);
        if (gotCount % GET_DEVICES_ALIGN !== 0 || gotCount > count) return fail(`${at}: count must be a multiple of 8 no larger than asked (${count})`);
        if (f.length !== 14 + gotCount / 8) return fail(`${at}: needs exactly ${gotCount / 8} bitmap bytes (msg_size ${14 + gotCount / 8})`);
        if (next !== 0 && (next % GET_DEVICES_ALIGN !== 0 || next < offset + gotCount)) return fail(`${at}: next_offset must be 0 or a multiple of 8 ≥ ${offset + gotCount}`);
        if (gotCount === 0 && next !== 0 && next === offset) return fail(`${at}: an empty window that points at itself`);
        for (let i = 0; i < gotCount; i++) if ((f[14 + (i >> 3)]! >> (i & 7)) & 1) present.push(offset + i);
        if (next === 0) return pass(`${windows + 1} window(s), devices ${present.length === 0 ? 'none' : present.join(',')}`);
        offset = next;
      }
    },
  },
  {
    id: 'bus.get-devices-misaligned',
    section: '§7.27',
    scope: 'bus',
    title: 'GET_DEVICES with an offset or count that is not a multiple of 8 is dropped',
    async run(ctx) {
      const bad = [[4, 8], [0, 12]].map(([offset, count]) => {
        const p = new Uint8Array(4);
        new DataView(p.buffer).setUint16(0, offset!, true);
        new DataView(p.buffer).setUint16(2, count!, true);
        return { what: `offset ${offset} count ${count}`, token: ctx.token(), p };
      });
      const { got, markerAnswered } = await withMarker(ctx, bad.map((b) => frame(TYPE_BUS, B_GET_DEVICES, 0, b.token, b.p)));
      if (!markerAnswered) return fail('the PING sent after them was not answered: cannot tell');
      const answered = bad.filter((b) => got.some((r) => answers(r.frame, true, 0, B_GET_DEVICES, b.token)));
      return answered.length === 0 ? pass('both dropped') : fail(`answered: ${answered.map((b) => b.what).join('; ')}`);
    },
  },
  {
    id: 'bus.order-per-device',
    section: '§7.16',
    scope: 'bus',
    title: 'answers of one device arrive in the order its requests were sent',
    async run(ctx) {
      if (ctx.dev === undefined) return noDevice(ctx);
      const b = await burst(ctx);
      if (b.failures > 0) return skip(`the bus failed ${b.failures} of the requests (transport failures): order not judged`);
      if (b.answers.length < BURST) return fail(`only ${b.answers.length} of ${BURST} requests to device ${ctx.dev} were answered within ${ctx.timeoutMs} ms`);
      const ids = b.answers.slice(0, BURST).map((f) => f[1]!);
      const expectIds = b.sent.map((s) => s.id);
      const firstId = ids.findIndex((id, i) => id !== expectIds[i]);
      if (firstId >= 0) return fail(`answer ${firstId + 1} is ${name(ids[firstId]!)}, request ${firstId + 1} was ${name(expectIds[firstId]!)} (answers: ${ids.map(name).join(',')})`);
      const tokens = b.answers.slice(0, BURST).map((f) => u16(f, 4));
      const sentTokens = b.sent.map((s) => s.token);
      if (tokens.every((t) => sentTokens.includes(t))) {
        const firstTok = tokens.findIndex((t, i) => t !== sentTokens[i]);
        if (firstTok >= 0) return fail(`answer ${firstTok + 1} carries token ${tokens[firstTok]}, request ${firstTok + 1} had ${sentTokens[firstTok]}`);
        return pass(`${BURST} answers in request order (by msg_id and token)`);
      }
      return pass(`${BURST} answers in request order (by msg_id; tokens are not the driver's)`);
    },
  },
  {
    id: 'bus.one-answer-each',
    section: '§7.17',
    scope: 'bus',
    title: 'every forwarded request ends in exactly one answer (or one transport failure), never two',
    async run(ctx) {
      if (ctx.dev === undefined) return noDevice(ctx);
      const b = await burst(ctx);
      const total = b.answers.length + b.failures;
      const sentTokens = new Set(b.sent.map((s) => s.token));
      const perToken = new Map<number, number>();
      for (const f of b.answers) if (sentTokens.has(u16(f, 4))) perToken.set(u16(f, 4), (perToken.get(u16(f, 4)) ?? 0) + 1);
      const twice = [...perToken].filter(([, n]) => n > 1).map(([t]) => t);
      if (twice.length > 0) return fail(`requests with tokens ${twice.join(',')} were answered more than once`);
      if (total > BURST) return fail(`${BURST} requests drew ${b.answers.length} answers and ${b.failures} failures`);
      if (total < BURST) return fail(`${BURST - total} of ${BURST} requests got neither an answer nor a failure within ${ctx.timeoutMs} ms`);
      return pass(`${BURST} requests, ${b.answers.length} answers${b.failures > 0 ? `, ${b.failures} failures` : ''}, none twice`);
    },
  },
  {
    id: 'bus.malformed-dropped',
    section: '§7.19',
    scope: 'bus',
    title: 'malformed frames and unsupported msg_ids are dropped without any protocol traffic',
    async run(ctx) {
      const dev = ctx.dev ?? 1;
      const max = ctx.channel.maxMessageSize;
      const cases: { what: string; token: number; f: Uint8Array }[] = [];
      const add = (what: string, build: (token: number) => Uint8Array): void => {
        const token = ctx.token();
        cases.push({ what, token, f: build(token) });
      };
      const withSize = (f: Uint8Array, size: number): Uint8Array => {
        new DataView(f.buffer).setUint16(6, size, true);
        return f;
      };
      add('msg_size 4 (shorter than the header)', (t) => withSize(frame(0, T_GET_DEVICE_STATUS, dev, t), 4));
      if (max < 65535) add(`msg_size ${max + 1} (above the bus maximum)`, (t) => withSize(frame(0, T_GET_DEVICE_STATUS, dev, t, words(0)), max + 1));
      add('reserved transport msg_id 0x00', (t) => frame(0, 0x00, dev, t));
      add('unknown standard transport msg_id 0x3e', (t) => frame(0, 0x3e, dev, t));
      add('response-typed event (type 0x01, EVENT_USED)', (t) => frame(TYPE_RESPONSE, T_EVENT_USED, dev, t, words(0)));
      add('a response nobody asked for (GET_DEVICE_STATUS)', (t) => frame(TYPE_RESPONSE, T_GET_DEVICE_STATUS, dev, t, words(0)));
      add('bus PING with dev_num 1', (t) => frame(TYPE_BUS, B_PING, 1, t, words(1)));
      add('unknown standard bus msg_id 0x3f', (t) => frame(TYPE_BUS, 0x3f, 0, t, words(0)));
      add('unsupported implementation-defined bus request 0xbf', (t) => frame(TYPE_BUS, 0xbf, 0, t, words(0)));
      // A bus whose framing comes from msg_size itself (a stream) cannot carry some of them at all:
      // its channel refuses those, and they are left out.
      const unrepresentable: string[] = [];
      const sent: typeof cases = [];
      for (const c of cases) {
        try {
          await ctx.send([c.f]);
          sent.push(c);
        } catch (e) {
          unrepresentable.push(`${c.what} (${(e as Error).message})`);
        }
      }
      const left = unrepresentable.length === 0 ? '' : `; not representable on this bus, left out: ${unrepresentable.join('; ')}`;
      const { got, markerAnswered } = await withMarker(ctx, []);
      if (!markerAnswered) return fail(`the PING sent after them was not answered: the bus may have stopped on one of them${left}`);
      const responses = got.filter((r) => (r.frame[0]! & TYPE_RESPONSE) !== 0);
      const reports = got.filter((r) => !((r.frame[0]! & TYPE_RESPONSE) !== 0) && !isPermittedUnsolicited(r.frame));
      if (responses.length > 0 || reports.length > 0) {
        const blame = [...responses, ...reports].map((r) => {
          const c = sent.find((x) => x.token === u16(r.frame, 4));
          return `${hex(r.frame)}${c === undefined ? '' : ` (answer to: ${c.what})`}`;
        });
        return fail(`the bus sent ${blame.length} frame(s): ${blame.join('; ')}${left}`);
      }
      const failures = got.filter((r) => isPermittedUnsolicited(r.frame) && (r.frame[0]! & TYPE_BUS) !== 0 && r.frame[1] !== B_EVENT_DEVICE).length;
      return pass(`${sent.length} malformed frames, no answer${failures > 0 ? ` (${failures} local failure report(s), allowed by §7.21)` : ''}${left}`);
    },
  },
  {
    id: 'bus.events-unanswered',
    section: '§7.20',
    scope: 'bus',
    title: 'events are never answered (no response to EVENT_AVAIL, to misdirected device events or to bus events)',
    async run(ctx) {
      const dev = ctx.dev ?? 1;
      const events: Uint8Array[] = [
        frame(0, T_EVENT_CONFIG, dev, 0, words(0, 0, 0, 0)), // a device's event, sent the wrong way
        frame(0, T_EVENT_USED, dev, 0, words(0)),
        frame(TYPE_BUS, B_EVENT_DEVICE, 0, 0, [dev & 0xff, dev >> 8, DEVICE_BUS_STATE_READY, 0]),
        frame(TYPE_BUS, 0xc7, 0, 0, words(0)), // an implementation-defined bus event
      ];
      if (ctx.dev !== undefined) events.unshift(frame(0, T_EVENT_AVAIL, dev, 0, words(0, 0)));
      const { got, markerAnswered } = await withMarker(ctx, events);
      if (!markerAnswered) return fail('the PING sent after them was not answered: cannot tell');
      const responses = got.filter((r) => (r.frame[0]! & TYPE_RESPONSE) !== 0);
      if (responses.length > 0) return fail(`answered with ${responses.map((r) => hex(r.frame)).join(', ')}`);
      const used = got.filter((r) => (r.frame[0]! & 3) === 0 && r.frame[1] === T_EVENT_USED).length;
      return pass(`${events.length} events, no response${used > 0 ? ` (${used} EVENT_USED from the device: events, allowed)` : ''}`);
    },
  },
  {
    id: 'bus.unvalidated-device',
    section: '§7.14',
    scope: 'bus',
    title: 'a request for a device number GET_DEVICES does not report is not delivered (no answer)',
    async run(ctx) {
      if (ctx.devices === undefined) return skip('GET_DEVICES did not work, so no device number is known to be absent');
      const present = new Set(ctx.devices);
      let absent = 0xfffe;
      while (present.has(absent) && absent > 0) absent--;
      const token = ctx.token();
      await ctx.send([frame(0, T_GET_DEVICE_STATUS, absent, token)]);
      const got = await ctx.receive(() => false, Math.min(ctx.timeoutMs, 4 * ctx.quietMs));
      const answer = got.find((r) => answers(r.frame, false, absent, T_GET_DEVICE_STATUS, token, false));
      if (answer !== undefined) return fail(`device ${absent} is not on the bus, yet ${hex(answer.frame)} came back`);
      const failure = got.map((r) => failureFor(r.frame, absent, token)).find((x) => x !== undefined);
      return pass(`device ${absent}: no answer${failure === undefined ? '' : ` (the bus reported ${failure}, allowed by §7.21)`}`);
    },
  },
  {
    id: 'bus.event-device',
    section: '§7.26',
    scope: 'bus',
    title: 'EVENT_DEVICE frames are 12 bytes with dev_num 0, token 0 and a defined state',
    async run(ctx) {
      const seen = ctx.log.filter((r) => (r.frame[0]! & 3) === TYPE_BUS && r.frame[1] === B_EVENT_DEVICE);
      if (seen.length === 0) return skip('no EVENT_DEVICE arrived during the run (hot-plug a device while it runs to see one)');
      for (const { frame: f } of seen) {
        const state = f.length >= 12 ? u16(f, 10) : -1;
        const okState = state === DEVICE_BUS_STATE_READY || state === DEVICE_BUS_STATE_REMOVED || state >= DEVICE_BUS_STATE_IMPL_MIN;
        if (f.length !== 12 || u16(f, 2) !== 0 || u16(f, 4) !== 0 || !okState) return fail(`${hex(f)}: needs 12 bytes, dev_num 0, token 0 and state 1, 2 or ≥ 0x8000`);
      }
      return pass(`${seen.length} EVENT_DEVICE frame(s), all well-formed`);
    },
  },
  {
    id: 'bus.bus-messages-clean',
    section: '§7.11, §7.12',
    scope: 'bus',
    title: 'bus messages the bus sends carry dev_num 0 and zero reserved type bits',
    async run(ctx) {
      const bus = ctx.log.filter((r) => r.frame.length >= 8 && (r.frame[0]! & TYPE_BUS) !== 0);
      if (bus.length === 0) return skip('no bus message arrived during the run');
      const bad = bus.filter((r) => u16(r.frame, 2) !== 0 || (r.frame[0]! & TYPE_RESERVED_MASK) !== 0);
      return bad.length === 0 ? pass(`${bus.length} bus message(s) checked`) : fail(`${bad.length} of ${bus.length}: ${bad.slice(0, 3).map((r) => hex(r.frame)).join(', ')}`);
    },
  },
];
