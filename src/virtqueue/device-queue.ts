// Device side of a split virtqueue, virtio 1.2 §2.7.5–§2.7.10 (descriptor table, available and used rings, notification suppression).
//
// Everything read from guest memory is the driver's word and is checked before use: a bad
// queue setup or chain comes back as a VirtqueueFault (the device then sets DEVICE_NEEDS_RESET),
// never as an exception or an access outside the guest window. Indirect descriptors are
// rejected: we do not offer VIRTIO_F_INDIRECT_DESC.
import { VirtqueueFault } from './fault.js';
import { type GuestAddress, type GuestMemory } from './guest-memory.js';
import { needEvent } from './notification.js';
import {
  availUsedEventOffset, checkSplitQueue, splitQueueBytes, usedAvailEventOffset, type SplitQueueAddresses,
  VIRTQ_AVAIL_ENTRY_SIZE, VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_AVAIL_IDX, VIRTQ_AVAIL_RING,
  VIRTQ_DESC_ADDR, VIRTQ_DESC_FLAGS, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_LEN,
  VIRTQ_DESC_NEXT, VIRTQ_DESC_SIZE, VIRTQ_IDX_MASK, VIRTQ_USED_ELEM_ID, VIRTQ_USED_ELEM_LEN,
  VIRTQ_USED_ELEM_SIZE, VIRTQ_USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY, VIRTQ_USED_IDX, VIRTQ_USED_RING,
} from './split-layout.js';

export interface DeviceQueueOptions {
  /** SET_VQUEUE size. */
  size: number;
  /** SET_VQUEUE desc_addr, driver_addr, device_addr (u64, so bigint is fine). */
  addresses: SplitQueueAddresses;
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  eventIdx?: boolean;
}

/** One buffer of a chain, already checked to lie in guest memory. */
export interface BufferSegment {
  gpa: number;
  len: number;
}

/** A chain popped from the available ring: device-readable buffers, then device-writable ones. */
export interface DescriptorChain {
  head: number;
  readable: BufferSegment[];
  writable: BufferSegment[];
  readableBytes: number;
  writableBytes: number;
}

/** A chain's total length must fit a u32, like the used element's len and every offset into it. */
const MAX_CHAIN_BYTES = 0xffff_ffff;
/** Descriptor addresses at or above 2^53 (high word ≥ 2^21) cannot be in guest memory. */
const SAFE_HIGH_WORD_LIMIT = 0x20_0000;
const TWO_POW_32 = 0x1_0000_0000;

export class DeviceQueue {
  readonly size: number;
  readonly eventIdx: boolean;
  private readonly memory: GuestMemory;
  // Window offsets of the parts and of the two event fields.
  private readonly descTable: number;
  private readonly availRing: number;
  private readonly usedRing: number;
  private readonly usedEvent: number;
  private readonly availEvent: number;
  /** 1 while the chain at this head is popped and not yet pushed. */
  private readonly inUse: Uint8Array;
  private readonly writableBytesByHead: Float64Array;
  /** Next available-ring entry to pop. */
  private lastAvailIdx = 0;
  /** Our used.idx (we are its only writer). */
  private usedIdx = 0;
  private pushedSinceInterrupt = 0;
  private notificationsEnabled = true;

  /** The queue a SET_VQUEUE describes, or why it cannot be used (a guest fault). */
  static open(memory: GuestMemory, options: DeviceQueueOptions): DeviceQueue | VirtqueueFault {
    const { size, addresses } = options;
    const problem = checkSplitQueue(size, addresses);
    if (problem !== null) return new VirtqueueFault('queue-config', problem);
    const bytes = splitQueueBytes(size);
    const parts: [GuestAddress, number][] = [
      [addresses.descAddr, bytes.descTable],
      [addresses.driverAddr, bytes.availRing],
      [addresses.deviceAddr, bytes.usedRing],
    ];
    const offsets: number[] = [];
    for (const [address, length] of parts) {
      const at = memory.offsetOf(address, length);
      if (typeof at !== 'number') return new VirtqueueFault('ring-outside-memory', at.message, undefined, at);
      offsets.push(at);
    }
    return new DeviceQueue(memory, size, offsets[0]!, offsets[1]!, offsets[2]!, options.eventIdx ?? false);
  }

  private constructor(memory: GuestMemory, size: number, descTable: number, availRing: number, usedRing: number, eventIdx: boolean) {
    this.memory = memory;
    this.size = size;
    this.eventIdx = eventIdx;
    this.descTable = descTable;
    this.availRing = availRing;
    this.usedRing = usedRing;
    this.usedEvent = availRing + availUsedEventOffset(size);
    this.availEvent = usedRing + usedAvailEventOffset(size);
    this.inUse = new Uint8Array(size);
    this.writableBytesByHead = new Float64Array(size);
  }

