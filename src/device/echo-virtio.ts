// The echo device on the Device SDK: a full virtio-msg device (init, features, status, queues)
// whose one queue copies each chain's device-readable bytes into its device-writable buffers and
// returns it, so drivers can exercise EVENT_AVAIL → EVENT_USED with real buffers. The WASM echo
// (device/echo.ts) stays the benchmark device: it answers frames without any of this.
import { VirtioDevice, type ChainResult } from './device.js';
import type { DmaOptions } from './dma.js';
import type { DescriptorChain } from '../virtqueue/device-queue.js';

/**
 * Not a virtio-assigned id: those fit 16 bits (PCI derives 0x1040 + id), so an id above 0xffff
 * never names a real device type.
 */
export const VMSG_ECHO_DEVICE_ID = 0x1_0000;

export interface EchoVirtioDeviceOptions {
  dma?: DmaOptions;
  queueMaxSize?: number;
}

export class EchoVirtioDevice extends VirtioDevice {

  constructor(opts: EchoVirtioDeviceOptions = {}) {
    super({ deviceId: VMSG_ECHO_DEVICE_ID, queues: 1, queueMaxSize: opts.queueMaxSize ?? 64, dma: opts.dma });
  }

  protected handleChain(_q: number, chain: DescriptorChain): ChainResult {
    const r = this.dma.run({ op: 'copy', from: chain.readable, to: chain.writable });
    return r instanceof Promise ? r.then((x) => x.bytes) : r.bytes;
  }
}
