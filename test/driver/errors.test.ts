// Driver SDK requests end in exactly one outcome (docs/PROTOCOL.md §7 rule 17, §8 driver rule 10): the
// response, or the router's transport failure as a TransportError naming the reason, or — when
// neither comes in time — the driver's own RequestTimeoutError.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevices, runDriver, type Bench } from '../device/helpers.js';

interface Outcome { ok: boolean; name?: string; reason?: string; message?: string }

describe('driver request outcomes', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startDevices([], { timeoutMs: 300 });
    await bench.router.attachDevice({ devices: [11] }); // a device endpoint nobody serves: it never answers
  });
  afterAll(async () => {
    await bench.close();
  });

  it('router failures become TransportErrors with the reason name; the driver deadline is a RequestTimeoutError', async () => {
    const r = await runDriver<{ unvalidated: Outcome; silent: Outcome; deadline: Outcome }>(bench, 'errors', { silentDev: 11 });
    expect(r.unvalidated).toMatchObject({ ok: false, name: 'TransportError', reason: 'UNVALIDATED_DEV_NUM' });
    expect(r.unvalidated.message).toMatch(/device 999: request 0x07 failed in the router: UNVALIDATED_DEV_NUM/);
    expect(r.silent).toMatchObject({ ok: false, name: 'TransportError', reason: 'TIMEOUT' });
    expect(r.deadline).toMatchObject({ ok: false, name: 'RequestTimeoutError' });
    expect(r.deadline.message).toMatch(/within 50 ms/);
  });
});
