// Bytes per link and direction (vmsg_link_rx_bytes_total / vmsg_link_tx_bytes_total): through
// the real router (shard workers), each link's counts equal the msg_size sum of the frames its
// peer sent and received, router-made frames (EVENT_DEVICE, failure events) included, also
// when the driver and the device sit on different shards.
import { describe, it, expect } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { routerRegistry } from '../../src/ops/metrics.js';
import { until } from '../helpers/wait.js';

/** A transport frame: type, msg_id, dev, token, msg_size, payload bytes filled with `fill`. */
function frame(type: number, msgId: number, dev: number, token: number, size: number, fill = 0xa5): Uint8Array {
  const f = new Uint8Array(size).fill(fill);
  const dv = new DataView(f.buffer);
  f[0] = type; f[1] = msgId;
  dv.setUint16(2, dev, true); dv.setUint16(4, token, true); dv.setUint16(6, size, true);
  return f;
}

/** A port that sums the bytes it sends and receives. */
class Counting {
  sent = 0;
  received = 0;
  frames: Uint8Array[] = [];
  constructor(readonly port: EndpointPort) {}
  send(f: Uint8Array): void {
    if (!this.port.send(f)) throw new Error('ring full');
    this.port.flush();
    this.sent += f.length;
  }
  /** Take what arrived; true when anything did. */
  poll(): boolean {
    let any = false;
    for (let f = this.port.recv(); f !== null; f = this.port.recv()) {
      this.received += new DataView(f.buffer, f.byteOffset).getUint16(6, true);
      this.frames.push(f.slice());
      any = true;
    }
    return any;
  }
}

describe('bytes per link and direction', () => {
  it('equal the frame sizes each link sent and received, across shards', async () => {
    const router = await Router.create({ shards: 2, timeoutMs: 20_000 });
    try {
      const drv = new Counting(new EndpointPort(await router.attachDriver({ label: 'inproc:bytes-driver', shard: 0 })));
      const dev = new Counting(new EndpointPort(await router.attachDevice({ devices: [1, 2], label: 'inproc:bytes-device', shard: 1 })));
      await until(() => (drv.poll(), drv.frames.length >= 2), 'EVENT_DEVICE READY for both devices');
      // Impl-defined requests of many sizes (payload carried as is), events, and one request
      // to a device number nobody serves (the router answers with a failure event).
      const sizes = [8, 9, 16, 17, 31, 40, 63, 64, 100, 255];
      let token = 1;
      for (const size of sizes) drv.send(frame(0x00, 0x81, 1 + (token & 1), token++, size));
      drv.send(frame(0x00, 0xc1, 1, 0, 24)); // impl-defined event
      drv.send(frame(0x00, 0x81, 7, token++, 12)); // unvalidated device: a failure event comes back
      // The device answers each request with a frame of another size.
      let answered = 0;
      await until(() => {
        dev.poll();
        for (const req of dev.frames.splice(0)) {
          if ((req[1]! & 0x40) !== 0 || req[1] === 0xc1) continue; // the event
          const dv = new DataView(req.buffer, req.byteOffset);
          dev.send(frame(0x01, req[1]!, dv.getUint16(2, true), dv.getUint16(4, true), 8 + ((req.length * 3) % 90), 0x5a));
          answered++;
        }
        return answered === sizes.length;
      }, 'every request at the device');
      const want = { drvTx: 2 + sizes.length + 1, devRx: sizes.length };
      await until(() => (drv.poll(), drv.frames.length >= want.drvTx), 'the answers and the failure event at the driver');
      // Counters are written by the shards as they go: wait until they cover every frame.
      const link = (name: string) => router.linkStats().find((l) => l.link === name)!.counters;
      await until(() => link('inproc:bytes-driver').tx === want.drvTx && link('inproc:bytes-device').rx === want.devRx, 'the counters');
      const d = link('inproc:bytes-driver'), v = link('inproc:bytes-device');
      expect(drv.sent).toBe(sizes.reduce((a, b) => a + b, 0) + 24 + 12);
      expect(d.rxBytes).toBe(drv.sent);
      expect(d.txBytes).toBe(drv.received);
      expect(v.rxBytes).toBe(dev.sent);
      expect(v.txBytes).toBe(dev.received);
      expect(v.txBytes).toBe(drv.sent - 12); // the device saw every frame but the refused one
      // The same numbers in the Prometheus export, one series per link and direction.
      const text = await routerRegistry(router, { defaultMetrics: false }).metrics();
      const series = (name: string, l: string): number => Number(new RegExp(`^${name}\\{link="${l}",kind="\\w+"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      expect(series('vmsg_link_rx_bytes_total', 'inproc:bytes-driver')).toBe(d.rxBytes);
      expect(series('vmsg_link_tx_bytes_total', 'inproc:bytes-driver')).toBe(d.txBytes);
      expect(series('vmsg_link_rx_bytes_total', 'inproc:bytes-device')).toBe(v.rxBytes);
      expect(series('vmsg_link_tx_bytes_total', 'inproc:bytes-device')).toBe(v.txBytes);
    } finally {
      await router.close();
    }
  });
});