  /**
   * The next available chain, null when the driver has offered none, or the fault in it. After a
   * fault the queue stays at that entry (every pop returns the same fault) until reset.
   */
  pop(): DescriptorChain | VirtqueueFault | null {
    // Acquire: the ring entry and the descriptors the driver wrote before publishing this idx.
    const availIdx = this.memory.loadAcquireU16(this.availRing + VIRTQ_AVAIL_IDX);
    const pending = (availIdx - this.lastAvailIdx) & VIRTQ_IDX_MASK;
    if (pending === 0) return null;
    if (pending > this.size) {
      return new VirtqueueFault('index-jump', `avail idx moved from ${this.lastAvailIdx} to ${availIdx}, more than queue size ${this.size}`);
    }
    const data = this.memory.data;
    const head = data.getUint16(this.availRing + VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ENTRY_SIZE * (this.lastAvailIdx & (this.size - 1)), true);
    if (head >= this.size) {
      return new VirtqueueFault('descriptor-index', `available ring offers head ${head}, queue size is ${this.size}`, head);
    }
    if (this.inUse[head] === 1) {
      return new VirtqueueFault('head-in-use', `available ring offers head ${head} again before it was used`, head);
    }

    const chain: DescriptorChain = { head, readable: [], writable: [], readableBytes: 0, writableBytes: 0 };
    let descriptor = head;
    for (let count = 1; ; count++) {
      // A chain visits each descriptor at most once, so more than `size` links means a loop.
      if (count > this.size) {
        return new VirtqueueFault('descriptor-loop', `chain at head ${head} is longer than queue size ${this.size}`, descriptor);
      }
      const at = this.descTable + descriptor * VIRTQ_DESC_SIZE;
      const low = data.getUint32(at + VIRTQ_DESC_ADDR, true);
      const high = data.getUint32(at + VIRTQ_DESC_ADDR + 4, true);
      const len = data.getUint32(at + VIRTQ_DESC_LEN, true);
      const flags = data.getUint16(at + VIRTQ_DESC_FLAGS, true);
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        return new VirtqueueFault('indirect-not-negotiated', `descriptor ${descriptor} is INDIRECT; VIRTIO_F_INDIRECT_DESC is not offered`, descriptor);
      }
      const gpa: GuestAddress = high < SAFE_HIGH_WORD_LIMIT ? high * TWO_POW_32 + low : (BigInt(high) << 32n) | BigInt(low);
      const inMemory = this.memory.offsetOf(gpa, len);
      if (typeof inMemory !== 'number') {
        return new VirtqueueFault('buffer-outside-memory', `descriptor ${descriptor}: ${inMemory.message}`, descriptor, inMemory);
      }
      const segment = { gpa: this.memory.base + inMemory, len };
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) {
        chain.writable.push(segment);
        chain.writableBytes += len;
      } else if (chain.writable.length > 0) {
        return new VirtqueueFault('readable-after-writable', `descriptor ${descriptor} is device-readable after a device-writable one`, descriptor);
      } else {
        chain.readable.push(segment);
        chain.readableBytes += len;
      }
      if (chain.readableBytes + chain.writableBytes > MAX_CHAIN_BYTES) {
        return new VirtqueueFault('chain-too-long', `chain at head ${head} exceeds ${MAX_CHAIN_BYTES} bytes`, descriptor);
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      const next = data.getUint16(at + VIRTQ_DESC_NEXT, true);
      if (next >= this.size) {
        return new VirtqueueFault('descriptor-index', `descriptor ${descriptor} links to ${next}, queue size is ${this.size}`, next);
      }
      descriptor = next;
    }

