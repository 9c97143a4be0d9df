// The step-by-step tools (conform, device discovery) answer the keep-alive PINGs the bus sends
// them: `vmsg route` PINGs a shared-memory driver link every 250 ms and declares a peer that
// stays silent for 8 periods dead, which used to take the link down in the middle of a
// `vmsg conform` run.
import { describe, it, expect } from 'vitest';
import { InprocChannel, createInprocPair } from '../../src/bus/inproc-channel.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { Exchange, isPingRequest } from '../../src/client/exchange.js';
import { bytes, hex } from '../router/helpers.js';

describe('Exchange', () => {
  it('answers the bus PING requests it receives, keeps them out of the answers and in the log', async () => {
    const pair = createInprocPair({ maxMessageSize: 64, ringCapacity: 8 });
    const ch = new InprocChannel(pair.driver);
    const bus = new EndpointPort(pair.device);
    const log: { frame: Uint8Array }[] = [];
    const ex = new Exchange(ch, log);
    // The bus sends a keep-alive PING (data 0x11223344, token 7), then an answer to something.
    bus.send(bytes('0203000007000c0044332211'));
    bus.send(bytes('0107010005000c000f000000'));
    bus.flush();
    const got = await ex.receive((g) => g.length > 0, 1000);
    expect(got.map((r) => hex(r.frame))).toEqual(['0107010005000c000f000000']);
    expect(log.map((r) => hex(r.frame))).toEqual(['0203000007000c0044332211', '0107010005000c000f000000']);
    expect(ex.pings.answered).toBe(1);
    // The PING's answer went back: response bit set, token and data echoed.
    expect(hex(bus.recv()!)).toBe('0303000007000c0044332211');
    expect(bus.recv()).toBeNull();
    // A PING *answer* is an answer like any other, not a request to echo.
    expect(isPingRequest(bytes('0303000007000c0044332211'))).toBe(false);
    await ch.close();
  });
});
