// The sequence engine's one token lookup (assembly/loadgen/sequence.ts `lookup`), shared by the
// response path and the REQUEST_FAILED path, driven pass by pass over a router-less in-process
// pair with this test as the device: a transport failure ends the request it names (an order
// violation when older ones are still out), a response for that token afterwards matches
// nothing, and the older request's own response still completes it.
import { afterEach, describe, expect, it } from 'vitest';
import { createInprocPair } from '../../src/bus/inproc-channel.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { engineLayout } from '../../src/loadgen/engine-layout.js';
import { InFlight } from '../../src/loadgen/in-flight.js';
import { LoadMetrics } from '../../src/loadgen/load-metrics.js';
import type { ProfileSpec } from '../../src/loadgen/profiles.js';
import { deviceCycle, setupSequenceMemory } from '../../src/loadgen/sequence-setup.js';
import { RF_DEVICE, RF_MSG_ID, RF_REASON, RF_SIZE, RF_TOKEN, VMSG_EVT_REQUEST_FAILED } from '../../src/wasm/layout.js';

const L = engineLayout();
const TYPE_RESPONSE = 1;
const TYPE_BUS = 2;

function frame(type: number, id: number, dev: number, token: number, size: number): { bytes: Uint8Array; dv: DataView } {
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  dv.setUint8(0, type);
  dv.setUint8(1, id);
  dv.setUint16(2, dev, true);
  dv.setUint16(4, token, true);
  dv.setUint16(6, size, true);
  return { bytes, dv };
}

const ports: EndpointPort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

describe('sequence engine token lookup', () => {
  it('a REQUEST_FAILED ends the request it names; a later response for that token is unexpected, the older one completes', () => {
    const pair = createInprocPair({ maxMessageSize: 264, ringCapacity: 16 });
    const driver = new EndpointPort(pair.driver);
    const device = new EndpointPort(pair.device);
    ports.push(driver, device);
    const profile: ProfileSpec = { name: 'init' };
    const flight = new InFlight([1], profile, 2, new LoadMetrics(1000, 10_000), 10_000);
    const m = setupSequenceMemory(pair.mem, flight.devices, flight.devices.map((o) => deviceCycle(o, profile)!), profile, {
      outstanding: 2, queues: 2, maxMessageSize: 264,
    })!;
    const { dv, wasm } = pair.mem;
    const st = m.st;
    const now = performance.now();
    dv.setUint32(st + L.LGS_TX, driver.out, true);
    dv.setUint32(st + L.LGS_RX, driver.in, true);
    dv.setUint32(st + L.LGS_SPINS, 1, true);
    dv.setFloat64(st + L.LGS_MEASURE_AT, now, true);
    dv.setFloat64(st + L.LGS_STOP_AT, Infinity, true);
    dv.setBigUint64(st + L.LGS_COUNT, 2n, true);
    for (const at of [L.LGS_LAST_COMPLETION, L.LGS_LAST_EXPIRE, L.LGS_LAST]) dv.setFloat64(st + at, now, true);
    dv.setFloat64(st + L.LGS_TIMEOUT_MS, 60_000, true);
    dv.setFloat64(st + L.LGS_STALL_MS, 60_000, true);
    const u64 = (off: number): number => Number(dv.getBigUint64(st + off, true));

    // Both requests go out in the first pass (two in flight).
    wasm.lgSeqRun(st, 1, m.scratch);
    const sent = [device.recv(), device.recv()].map((f) => ({ id: f![1]!, token: f![4]! | (f![5]! << 8) }));
    expect(device.recv()).toBeNull();
    const [older, newer] = sent as [{ id: number; token: number }, { id: number; token: number }];
    expect(newer.token).not.toBe(older.token);

    const failed = frame(TYPE_BUS, VMSG_EVT_REQUEST_FAILED, 0, 0, RF_SIZE);
    failed.dv.setUint16(RF_DEVICE, 1, true);
    failed.dv.setUint8(RF_MSG_ID, newer.id);
    failed.dv.setUint8(RF_REASON, 3);
    failed.dv.setUint16(RF_TOKEN, newer.token, true);
    expect(device.send(failed.bytes)).toBe(true);
    expect(device.send(frame(TYPE_RESPONSE, newer.id, 1, newer.token, 12).bytes)).toBe(true);
    expect(device.send(frame(TYPE_RESPONSE, older.id, 1, older.token, 12).bytes)).toBe(true);
    device.flush();

    expect(wasm.lgSeqRun(st, 16, m.scratch)).toBe(L.LG_DONE);
    const log = Array.from({ length: dv.getUint32(st + L.LGS_LOG_N, true) }, (_, i) => {
      const r = dv.getUint32(st + L.LGS_LOG, true) + i * L.LGL_SIZE;
      return { kind: dv.getUint32(r + L.LGL_KIND, true), token: dv.getUint32(r + L.LGL_TOKEN, true), a: dv.getUint32(r + L.LGL_A, true) };
    });
    expect(log).toEqual([
      { kind: L.LGK_TRANSPORT_FAILURE, token: newer.token, a: 3 },
      { kind: L.LGK_ORDER, token: newer.token, a: 1 }, // counted, not listed: the failure is the event
      { kind: L.LGK_UNEXPECTED, token: newer.token, a: 0 },
    ]);
    expect(u64(L.LGS_COMPLETED)).toBe(1);
    expect(u64(L.LGS_IN_FLIGHT)).toBe(0);
    expect(u64(L.LGS_RECEIVED)).toBe(3);
    expect(u64(L.LGS_SENT)).toBe(2);
    expect(dv.getUint32(dv.getUint32(st + L.LGS_DEVS, true) + L.LGD_IN_FLIGHT, true)).toBe(0);
  });
});