    this.inUse[head] = 1;
    this.writableBytesByHead[head] = chain.writableBytes;
    this.lastAvailIdx = (this.lastAvailIdx + 1) & VIRTQ_IDX_MASK;
    if (this.eventIdx && this.notificationsEnabled) {
      // Ask for a notification when the driver adds the entry after the ones we have taken.
      // Sequentially consistent, so ordered before our next load of avail idx.
      this.memory.storeReleaseU16(this.availEvent, this.lastAvailIdx);
    }
    return chain;
  }

  /** Return a popped chain with `writtenLen` bytes written to its writable buffers. Misuse throws. */
  push(head: number, writtenLen: number): void {
    if (!Number.isInteger(head) || head < 0 || head >= this.size || this.inUse[head] !== 1) {
      throw new RangeError(`push: ${head} is not the head of a chain popped from this queue`);
    }
    if (!Number.isInteger(writtenLen) || writtenLen < 0 || writtenLen > this.writableBytesByHead[head]!) {
      throw new RangeError(`push: written length ${writtenLen} is not within the chain's ${this.writableBytesByHead[head]} writable bytes`);
    }
    const element = this.usedRing + VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * (this.usedIdx & (this.size - 1));
    this.memory.data.setUint32(element + VIRTQ_USED_ELEM_ID, head, true);
    this.memory.data.setUint32(element + VIRTQ_USED_ELEM_LEN, writtenLen, true);
    this.inUse[head] = 0;
    this.usedIdx = (this.usedIdx + 1) & VIRTQ_IDX_MASK;
    // Release: the used element and the data written into the chain's buffers are visible to a
    // driver that loads this idx (§2.7.8: write the buffers before updating used idx).
    this.memory.storeReleaseU16(this.usedRing + VIRTQ_USED_IDX, this.usedIdx);
    this.pushedSinceInterrupt++;
  }

  /**
   * Whether the chains pushed since the last call need an EVENT_USED (§2.7.7). Consumes them:
   * call once per batch of pushes, then interrupt if true.
   */
  needsInterrupt(): boolean {
    const pushed = this.pushedSinceInterrupt;
    if (pushed === 0) return false;
    this.pushedSinceInterrupt = 0;
    // A window of 2^16 or more pushes no longer fits the u16 arithmetic of needEvent.
    if (pushed > VIRTQ_IDX_MASK) return true;
    // Our idx store (push) and this load are sequentially consistent: the driver either re-armed
    // before we look, or its re-check after re-arming sees our idx (no lost interrupt).
    if (this.eventIdx) {
      const usedEvent = this.memory.loadAcquireU16(this.usedEvent);
      return needEvent(usedEvent, this.usedIdx, (this.usedIdx - pushed) & VIRTQ_IDX_MASK);
    }
    return (this.memory.loadAcquireU16(this.availRing + VIRTQ_AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Ask the driver not to notify (while we process). A hint: a notification may still come. */
  disableNotifications(): void {
    if (!this.notificationsEnabled) return;
    this.notificationsEnabled = false;
    if (this.eventIdx) {
      // An entry the driver cannot add before we pop more: pending chains ≤ size.
      this.memory.storeReleaseU16(this.availEvent, (this.lastAvailIdx + this.size) & VIRTQ_IDX_MASK);
    } else {
      this.memory.storeReleaseU16(this.usedRing + VIRTQ_USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY);
    }
  }

  /**
   * Ask for a notification at the next available chain. Returns true when nothing is pending
   * (safe to wait for EVENT_AVAIL), false when chains arrived meanwhile: pop() again.
   */
  enableNotifications(): boolean {
    this.notificationsEnabled = true;
    if (this.eventIdx) this.memory.storeReleaseU16(this.availEvent, this.lastAvailIdx);
    else this.memory.storeReleaseU16(this.usedRing + VIRTQ_USED_FLAGS, 0);
    // Store then load, both sequentially consistent: either the driver's notify check sees the
    // re-armed event/flag, or this load sees the idx it published.
    return this.memory.loadAcquireU16(this.availRing + VIRTQ_AVAIL_IDX) === this.lastAvailIdx;
  }

  /**
   * Copy `length` bytes at `offset` of the chain's readable buffers (as if concatenated). A copy,
   * so what the device checks is what it uses even if the driver rewrites the buffer meanwhile.
   * Reading past readableBytes is the caller's bug and throws.
   */
  read(chain: DescriptorChain, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.copyAcross(chain.readable, chain.readableBytes, offset, length, (guest, position) => out.set(guest, position));
    return out;
  }

  /** Copy `bytes` to `offset` of the chain's writable buffers (as if concatenated). Past writableBytes throws. */
  write(chain: DescriptorChain, offset: number, bytes: Uint8Array): void {
    this.copyAcross(chain.writable, chain.writableBytes, offset, bytes.length, (guest, position) =>
      guest.set(bytes.subarray(position, position + guest.length)),
    );
  }

  /**
   * Call `copy` for each piece of guest memory that [offset, offset + length) of the
   * concatenated `segments` covers, with the piece's position in that range.
   */
  private copyAcross(
    segments: readonly BufferSegment[], totalBytes: number, offset: number, length: number,
    copy: (guest: Uint8Array, position: number) => void,
  ): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > totalBytes) {
      throw new RangeError(`chain access [${offset}, +${length}) is outside its ${totalBytes} bytes`);
    }
    let skip = offset;
    let position = 0;
    for (const { gpa, len } of segments) {
      if (position === length) return;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const n = Math.min(len - skip, length - position);
      const guest = this.memory.view(gpa + skip, n);
      if (!(guest instanceof Uint8Array)) throw guest;
      copy(guest, position);
      position += n;
      skip = 0;
    }
  }
}
