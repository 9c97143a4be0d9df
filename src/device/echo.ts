// The echo device loop (issue "Devices and drivers": the minimal device for benchmarks):
// answers every transport request at once with a response of the same id that carries the
// request's token (2026 text: the device copies it), and turns each EVENT_AVAIL into an
// EVENT_USED for the same queue. Works on any number of device numbers behind one link.
import { EndpointPort } from '../router/port.js';

export interface EchoCounters {
  requests: number;
  events: number;
}

/** Handle every frame waiting in the port; returns how many. Responses are 12 bytes: status word = 0x0f. */
export function echoSome(port: EndpointPort, counters: EchoCounters, budget = 1024): number {
  const u8 = port.u8;
  let n = 0;
  while (n < budget) {
    const f = port.peek();
    if (f === 0) break;
    const type = u8[f]!;
    const id = u8[f + 1]!;
    // Read what we need before giving the slot back: the producer may reuse it at once.
    const dev0 = u8[f + 2]!, dev1 = u8[f + 3]!, tok0 = u8[f + 4]!, tok1 = u8[f + 5]!;
    const vq = port.dv.getUint32(f + 8, true);
    const isRequest = (type & 3) === 0 && (id & 0x40) === 0;
    const isAvail = (type & 3) === 0 && id === 0x41;
    if (!isRequest && !isAvail) {
      port.release();
      n++;
      continue;
    }
    const s = port.reserve();
    if (s === 0) break; // our outgoing ring is full: leave the frame, try again later
    port.release();
    if (isRequest) {
      u8[s] = 1; u8[s + 1] = id; u8[s + 4] = tok0; u8[s + 5] = tok1;
      port.dv.setUint32(s + 8, 0x0f, true);
      counters.requests++;
    } else {
      u8[s] = 0; u8[s + 1] = 0x42; u8[s + 4] = 0; u8[s + 5] = 0;
      port.dv.setUint32(s + 8, vq, true);
      counters.events++;
    }
    u8[s + 2] = dev0; u8[s + 3] = dev1; u8[s + 6] = 12; u8[s + 7] = 0;
    port.commit();
    n++;
  }
  if (n !== 0) port.flush();
  return n;
}
