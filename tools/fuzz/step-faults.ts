// Faults inside a routing step, with real shard workers: a Router running the fault-injection
// build (faultsModule(), assembly/router/faults.ts) under traffic that parks frames and crosses
// shards, a point armed on one shard at a time; the shard traps there, its worker dies and the
// router restarts it. After each restart the run stops sending, lets the devices answer
// everything and checks what a driver and a device can see:
// - every request outstanding at the fault ends in exactly one outcome (its response, or one
//   transport failure: SHARD_RESTARTED for those the dead shard held, DEVICE_BUSY for a full
//   device) — none lost, none twice;
// - no device receives a request or an event twice (each carries a unique sequence number);
// - the accounting law (src/router/accounting.ts) holds exactly at quiescence.
// The far ends are played by this thread through EndpointPorts. `test/router/step-faults.test.ts`
// runs a few dozen faults; `npm run fuzz -- --only faults --minutes M` runs it for longer.
import { createRouterWithModule, injectStepFault, waitRestarts } from '../../src/router/test-hooks.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { checkAccounting, accountingViolations, waitQuiescent } from '../../src/router/accounting.js';
import { faultsModule } from '../../src/wasm/module.js';
import { Reason, reasonName } from '../../src/protocol/reasons.js';
import { Prng } from './prng.js';
import { RequestTracker, type TrackedRequest } from '../../src/client/request-tracker.js';

/** Points of assembly/router/faults.ts (1..POINTS). */
export const POINTS = 4;
export const POINT_NAMES = ['', 'taken (before the consumer index moves)', 'after parking', 'cross-shard, first half', 'cross-shard, second half'];

export interface StepFaultOptions {
  /** Faults to inject (one per run), or run until `minutes` passed. */
  faults?: number;
  minutes?: number;
  seed: number;
  log?: (line: string) => void;
}

export interface StepFaultSummary {
  seed: number;
  runs: number;
  faults: number;
  /** Faults that fired by point (index: point id). */
  byPoint: number[];
  requests: number;
  responses: number;
  failuresByReason: Record<string, number>;
  /** Requests outstanding when a fault fired (each must end in exactly one outcome). */
  outstandingAtFault: number;
  events: number;
  /** Violations (empty when every property held). */
  violations: string[];
  seconds: number;
}

const MAX_IN_FLIGHT = 12;
const TIMEOUT_MS = 4000;

/** A request in flight; `n` is the sequence number in its payload (the devices check none is delivered twice). */
interface Open extends TrackedRequest { dev: number; n: number; sentAt: number }

/** GET_DEVICE_STATUS with a 16-byte payload whose first word is `seq` (the router does not look at transport payloads). */
function request(dev: number, token: number, seq: number): Uint8Array {
  const f = new Uint8Array(16);
  const dv = new DataView(f.buffer);
  f[0] = 0; f[1] = 0x07; dv.setUint16(2, dev, true); dv.setUint16(4, token, true); dv.setUint16(6, 16, true);
  dv.setUint32(8, seq, true);
  return f;
}

/** EVENT_AVAIL for virtqueue `vq` whose next_offset is `seq`. */
function availEvent(dev: number, vq: number, seq: number): Uint8Array {
  const f = new Uint8Array(16);
  const dv = new DataView(f.buffer);
  f[0] = 0; f[1] = 0x41; dv.setUint16(2, dev, true); dv.setUint16(6, 16, true);
  dv.setUint32(8, vq, true); dv.setUint32(12, seq, true);
  return f;
}

class Driver {
  readonly open = new RequestTracker<Open>();
  constructor(readonly port: EndpointPort, readonly name: string) {}
}

class Device {
  readonly toAnswer: Uint8Array[] = [];
  constructor(readonly port: EndpointPort, readonly devices: number[]) {}
}

