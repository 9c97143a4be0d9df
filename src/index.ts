// Public API of vmsg-router (see README "API").
export { Router, EVENT_DEVICE_READY, EVENT_DEVICE_REMOVED } from './router/router.js';
export type { DriverLinkOptions, DeviceLinkOptions } from './router/router.js';
export type { RouterOptions } from './router/options.js';
export { EndpointPort } from './router/port.js';
export type { PortOptions } from './router/port.js';
export type { LinkDescriptor } from './router/link.js';
export type { RouterStats, EndpointStats, DeviceStats, ShardStats } from './router/stats.js';
export { openBusLink, openFrameChannel } from './bus/open.js';
export type { OpenLinkOptions } from './bus/open.js';
export type { BusLink, FrameChannel, LinkDown } from './bus/bus-link.js';
