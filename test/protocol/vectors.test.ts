// Every wire vector of test/fixtures/wire-vectors.json, both profiles: valid ones decode to exactly
// their listed fields and re-encode byte for byte; invalid ones are rejected with their code,
// by the layer (router or endpoint) the vector says owns the rule.
import { describe, expect, it } from 'vitest';
import {
  decode, encode, validate, validateRouter, toJson, reasonName, reasonDescription, reasonCode,
} from '../../src/protocol/index.js';
import { loadVectors, bytesOf, hexOf, contextOf, contextLabel, specName, type Vector } from './load-vectors.js';

const vectors = loadVectors();
const valid = vectors.filter((v) => v.valid);
const invalid = vectors.filter((v) => !v.valid);

/** A vector's `decoded` in our JSON naming: spec message name + response flag, `payload` for opaque bytes. */
function expectedJson(v: Vector): Record<string, unknown> {
  const { message, payload_hex, ...fields } = v.decoded as { message: string; payload_hex?: string };
  const name = specName(message);
  return { valid: true, ...fields, ...name, ...(payload_hex === undefined ? {} : { payload: payload_hex }) };
}

describe('wire-vectors.json', () => {
  it('holds all the vectors, in both profiles, valid and invalid', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(60);
    expect(new Set(vectors.map((v) => v.profile))).toEqual(new Set(['rev1', 'rev1-2026']));
    expect(valid.length).toBeGreaterThan(0);
    expect(invalid.length).toBeGreaterThan(0);
  });

  it('uses only reason codes of the one reason table', () => {
    for (const v of vectors) expect(reasonCode(v.code), `${v.name}: ${v.code}`).toBeDefined();
  });
});

describe('a valid frame decodes to exactly its spec fields and re-encodes to the same bytes', () => {
  it.each(valid.map((v) => [`${v.name} — ${contextLabel(v)}`, v] as const))('%s', (_, v) => {
    const bytes = bytesOf(v.hex);
    const r = validate(bytes, contextOf(v));
    if (!r.ok) expect.fail(`${v.name}: ${reasonName(r.reason)}: ${r.detail}`);
    // Exactly the listed fields: same keys and values (response is our one addition).
    expect(toJson(r, { profile: v.profile })).toEqual(expectedJson(v));

    // The context-free decoder agrees with the validator.
    const d = decode(bytes, { profile: v.profile, getdevAlt: v.context.getdev_alt });
    expect(d.ok && d.msg).toEqual(r.msg);

    // Only the first msg_size bytes are the message (bus padding after it is not: t_event_used_padded_frame).
    expect(hexOf(encode(r.msg, { getdevAlt: v.context.getdev_alt }))).toBe(hexOf(bytes.subarray(0, r.header.msg_size)));
  });
});

describe('an invalid frame is rejected with its reason by the layer that owns the rule', () => {
  it.each(invalid.map((v) => [`${v.name} → ${v.code} (${reasonDescription(reasonCode(v.code) ?? -1)}) — ${contextLabel(v)}`, v] as const))('%s', (_, v) => {
    const r = validate(bytesOf(v.hex), contextOf(v));
    if (r.ok) expect.fail(`${v.name} was accepted as ${r.msg.message}`);
    expect(reasonName(r.reason)).toBe(v.code);
    expect(r.detected_by).toBe(v.detected_by);
    expect(r.detail.length).toBeGreaterThan(0);
    // The header fields the vector lists (all of them but raw_len) are what we parsed.
    const { message, raw_len, ...hdr } = v.decoded as { message?: string; raw_len?: number };
    if (raw_len === undefined) expect(r.header).toEqual(hdr);
    else expect(r.header).toBeUndefined();
  });
});

describe('a router judges headers, routing and bus messages but forwards transport payloads opaquely (docs/PROTOCOL.md §7 rule 7)', () => {
  it.each(invalid.filter((v) => v.detected_by === 'router').map((v) => [v.name, v] as const))('router drops %s', (_, v) => {
    const r = validateRouter(bytesOf(v.hex), contextOf(v));
    expect(r.ok ? 'OK' : reasonName(r.reason)).toBe(v.code);
  });

  it.each(invalid.filter((v) => v.detected_by === 'endpoint').map((v) => [v.name, v] as const))('router forwards %s (endpoint rule)', (_, v) => {
    expect(validateRouter(bytesOf(v.hex), contextOf(v)).ok).toBe(true);
  });

  it.each(valid.map((v) => [v.name, v] as const))('router forwards valid %s', (_, v) => {
    expect(validateRouter(bytesOf(v.hex), contextOf(v)).ok).toBe(true);
  });
});

describe('endpoint rules that need context are checked only when the context is known', () => {
  const needs = invalid.filter((v) => v.context.config_size !== undefined || v.context.notification_data !== undefined || v.context.ping_sent !== undefined);
  it('some invalid vectors depend on endpoint context', () => expect(needs.length).toBeGreaterThan(0));
  it.each(needs.map((v) => [v.name, v] as const))('%s is valid without its endpoint context', (_, v) => {
    const r = validate(bytesOf(v.hex), { ...contextOf(v), configSize: undefined, notificationData: undefined, pingSent: undefined });
    expect(r.ok ? 'OK' : reasonName(r.reason)).toBe('OK');
  });
});