export async function runStepFaults(o: StepFaultOptions): Promise<StepFaultSummary> {
  const log = o.log ?? (() => undefined);
  const rng = new Prng(o.seed);
  const t0 = Date.now();
  const s: StepFaultSummary = {
    seed: o.seed, runs: 0, faults: 0, byPoint: new Array<number>(POINTS + 1).fill(0), requests: 0, responses: 0,
    failuresByReason: {}, outstandingAtFault: 0, events: 0, violations: [], seconds: 0,
  };
  const fail = (v: string): void => { if (s.violations.length < 20) s.violations.push(v); };
  // Small windows, park bounds and rings: parking, DEVICE_BUSY and full cross-shard rings come quickly.
  const router = await createRouterWithModule(
    { shards: 2, timeoutMs: TIMEOUT_MS, window: 4, parkLimit: 4, ringCapacity: 8, poolSlots: 64, spinBeforeSleep: 50 },
    faultsModule(),
  );
  try {
    const drivers = [
      new Driver(new EndpointPort(await router.attachDriver({ shard: 0 })), 'drv0'),
      new Driver(new EndpointPort(await router.attachDriver({ shard: 1 })), 'drv1'),
    ];
    const devices = [
      new Device(new EndpointPort(await router.attachDevice({ devices: [1, 2], shard: 0 })), [1, 2]),
      new Device(new EndpointPort(await router.attachDevice({ devices: [3], shard: 1 })), [3]),
    ];
    const seen = new Set<number>(); // sequence numbers the devices received
    let seq = 0;

    /** One round of every far end: send (unless draining), answer (all, or about half when lazy), read outcomes. */
    const pump = (sending: boolean, lazy: boolean): void => {
      for (const d of drivers) {
        while (sending && d.open.size < MAX_IN_FLIGHT) {
          const dev = 1 + rng.int(3);
          if (rng.chance(0.15)) {
            if (!d.port.send(availEvent(dev, rng.int(2), ++seq))) break;
            s.events++;
            continue;
          }
          const token = d.open.token();
          if (!d.port.send(request(dev, token, ++seq))) break;
          d.open.add({ token, seq: 0, settled: false, dev, n: seq, sentAt: Date.now() });
          s.requests++;
        }
        d.port.flush();
      }
      for (const v of devices) {
        for (let f = v.port.recv(); f !== null; f = v.port.recv()) {
          const dv = new DataView(f.buffer, f.byteOffset, f.length);
          const dev = dv.getUint16(2, true);
          if (!v.devices.includes(dev)) fail(`device link ${v.devices.join(',')} received a frame for device ${dev}`);
          const isEvent = (f[1]! & 0x40) !== 0;
          const n = f.length >= 16 ? dv.getUint32(isEvent ? 12 : 8, true) : -1;
          if (seen.has(n)) fail(`device ${dev} received ${isEvent ? 'event' : 'request'} ${n} twice`);
          seen.add(n);
          if (!isEvent) v.toAnswer.push(f);
        }
        let kept = 0;
        for (const q of v.toAnswer) {
          if (lazy && rng.chance(0.5)) { v.toAnswer[kept++] = q; continue; }
          const r = q.slice();
          r[0] = 1; // the response: same msg_id, dev_num, router token and payload
          if (!v.port.send(r)) { v.toAnswer[kept++] = q; continue; }
        }
        v.toAnswer.length = kept;
        v.port.flush();
      }
      for (const d of drivers) {
        for (let f = d.port.recv(); f !== null; f = d.port.recv()) {
          const dv = new DataView(f.buffer, f.byteOffset, f.length);
          let token: number, reason = 0;
          if (f[0] === 2 && f[1] === 0x40) continue; // EVENT_DEVICE: a device link attached
          if (f[0] === 1) token = dv.getUint16(4, true);
          else if (f[0] === 2 && f[1] === 0xc1 && f.length >= 16) { token = dv.getUint16(12, true); reason = f[11]!; }
          else { fail(`${d.name} received an unexpected frame ${Buffer.from(f).toString('hex')}`); continue; }
          const req = d.open.get(token);
          if (req === undefined) { fail(`${d.name}: a second outcome, or one for nothing it asked (token ${token}, reason ${reasonName(reason)})`); continue; }
          d.open.settle(req);
          if (reason === 0) {
            s.responses++;
            if (f.length < 16 || dv.getUint32(8, true) !== req.n) fail(`${d.name}: the response to token ${token} is not its request's`);
          } else {
            const name = reasonName(reason);
            s.failuresByReason[name] = (s.failuresByReason[name] ?? 0) + 1;
            if (reason !== Reason.SHARD_RESTARTED && reason !== Reason.DEVICE_BUSY) fail(`${d.name}: request to device ${req.dev} failed ${name}`);
          }
        }
        d.port.flushReceived();
      }
    };
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));
    const outstanding = (): number => drivers.reduce((n, d) => n + d.open.size, 0);

    const deadline = o.minutes !== undefined ? t0 + o.minutes * 60_000 : Infinity;
    for (let run = 0; (o.faults === undefined || s.faults < o.faults) && Date.now() < deadline && s.violations.length === 0; run++) {
      s.runs++;
      const shard = run % 2;
      const point = 1 + (Math.floor(run / 2) % POINTS);
      const restarts = router.restarts;
      injectStepFault(router, shard, point, rng.int(24));
      // Traffic until the point fires (a point that is not reached within a few seconds is disarmed).
      const armedUntil = Date.now() + 5000;
      let open = 0;
      while (router.restarts === restarts && Date.now() < armedUntil) {
        pump(true, true);
        open = outstanding();
        await tick();
      }
      if (router.restarts === restarts) {
        injectStepFault(router, shard, 0);
        log(`run ${run}: point ${point} on shard ${shard} not reached`);
      } else {
        s.faults++;
        s.byPoint[point]!++;
        s.outstandingAtFault += open;
        await waitRestarts(router, restarts + 1, 20_000);
      }
      // Every request ends, nothing more is sent: then the router must be quiescent and exact.
      const settleBy = Date.now() + 2 * TIMEOUT_MS + 10_000;
      while (outstanding() > 0 && Date.now() < settleBy) {
        pump(false, false);
        await tick();
      }
      if (outstanding() > 0) {
        for (const d of drivers) for (const q of d.open.open()) fail(`${d.name}: request ${q.n} (token ${q.token}, device ${q.dev}) got no outcome`);
        break;
      }
      const st = await waitQuiescent(router, 15_000);
      for (const v of accountingViolations(checkAccounting(st))) fail(`after fault ${s.faults} (point ${point}, shard ${shard}): ${v}`);
      if (run % 20 === 19) log(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${s.faults} faults, ${s.requests} requests`);
    }
  } finally {
    await router.close();
  }
  s.seconds = (Date.now() - t0) / 1000;
  return s;
}
