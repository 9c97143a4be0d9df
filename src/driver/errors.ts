// How a driver request or virtqueue submission can fail (docs/PROTOCOL.md §7 rule 17 / §8 driver rule 10: a
// request ends in one response or one transport-visible failure; drivers use bounded timeouts).
import { reasonDescription, reasonName } from '../protocol/reasons.js';

/** The router reported a transport failure for the request (VMSG_EVT_REQUEST_FAILED). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  /** Reason name from src/protocol/reasons.ts, e.g. "TIMEOUT", "DEVICE_REMOVED". */
  readonly reason: string;
  constructor(readonly code: number, readonly dev: number, readonly msgId: number) {
    super(`device ${dev}: request 0x${msgId.toString(16).padStart(2, '0')} failed in the router: ${reasonName(code)} (${reasonDescription(code)})`);
    this.reason = reasonName(code);
  }
}

/** Neither a response nor a failure arrived before the driver's own deadline. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(readonly dev: number, readonly msgId: number, readonly timeoutMs: number) {
    super(`device ${dev}: no answer to request 0x${msgId.toString(16).padStart(2, '0')} within ${timeoutMs} ms (raise requestTimeoutMs if the device is slow)`);
  }
}

/** The device went away (EVENT_DEVICE REMOVED): its outstanding work is abandoned. */
export class DeviceRemovedError extends Error {
  override readonly name = 'DeviceRemovedError';
  constructor(readonly dev: number) {
    super(`device ${dev} was removed`);
  }
}

/** The device was reset (by the driver, or after DEVICE_NEEDS_RESET) with the buffer outstanding. */
export class DeviceResetError extends Error {
  override readonly name = 'DeviceResetError';
  constructor(readonly dev: number, why: string) {
    super(`device ${dev} was reset: ${why}`);
  }
}

/** Initialisation could not complete; `step` names the stage (status, features, queue n). */
export class DeviceInitError extends Error {
  override readonly name = 'DeviceInitError';
  constructor(readonly dev: number, readonly step: string, detail: string) {
    super(`device ${dev}: ${step}: ${detail}`);
  }
}

/** The driver was closed with the request outstanding. */
export class DriverClosedError extends Error {
  override readonly name = 'DriverClosedError';
  constructor() {
    super('the driver was closed');
  }
}
