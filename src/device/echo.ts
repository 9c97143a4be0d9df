// The echo device (issue "Devices and drivers": the minimal device for benchmarks): answers
// every transport request at once with a response of the same id carrying the request's token
// (2026 text: the device copies it) and turns each EVENT_AVAIL into an EVENT_USED for the same
// queue. The frame loop runs in WASM (assembly/device/echo.ts) so benchmarks measure the
// router, not the device.
import type { EndpointPort } from '../endpoint/port.js';

/** Handle up to `budget` frames waiting in the port; returns how many were taken. */
export function echoSome(port: EndpointPort, budget = 4096): number {
  return port.wasm.echoSome(port.in, port.out, budget);
}
