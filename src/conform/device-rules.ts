// Device rules of docs/PROTOCOL.md §8 that a driver can observe through the bus:
// GET_DEVICE_INFO while inactive, reset to 0, feature blocks, FEATURES_OK, accurate status,
// virtqueue setup and its reset, the config generation, and silent drops of malformed
// requests. Each rule starts from a reset, so it does not depend on the one before.
import { u16, u32, words } from '../client/exchange.js';
import {
  STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_FEATURES_OK, TYPE_RESERVED_MASK, TYPE_RESPONSE, TYPE_BUS,
  T_GET_CONFIG, T_GET_DEVICE_FEATURES, T_GET_DEVICE_INFO, T_GET_DEVICE_STATUS, T_GET_VQUEUE, T_SET_CONFIG,
  T_SET_DEVICE_STATUS, T_SET_DRIVER_FEATURES, T_SET_VQUEUE,
} from '../protocol/constants.js';
import { hex, failureFor, answers, type ConformContext } from './context.js';
import { fail, pass, skip, type Rule, type RuleOutcome } from './rule.js';

/** A rule found what it checks broken: the runner reports FAIL with this detail. */
export class Broken extends Error {}

const must = (ok: boolean, detail: string): void => {
  if (!ok) throw new Broken(detail);
};

/** Ask, and insist on an answer of at least `minSize` bytes. */
async function call(ctx: ConformContext, what: string, msgId: number, payload: Uint8Array | number[] = [], minSize = 8): Promise<Uint8Array> {
  const a = await ctx.ask(ctx.request(msgId, payload));
  if (a.answer === undefined) throw new Broken(ctx.describeMissing(a, what));
  must(a.answer.length >= minSize, `${what}: answer ${hex(a.answer)} is ${a.answer.length} bytes, needs ${minSize}`);
  return a.answer;
}

const setStatus = async (ctx: ConformContext, status: number): Promise<number> => u32(await call(ctx, `SET_DEVICE_STATUS 0x${status.toString(16)}`, T_SET_DEVICE_STATUS, words(status), 12), 8);
const getStatus = async (ctx: ConformContext): Promise<number> => u32(await call(ctx, 'GET_DEVICE_STATUS', T_GET_DEVICE_STATUS, [], 12), 8);

async function reset(ctx: ConformContext): Promise<void> {
  const s = await setStatus(ctx, 0);
  must(s === 0, `SET_DEVICE_STATUS 0 (reset) answered status 0x${s.toString(16)}, must be 0`);
}

/** What GET_DEVICE_INFO says (both layouts), learnt once per run. */
async function info(ctx: ConformContext): Promise<NonNullable<ConformContext['info']>> {
  if (ctx.info !== undefined) return ctx.info;
  const f = await call(ctx, 'GET_DEVICE_INFO', T_GET_DEVICE_INFO, [], ctx.profile === 'rev1-2026' ? 52 : 32);
  ctx.info = ctx.profile === 'rev1-2026'
    ? { featureBits: 32 * u32(f, 32), configSize: u32(f, 36), maxQueues: u32(f, 40) }
    : { featureBits: u32(f, 16), configSize: u32(f, 20), maxQueues: u32(f, 24) };
  return ctx.info;
}

