// Public API of vmsg-router (see README "API").
export { Router, EVENT_DEVICE_READY, EVENT_DEVICE_REMOVED } from './router/router.js';
export type { DriverLinkOptions, DeviceLinkOptions } from './router/router.js';
export type { RouterOptions } from './router/options.js';
export { EndpointPort } from './router/port.js';
export type { PortOptions } from './router/port.js';
export type { LinkDescriptor } from './router/link.js';
export type { RouterStats, EndpointStats, DeviceStats, ShardStats, RetiredStats } from './router/stats.js';
export { checkAccounting, accountingViolations, waitQuiescent } from './router/accounting.js';
export type { Accounting, AccountingEquation } from './router/accounting.js';
