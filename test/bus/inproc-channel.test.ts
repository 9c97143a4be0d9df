// The in-process FrameChannel: a driver's frames reach the device side through real rings,
// answers wake an idle driver through the doorbell (Atomics.waitAsync, event loop free), and
// close() detaches the link from the router.
import { describe, it, expect } from 'vitest';
import { InprocChannel, createInprocPair } from '../../src/bus/inproc-channel.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { bytes, hex } from '../router/helpers.js';
import { startEchoRouter } from '../tools/echo-router.js';

const GET_STATUS_DEV1_TOK5 = '0007010005000800';

describe('InprocChannel', () => {
  it('a request through a router reaches the echo device and its response wakes the waiting driver', async () => {
    const target = await startEchoRouter([1]);
    try {
      const ch = await target.channel();
      expect(ch.maxMessageSize).toBe(264);
      const attached = (): number => target.router.stats().endpoints.filter((e) => !e.detached).length;
      const endpointsBefore = attached();
      let timerFired = false;
      const timer = setTimeout(() => { timerFired = true; }, 0);
      // Nothing is there yet: wait() sleeps without blocking the event loop and times out.
      expect(await ch.wait(30)).toBe(false);
      expect(timerFired).toBe(true);
      clearTimeout(timer);
      expect(ch.send(bytes(GET_STATUS_DEV1_TOK5))).toBe(true);
      ch.flush();
      let got: Uint8Array | null = null;
      for (let i = 0; i < 100 && got === null; i++) if (await ch.wait(100)) got = ch.recv();
      expect(got && hex(got)).toBe('010701000500' + '0c00' + '0f000000');
      await ch.close();
      expect(attached()).toBe(endpointsBefore - 1);
      await ch.close(); // twice is harmless
    } finally {
      await target.close();
    }
  });

  it('a router-less pair carries frames unchanged in both directions', async () => {
    const pair = createInprocPair({ maxMessageSize: 64, ringCapacity: 8 });
    const ch = new InprocChannel(pair.driver);
    const device = new EndpointPort(pair.device);
    expect(ch.maxMessageSize).toBe(64);
    // Even a frame the router would drop (msg_size 4) passes: nothing judges it on the way
    // (the reader sees msg_size bytes of it, as receivers must).
    for (const f of [GET_STATUS_DEV1_TOK5, '00070100050004000000']) expect(ch.send(bytes(f))).toBe(true);
    ch.flush();
    expect(hex(device.recv()!)).toBe(GET_STATUS_DEV1_TOK5);
    expect(hex(device.recv()!)).toBe('00070100');
    const waiting = ch.wait(5000);
    device.send(bytes('0107010005000c000f000000'));
    device.flush();
    expect(await waiting).toBe(true);
    expect(hex(ch.recv()!)).toBe('0107010005000c000f000000');
    // A full ring refuses more. Packed: room for 8 frames of 64 bytes is 32 units of 16; an
    // 8-byte frame takes 1, one is kept empty and a reserve needs room for the largest frame
    // (4 units), so 32 - 1 - 3 = 28 fit (once the device has published what it read).
    device.flushReceived();
    let sent = 0;
    while (ch.send(bytes(GET_STATUS_DEV1_TOK5))) sent++;
    expect(sent).toBe(28);
    expect(() => ch.send(new Uint8Array(72).fill(0x48))).toThrow(/exceeds this link's maximum of 64/);
    await ch.close();
  });
});
