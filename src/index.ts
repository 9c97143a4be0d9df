// Public API of vmsg-router (see README "API").
export { Router, EVENT_DEVICE_READY, EVENT_DEVICE_REMOVED } from './router/router.js';
export type { DriverLinkOptions, DeviceLinkOptions } from './router/router.js';
export type { RouterOptions } from './router/options.js';
export { EndpointPort } from './router/port.js';
export type { PortOptions } from './router/port.js';
export type { LinkDescriptor } from './router/link.js';
export type { RouterStats, EndpointStats, DeviceStats, ShardStats } from './router/stats.js';
// Stream bus (Unix/TCP/TLS) and gateway between routers (README "Stream links").
export { openStreamLink, openStreamChannel, StreamLink, StreamChannel } from './bus/stream.js';
export { StreamHandshakeError } from './bus/stream-connection.js';
export type { StreamCounters } from './bus/stream-connection.js';
export type { RemapEvent } from './bus/gateway.js';
export type { DeviceMapping } from './bus/peer-handler.js';
