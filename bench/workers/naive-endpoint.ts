// Driver and device threads of the naive-messageport case: what a user without shared-memory
// rings would write. Every frame is one postMessage of an 8- or 12-byte Uint8Array.
//   driver  keeps `outstanding` GET_DEVICE_STATUS requests in flight per device and checks each
//           response (type, id, device, its own token in order per device), like the pipeline
//           driver; counters go to shared memory.
//   device  answers every request with a 12-byte response carrying the request's token.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface NaiveEndpointData {
  role: 'driver' | 'device';
  devices: number[];
  outstanding: number;
  counters: SharedArrayBuffer;
}

/** Float64 counters of the driver: responses accepted, wrong answers. */
export const N_RESPONSES = 0;
export const N_ERRORS = 1;
export const N_COUNT = 2;

const GET_DEVICE_STATUS = 0x07;

function driver(d: NaiveEndpointData, port: NonNullable<typeof parentPort>): void {
  const counters = new Float64Array(d.counters);
  const index = new Map(d.devices.map((dev, i) => [dev, i]));
  const nextToken = new Uint16Array(d.devices.length);
  const expectToken = new Uint16Array(d.devices.length);
  const send = (i: number): void => {
    const dev = d.devices[i]!;
    const t = nextToken[i]!;
    nextToken[i] = (t + 1) & 0xffff;
    port.postMessage(new Uint8Array([0, GET_DEVICE_STATUS, dev & 0xff, dev >> 8, t & 0xff, t >> 8, 8, 0]));
  };
  port.on('message', (f: Uint8Array) => {
    const dev = f[2]! | (f[3]! << 8);
    const token = f[4]! | (f[5]! << 8);
    const i = index.get(dev);
    if (f[0] !== 1 || f[1] !== GET_DEVICE_STATUS || i === undefined || token !== expectToken[i]) counters[N_ERRORS]!++;
    else counters[N_RESPONSES]!++;
    if (i !== undefined) {
      expectToken[i] = (token + 1) & 0xffff;
      send(i); // keep the depth: one new request per answer
    }
  });
  for (let i = 0; i < d.devices.length; i++) for (let k = 0; k < d.outstanding; k++) send(i);
}

function device(port: NonNullable<typeof parentPort>): void {
  port.on('message', (f: Uint8Array) => {
    const r = new Uint8Array(12);
    r.set(f.subarray(0, 6));
    r[0] = 1;
    r[6] = 12;
    r[8] = 0x0f; // status word
    port.postMessage(r);
  });
}

if (!isMainThread && parentPort !== null) {
  const d = workerData as NaiveEndpointData;
  if (d.role === 'driver') driver(d, parentPort);
  else device(parentPort);
}
