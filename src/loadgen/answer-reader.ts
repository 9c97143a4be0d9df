// Reading what the bus sends back during a load and verifying it: every answer against its
// request (response bit, msg_id, dev_num, token, per-device order; PING echo and GET_DEVICES
// windows exactly), transport failures (REQUEST_FAILED), EVENT_USED for notifications in
// flight, the bus's keep-alive PINGs answered, anything else counted.
import type { FrameChannel } from '../bus/bus-link.js';
import { PingResponder } from '../client/exchange.js';
import { failedDevice, failedMsgId, failedReason, failedToken, isRequestFailed } from '../client/request-failed.js';
import { B_EVENT_DEVICE, HDR_SIZE, TYPE_BUS, TYPE_RESPONSE, T_EVENT_CONFIG, T_EVENT_USED } from '../protocol/constants.js';
import { devNumAt, msgSizeAt, tokenAt } from '../protocol/header.js';
import { reasonName } from '../protocol/reasons.js';
import type { InFlight, Pending } from './in-flight.js';
import type { LoadMetrics } from './load-metrics.js';
import { OP_WIRE, payloadProblem } from './requests.js';

export class AnswerReader {
  private readonly pings = new PingResponder();

  constructor(private readonly channel: FrameChannel, private readonly flight: InFlight, private readonly metrics: LoadMetrics) {}

  /** Read and handle every frame waiting; returns how many there were. */
  receiveAll(): number {
    const channel = this.channel, m = this.metrics;
    let n = 0;
    for (let f = channel.recv(); f !== null; f = channel.recv()) {
      if (this.pings.take(f)) m.received++; // the bus's keep-alive: answered below, counted as a frame
      else this.handle(f, performance.now());
      n++;
    }
    const answered = this.pings.send(channel);
    m.counters.pings_answered += answered;
    m.sent += answered;
    return n;
  }

  private handle(frameIn: Uint8Array, now: number): void {
    const m = this.metrics, flight = this.flight;
    let f = frameIn;
    m.received++;
    if (f.length < HDR_SIZE) return m.error(now, 'malformed', `a ${f.length}-byte frame (shorter than the header)`);
    const size = msgSizeAt(f, 0);
    if (size < HDR_SIZE || size > f.length) return m.error(now, 'malformed', `msg_size ${size} in a ${f.length}-byte frame`);
    if (size < f.length) f = f.subarray(0, size); // receivers look only at msg_size bytes (docs/PROTOCOL.md §3)
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const type = f[0]! & 3; // bits 2–7 are reserved: ignored on receive (§8 driver rule 1)
    const id = f[1]!;
    const dev = devNumAt(f, 0);
    const token = tokenAt(f, 0);
    if (type & TYPE_RESPONSE) {
      const bus = (type & TYPE_BUS) !== 0;
      const fifo = bus ? flight.bus : flight.device(dev)?.fifo;
      const p = fifo?.get(token);
      if (bus && dev !== 0) m.error(now, 'bus_dev_num', `bus response msg_id 0x${id.toString(16)} carries dev_num ${dev} (must be 0)`);
      if (fifo === undefined || p === undefined) {
        return m.error(now, 'unexpected_response', `${bus ? 'bus' : `device ${dev}`} response msg_id 0x${id.toString(16)} token ${token} matches no request in flight`);
      }
      if (!fifo.answeredInOrder(p)) {
        m.orderViolations++;
        m.note(now, 'order', `${bus ? 'the bus' : `device ${dev}`} answered token ${token} before older requests`);
      }
      if (OP_WIRE[p.step.op].msgId !== id) {
        m.error(now, 'id_mismatch', `${p.step.op} (token ${token}, device ${dev}) answered with msg_id 0x${id.toString(16)}`);
        return flight.settle(p, now, false);
      }
      return this.complete(p, f, dv, now);
    }
    if (type === TYPE_BUS) {
      if (isRequestFailed(f, 0, f.length)) {
        const fdev = failedDevice(f, 0), fid = failedMsgId(f, 0), reason = failedReason(f, 0), ftok = failedToken(f, 0);
        const fifo = flight.device(fdev)?.fifo ?? (fdev === 0 ? flight.bus : undefined);
        const p = fifo?.get(ftok);
        m.transportFailures++;
        m.error(now, 'transport_failure', `msg_id 0x${fid.toString(16)} to device ${fdev} (token ${ftok}) failed: ${reasonName(reason)}`, 'transport_failure');
        if (p !== undefined) {
          if (!fifo!.answeredInOrder(p)) m.orderViolations++;
          flight.settle(p, now, false);
        }
        return;
      }
      if (id === B_EVENT_DEVICE) return void m.counters.device_events++;
      return void m.counters.other_frames++;
    }
    if (id === T_EVENT_USED && f.length >= 12) {
      if (flight.used(dev, dv.getUint32(8, true), now)) m.counters.events_used++;
      else m.counters.extra_events++;
      return;
    }
    if (id === T_EVENT_CONFIG) return void m.counters.config_events++;
    m.counters.other_frames++;
  }

  /** An answer with the right msg_id: its payload checked, the session told, the operation ended. */
  private complete(p: Pending, f: Uint8Array, dv: DataView, now: number): void {
    const problem = payloadProblem(p.step, f, dv);
    if (problem !== undefined) {
      this.metrics.error(now, p.step.op === 'PING' ? 'ping_echo' : 'get_devices_window', problem);
      this.flight.settle(p, now, false);
      return;
    }
    p.owner.session.onResponse(p.step, f, dv);
    this.flight.settle(p, now, true);
    if (p.seqStart !== undefined && p.measured) this.metrics.recordSequence(p.owner.dev, now - p.seqStart);
  }
}
