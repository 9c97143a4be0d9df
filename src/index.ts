// Public API of vmsg-router (see README "API").
export { Router, EVENT_DEVICE_READY, EVENT_DEVICE_REMOVED } from './router/router.js';
export type { DriverLinkOptions, DeviceLinkOptions } from './router/router.js';
export type { RouterOptions } from './router/options.js';
export { EndpointPort } from './router/port.js';
export type { PortOptions } from './router/port.js';
export type { LinkDescriptor } from './router/link.js';
export type { RouterStats, EndpointStats, DeviceStats, ShardStats } from './router/stats.js';
// Device and driver SDKs (README "Devices and drivers").
export { VirtioDevice, VMSG_VENDOR_ID } from './device/device.js';
export type { VirtioDeviceSpec, ChainResult, DeviceCounters, SharedMemoryRegion } from './device/device.js';
export { DeviceHost } from './device/host.js';
export type { DeviceHostOptions } from './device/host.js';
export { BlockDevice } from './device/block.js';
export { EntropyDevice } from './device/entropy.js';
export { EchoVirtioDevice } from './device/echo-virtio.js';
export { spawnDeviceWorker } from './device/spawn.js';
export type { DeviceWorkerHandle, DeviceWorkerSpec } from './device/spawn.js';
export type { DmaOptions, DmaMode } from './device/dma.js';
export { VirtioDriver } from './driver/driver.js';
export type { VirtioDriverOptions, HotplugEvent } from './driver/driver.js';
export type { DriverDevice, DeviceInfo, DeviceInitOptions, ConfigChange } from './driver/driver-device.js';
export type { DriverVirtqueue } from './driver/driver-virtqueue.js';
export { BlockDriver, BlockIoError } from './driver/block-driver.js';
export { EntropyDriver } from './driver/entropy-driver.js';
export { EchoDriver } from './driver/echo-driver.js';
export { TransportError, RequestTimeoutError, DeviceRemovedError, DeviceResetError, DeviceInitError, DriverClosedError } from './driver/errors.js';
export { GuestMemory } from './virtqueue/guest-memory.js';
export type { GuestMemoryDescriptor } from './virtqueue/guest-memory.js';
export { initOobDoorbells, OOB_AREA_BYTES, OOB_ALIGN } from './endpoint/oob-doorbell.js';
export { openBusLink, openFrameChannel } from './bus/open.js';
export type { OpenLinkOptions } from './bus/open.js';
export type { BusLink, FrameChannel, LinkDown } from './bus/bus-link.js';
// Stream bus (Unix/TCP/TLS) and gateway between routers (README "Stream links").
export { openStreamLink, openStreamChannel, StreamLink, StreamChannel } from './bus/stream.js';
export { StreamHandshakeError } from './bus/stream-connection.js';
export type { StreamCounters } from './bus/stream-connection.js';
export type { RemapEvent } from './bus/gateway.js';
export type { DeviceMapping } from './bus/peer-handler.js';
