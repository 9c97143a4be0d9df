// Device-independent virtio feature bits (virtio 1.2 §6 "Reserved Feature Bits") as virtio-msg
// carries them: 32-bit little-endian blocks, block k = bits 32k..32k+31 (docs/PROTOCOL.md §5 "Feature blocks").
// Features are bigints so every bit number reads the same in code and in the spec.

/** Descriptors may point at tables of descriptors (we never offer it: chains only). */
export const VIRTIO_F_INDIRECT_DESC = 28;
/** used_event / avail_event suppression instead of the ring flags (virtqueue/notification.ts). */
export const VIRTIO_F_EVENT_IDX = 29;
/** A modern (virtio 1.x) device: every virtio-msg device offers it and needs it acknowledged. */
export const VIRTIO_F_VERSION_1 = 32;
/**
 * The device reaches the driver's memory through a platform translation (an IOMMU, or a memory
 * file at an offset): the addresses the driver writes are the device's view, not physical.
 * QEMU devices with iommu_platform=on refuse FEATURES_OK without it.
 */
export const VIRTIO_F_ACCESS_PLATFORM = 33;
/** EVENT_AVAIL carries next_offset (docs/PROTOCOL.md §5); not offered: our buses may re-synthesise events (§7 rule 24). */
export const VIRTIO_F_NOTIFICATION_DATA = 38;
/** Never offered over virtio-msg (docs/PROTOCOL.md §8 device rule 16). */
export const VIRTIO_F_NOTIF_CONFIG_DATA = 39;
/** RESET_VQUEUE is allowed (docs/PROTOCOL.md §5, §8 device rule 10). */
export const VIRTIO_F_RING_RESET = 40;

/** The feature set with bit `bit` alone. */
export const featureBit = (bit: number): bigint => 1n << BigInt(bit);

/** Whether `features` has `bit`. */
export const hasFeature = (features: bigint, bit: number): boolean => ((features >> BigInt(bit)) & 1n) === 1n;

/** Number of 32-bit blocks that hold every set bit of `features` (at least 1). */
export function featureBlockCount(features: bigint): number {
  let blocks = 1;
  while (features >> BigInt(32 * blocks) !== 0n) blocks++;
  return blocks;
}

/** The `count` u32 words of `features` starting at block `first` (zero beyond its highest bit). */
export function featureWords(features: bigint, first: number, count: number): number[] {
  const words: number[] = [];
  for (let k = 0; k < count; k++) words.push(Number((features >> BigInt(32 * (first + k))) & 0xffff_ffffn));
  return words;
}

/** `features` with blocks first..first+words.length-1 replaced by `words`. */
export function withFeatureWords(features: bigint, first: number, words: readonly number[]): bigint {
  let out = features;
  words.forEach((w, k) => {
    const shift = BigInt(32 * (first + k));
    out = (out & ~(0xffff_ffffn << shift)) | (BigInt(w >>> 0) << shift);
  });
  return out;
}
