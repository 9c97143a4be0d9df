// The entropy reference device: virtio-rng (virtio 1.2 §5.4, device id 4). One request queue of
// device-writable buffers, each filled with random bytes (node:crypto) through the DMA engine;
// no config space, no device feature bits.
import { VirtioDevice, type ChainResult } from './device.js';
import type { DmaOptions } from './dma.js';
import type { DescriptorChain } from '../virtqueue/device-queue.js';

export const VIRTIO_ID_ENTROPY = 4;

export interface EntropyDeviceOptions {
  dma?: DmaOptions;
  queueMaxSize?: number;
}

export class EntropyDevice extends VirtioDevice {
  /** Random bytes handed out. */
  bytes = 0;

  constructor(opts: EntropyDeviceOptions = {}) {
    super({ deviceId: VIRTIO_ID_ENTROPY, queues: 1, queueMaxSize: opts.queueMaxSize ?? 64, dma: opts.dma });
  }

  protected handleChain(_q: number, chain: DescriptorChain): ChainResult {
    // Device-readable buffers carry nothing for virtio-rng: they are ignored.
    if (chain.writableBytes === 0) return 0;
    const r = this.dma.run({ op: 'random-fill', segments: chain.writable });
    this.bytes += chain.writableBytes;
    return r instanceof Promise ? r.then((x) => x.bytes) : r.bytes;
  }
}
