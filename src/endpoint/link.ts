// What an endpoint (driver or device, in any thread) needs to talk to the router: the shared
// memory and its two rings. Plain data: it can be posted to a worker thread.

export interface LinkDescriptor {
  memory: WebAssembly.Memory;
  kind: 'driver' | 'device';
  /** Endpoint id in the router's endpoint table. */
  id: number;
  /** Native ring the endpoint produces into (endpoint → router). */
  toRouter: number;
  /** Native ring the endpoint consumes (router → endpoint). */
  fromRouter: number;
  /** The endpoint's doorbell word: it sleeps there; the router rings it after publishing. */
  bell: number;
  /** Largest frame on this link (bytes, header included). */
  maxMessageSize: number;
  /** Device numbers served (device links). */
  devices: number[];
}