/** Reset, ACKNOWLEDGE, DRIVER, offered features back, FEATURES_OK: the status the device answered. */
async function negotiate(ctx: ConformContext): Promise<number> {
  await reset(ctx);
  await setStatus(ctx, STATUS_ACKNOWLEDGE);
  await setStatus(ctx, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  const blocks = Math.max(1, Math.min(4, Math.ceil((await info(ctx)).featureBits / 32)));
  const f = await call(ctx, 'GET_DEVICE_FEATURES', T_GET_DEVICE_FEATURES, words(0, blocks), 16 + 4 * blocks);
  const offered = Array.from({ length: blocks }, (_, i) => u32(f, 16 + 4 * i));
  await call(ctx, 'SET_DRIVER_FEATURES', T_SET_DRIVER_FEATURES, words(0, blocks, ...offered));
  return setStatus(ctx, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
}

/** Guard every device rule: a device under test is needed; Broken becomes FAIL. */
function deviceRule(r: Omit<Rule, 'scope' | 'run'> & { check(ctx: ConformContext): Promise<RuleOutcome> }): Rule {
  return {
    id: r.id,
    section: r.section,
    title: r.title,
    scope: 'device',
    async run(ctx) {
      if (ctx.dev === undefined) return skip(`no device under test (${ctx.noDevice})`);
      try {
        return await r.check(ctx);
      } catch (e) {
        if (e instanceof Broken) return fail(e.message);
        throw e;
      }
    },
  };
}

/** GET_VQUEUE queue `q`: [max_size, cur_size, desc, driver, device]. */
async function getQueue(ctx: ConformContext, q: number): Promise<{ max: number; cur: number; addrs: bigint[]; f: Uint8Array }> {
  const f = await call(ctx, `GET_VQUEUE ${q}`, T_GET_VQUEUE, words(q), 48);
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  return { max: u32(f, 12), cur: u32(f, 16), addrs: [dv.getBigUint64(24, true), dv.getBigUint64(32, true), dv.getBigUint64(40, true)], f };
}

/** Descriptor table, driver area and device area of the test queue, from the queue base. */
const queueAddrs = (base: bigint): bigint[] => [base, base + 0x1000n, base + 0x2000n];
const hexAddr = (a: bigint): string => `0x${a.toString(16)}`;

export const DEVICE_RULES: Rule[] = [
  deviceRule({
    id: 'device.info-while-inactive',
    section: '§8.3',
    title: 'GET_DEVICE_INFO is answered right after a reset, with a feature-bit count that is a multiple of 32',
    async check(ctx) {
      await reset(ctx);
      ctx.info = undefined;
      const i = await info(ctx);
      if (ctx.profile === 'rev1') must(i.featureBits % 32 === 0, `num_feature_bits ${i.featureBits} is not a multiple of 32`);
      return pass(`${i.featureBits} feature bits, config_size ${i.configSize}, ${i.maxQueues} virtqueue(s)`);
    },
  }),
  deviceRule({
    id: 'device.reset-to-zero',
    section: '§8.7',
    title: 'SET_DEVICE_STATUS 0 resets the device: the answer and a following GET_DEVICE_STATUS show 0',
    async check(ctx) {
      await setStatus(ctx, STATUS_ACKNOWLEDGE);
      await reset(ctx);
      const s = await getStatus(ctx);
      must(s === 0, `GET_DEVICE_STATUS after the reset says 0x${s.toString(16)}`);
      return pass('status 0 after reset');
    },
  }),
  deviceRule({
    id: 'device.feature-blocks',
    section: '§8.4',
    title: 'GET_DEVICE_FEATURES echoes block_index and num_blocks, and blocks beyond the implemented bits read 0',
    async check(ctx) {
      const f = await call(ctx, 'GET_DEVICE_FEATURES 0,2', T_GET_DEVICE_FEATURES, words(0, 2), 24);
      must(u32(f, 8) === 0 && u32(f, 12) === 2 && f.length === 24, `answer ${hex(f)}: must echo block 0, 2 blocks, 24 bytes`);
      const far = 1000;
      const g = await call(ctx, `GET_DEVICE_FEATURES ${far},1`, T_GET_DEVICE_FEATURES, words(far, 1), 20);
      must(u32(g, 8) === far && u32(g, 12) === 1 && g.length === 20, `answer ${hex(g)}: must echo block ${far}, 1 block, 20 bytes`);
      must(u32(g, 16) === 0, `block ${far} reads 0x${u32(g, 16).toString(16)}, must be 0 (no device implements bit ${32 * far})`);
      return pass(`offered 0x${u32(f, 20).toString(16).padStart(8, '0')}${u32(f, 16).toString(16).padStart(8, '0')}; block ${far} is 0`);
    },
  }),
  deviceRule({
    id: 'device.features-ok',
    section: '§8.5, §8.8',
    title: 'accepting exactly the offered features keeps FEATURES_OK, and GET_DEVICE_STATUS reports the status in effect',
    async check(ctx) {
      const s = await negotiate(ctx);
      must((s & STATUS_FEATURES_OK) !== 0, `SET_DEVICE_STATUS FEATURES_OK with the offered features answered 0x${s.toString(16)} (FEATURES_OK cleared)`);
      const g = await getStatus(ctx);
      must(g === s, `GET_DEVICE_STATUS says 0x${g.toString(16)}, the SET_DEVICE_STATUS answer said 0x${s.toString(16)}`);
      await reset(ctx);
      return pass(`status 0x${s.toString(16)}`);
    },
  }),
  deviceRule({
    id: 'device.vqueue-unconfigured',
    section: '§8.9',
    title: 'GET_VQUEUE on a queue not yet set up reports cur_size 0 and its max_size',
    async check(ctx) {
      await reset(ctx);
      const { maxQueues } = await info(ctx);
      if (maxQueues === 0) return skip('the device has no virtqueue');
      const q = await getQueue(ctx, 0);
      must(u32(q.f, 8) === 0, `answer ${hex(q.f)} is for queue ${u32(q.f, 8)}, asked 0`);
      must(q.cur === 0, `queue 0 after reset: cur_size ${q.cur}, must be 0`);
      must(q.max > 0, 'queue 0 exists (max_virtqueues > 0) but max_size is 0');
      return pass(`queue 0: max_size ${q.max}, cur_size 0`);
    },
  }),
  deviceRule({
    id: 'device.vqueue-kept',
    section: '§8.9',
    title: 'SET_VQUEUE parameters are kept: GET_VQUEUE reads back the size and the three addresses',
    async check(ctx) {
      const { maxQueues } = await info(ctx);
      if (maxQueues === 0) return skip('the device has no virtqueue');
      const s = await negotiate(ctx);
      if ((s & STATUS_FEATURES_OK) === 0) return skip('FEATURES_OK was refused, queues cannot be set up');
      const before = await getQueue(ctx, 0);
      let size = 1;
      while (size * 2 <= Math.min(before.max, 64)) size *= 2;
      const addrs = queueAddrs(ctx.queueBase);
      const p = new Uint8Array(40);
      const dv = new DataView(p.buffer);
      dv.setUint32(0, 0, true);
      dv.setUint32(8, size, true);
      addrs.forEach((a, i) => dv.setBigUint64(16 + 8 * i, a, true));
      await call(ctx, 'SET_VQUEUE 0', T_SET_VQUEUE, p);
      const after = await getQueue(ctx, 0);
      const hint = ` (a device may refuse a queue outside the memory it can reach: if guest address ${hexAddr(ctx.queueBase)} is not in its memory, give --queue-base ADDR)`;
      must(after.cur === size, `GET_VQUEUE 0 after SET_VQUEUE size ${size} at ${hexAddr(ctx.queueBase)}: cur_size ${after.cur}${hint}`);
      must(after.addrs.every((a, i) => a === addrs[i]), `GET_VQUEUE 0 addresses ${after.addrs.map(hexAddr).join(',')}, set ${addrs.map(hexAddr).join(',')}`);
      ctx.memo.set('queue-set', Promise.resolve(size));
      return pass(`queue 0 set to size ${size} at ${hexAddr(ctx.queueBase)} and read back`);
    },
  }),
  deviceRule({
    id: 'device.reset-drops-queues',
    section: '§8.7',
    title: 'a reset drops virtqueue settings: after SET_DEVICE_STATUS 0, GET_VQUEUE reports cur_size 0',
    async check(ctx) {
      if (!ctx.memo.has('queue-set')) return skip('needs device.vqueue-kept to have set a queue up');
      await reset(ctx);
      const q = await getQueue(ctx, 0);
      must(q.cur === 0, `queue 0 after reset: cur_size ${q.cur} (its setup survived the reset)`);
      must((await getStatus(ctx)) === 0, 'status is not 0 after the reset');
      return pass('queue 0 back to cur_size 0');
    },
  }),
  deviceRule({
    id: 'device.config-generation',
    section: '§8.6',
    title: 'every GET_CONFIG answer carries the generation and echoes offset and length; it does not move without a change',
    async check(ctx) {
      const { configSize } = await info(ctx);
      if (configSize === 0) return skip('config_size is 0');
      const len = Math.min(4, configSize);
      const read = async (): Promise<Uint8Array> => {
        const f = await call(ctx, `GET_CONFIG 0,${len}`, T_GET_CONFIG, words(0, len), 20 + len);
        must(u32(f, 12) === 0 && u32(f, 16) === len && f.length === 20 + len, `answer ${hex(f)}: must echo offset 0, length ${len}, ${20 + len} bytes`);
        return f;
      };
      const a = await read(), b = await read();
      must(u32(a, 8) === u32(b, 8), `generation moved from ${u32(a, 8)} to ${u32(b, 8)} between two reads with no change`);
      ctx.memo.set('config', Promise.resolve({ generation: u32(a, 8), data: a.slice(20, 20 + len) }));
      return pass(`generation ${u32(a, 8)}`);
    },
  }),
  deviceRule({
    id: 'device.stale-generation-rejected',
    section: '§8.6',
    title: 'SET_CONFIG with a generation other than the current one is rejected with length 0 (PR28 / 2026 strict)',
    async check(ctx) {
      if (ctx.profile === 'rev1-2026') return skip('2026 baseline devices ignore the generation (strict profile only)');
      const known = ctx.memo.get('config') as Promise<{ generation: number; data: Uint8Array }> | undefined;
      if (known === undefined) return skip('needs device.config-generation');
      const { generation, data } = await known;
      const stale = (generation + 0x5a5a) >>> 0;
      const p = new Uint8Array(12 + data.length);
      p.set(words(stale, 0, data.length));
      p.set(data, 12); // the current bytes: even if applied, nothing changes
      const f = await call(ctx, 'SET_CONFIG (stale generation)', T_SET_CONFIG, p, 20);
      must(u32(f, 16) === 0, `SET_CONFIG with generation ${stale} (current ${generation}) was accepted: length ${u32(f, 16)}`);
      return pass(`rejected, current generation ${u32(f, 8)}`);
    },
  }),
  deviceRule({
    id: 'device.generation-survives-reset',
    section: '§8.6',
    title: 'the config generation is not reset to 0 by a device reset',
    async check(ctx) {
      const { configSize } = await info(ctx);
      if (configSize === 0) return skip('config_size is 0');
      const gen = async (): Promise<number> => u32(await call(ctx, 'GET_CONFIG 0,1', T_GET_CONFIG, words(0, 1), 21), 8);
      const before = await gen();
      if (before === 0) return skip('the generation is 0 already: a reset to 0 cannot be told apart');
      await reset(ctx);
      const after = await gen();
      must(after !== 0, `generation ${before} became 0 after the reset`);
      return pass(`generation ${before} → ${after} across the reset`);
    },
  }),
  deviceRule({
    id: 'device.malformed-dropped',
    section: '§8.2',
    title: 'malformed requests (truncated payloads) are dropped without an answer',
    async check(ctx) {
      const bad = [
        { what: 'GET_DEVICE_FEATURES without its payload (8 bytes)', f: ctx.request(T_GET_DEVICE_FEATURES) },
        { what: 'SET_DEVICE_STATUS without its status word (8 bytes)', f: ctx.request(T_SET_DEVICE_STATUS) },
        { what: 'GET_VQUEUE without its index (8 bytes)', f: ctx.request(T_GET_VQUEUE) },
      ];
      // No request follows them: a bus keeps a device's answers in order, so anything sent
      // after a dropped request would wait for the bus to fail it (its request timeout). They
      // run last for the same reason. An answer, if the device wrongly sends one, comes at once.
      await ctx.send(bad.map((b) => b.f));
      const dev = ctx.dev!;
      const got = await ctx.receive(() => false, Math.min(ctx.timeoutMs, Math.max(4 * ctx.quietMs, 500)));
      const answered = bad.filter((b) => got.some((r) => answers(r.frame, false, dev, b.f[1]!, u16(b.f, 4))));
      must(answered.length === 0, `answered: ${answered.map((b) => b.what).join('; ')}`);
      const failures = bad.filter((b) => got.some((r) => failureFor(r.frame, dev, u16(b.f, 4)) !== undefined)).length;
      return pass(`${bad.length} dropped${failures > 0 ? ` (the bus reported ${failures} transport failure(s), allowed by §7.21)` : ''}`);
    },
  }),
  deviceRule({
    id: 'device.frames',
    section: '§8.1',
    title: "the device's frames carry its own dev_num and zero reserved type bits",
    async check(ctx) {
      const dev = ctx.dev!;
      const mine = ctx.log.filter((r) => r.frame.length >= 8 && (r.frame[0]! & TYPE_BUS) === 0 && u16(r.frame, 2) === dev);
      if (mine.length === 0) return skip('no frame from the device was seen');
      const bad = mine.filter((r) => (r.frame[0]! & TYPE_RESERVED_MASK) !== 0);
      must(bad.length === 0, `${bad.length} frame(s) with reserved type bits set: ${bad.slice(0, 3).map((r) => hex(r.frame)).join(', ')}`);
      const responses = mine.filter((r) => (r.frame[0]! & TYPE_RESPONSE) !== 0).length;
      return pass(`${mine.length} frames (${responses} answers) checked`);
    },
  }),
];
