// Driver side of a split virtqueue, virtio 1.2 §2.7.13 (Supplying Buffers to The Device) and §2.7.14 (Receiving Used Buffers).
//
// One thread owns a DriverQueue. It writes the descriptor table and available ring and reads the
// used ring; the device (any thread) does the opposite. The free-descriptor list and the chain
// links are kept here, outside guest memory, so a device scribbling on the table cannot corrupt
// the driver's bookkeeping.
import { VirtqueueFault } from './fault.js';
import { type GuestAddress, type GuestMemory } from './guest-memory.js';
import { encodeSplitNextOffset, needEvent } from './notification.js';
import {
  availUsedEventOffset, checkSplitQueue, splitQueueBytes, usedAvailEventOffset, type SplitQueueAddresses,
  VIRTQ_AVAIL_ALIGN, VIRTQ_AVAIL_ENTRY_SIZE, VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_AVAIL_IDX,
  VIRTQ_AVAIL_RING, VIRTQ_DESC_ADDR, VIRTQ_DESC_ALIGN, VIRTQ_DESC_FLAGS, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
  VIRTQ_DESC_LEN, VIRTQ_DESC_NEXT, VIRTQ_DESC_SIZE, VIRTQ_IDX_MASK, VIRTQ_USED_ALIGN, VIRTQ_USED_ELEM_ID,
  VIRTQ_USED_ELEM_LEN, VIRTQ_USED_ELEM_SIZE, VIRTQ_USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY, VIRTQ_USED_IDX,
  VIRTQ_USED_RING,
} from './split-layout.js';

export interface DriverQueueOptions {
  /** Entries: a power of two ≤ the device's max_size (GET_VQUEUE). */
  size: number;
  addresses: SplitQueueAddresses;
  /** VIRTIO_F_EVENT_IDX was negotiated: suppress with used_event/avail_event instead of the flags. */
  eventIdx?: boolean;
}

/** One buffer of a request, in chain order: every device-readable one before any device-writable one. */
export interface DriverBuffer {
  gpa: GuestAddress;
  len: number;
  /** Device-writable (VIRTQ_DESC_F_WRITE). */
  writable: boolean;
}

/** A chain the device has used: the caller's token and the bytes the device wrote. */
export interface UsedBuffer<Token> {
  token: Token;
  len: number;
}

const U32_MAX = 0xffff_ffff;
const TWO_POW_32 = 0x1_0000_0000;

export class DriverQueue<Token = unknown> {
  readonly size: number;
  readonly eventIdx: boolean;
  /** What to send in SET_VQUEUE. */
  readonly addresses: { descAddr: number; driverAddr: number; deviceAddr: number };
  private readonly memory: GuestMemory;
  // Window offsets of the parts and of the two event fields.
  private readonly descTable: number;
  private readonly availRing: number;
  private readonly usedRing: number;
  private readonly usedEvent: number;
  private readonly availEvent: number;
  /** Free list and chain links: nextDescriptor[d] follows d (in a chain, or in the free list). */
  private readonly nextDescriptor: Uint16Array;
  private freeHead = 0;
  private freeCount: number;
  /** Descriptors in the chain at each outstanding head; 0 = not outstanding. */
  private readonly chainLength: Uint16Array;
  private readonly writableBytes: Float64Array;
  private readonly tokens: (Token | undefined)[];
  /** Our avail.idx (we are its only writer). */
  private availIdx = 0;
  private addedSinceNotify = 0;
  private lastUsedIdx = 0;
  private interruptsEnabled = true;

  /** Place a queue of `size` entries in `memory` with the §2.7 alignments and set it up. */
  static allocate<Token = unknown>(memory: GuestMemory, size: number, options: { eventIdx?: boolean } = {}): DriverQueue<Token> {
    const bytes = splitQueueBytes(size);
    const addresses = {
      descAddr: memory.alloc(bytes.descTable, VIRTQ_DESC_ALIGN),
      driverAddr: memory.alloc(bytes.availRing, VIRTQ_AVAIL_ALIGN),
      deviceAddr: memory.alloc(bytes.usedRing, VIRTQ_USED_ALIGN),
    };
    return new DriverQueue<Token>(memory, { size, addresses, eventIdx: options.eventIdx ?? false });
  }

  /** Set up the queue's memory (zeroed: both idx start at 0). Call before SET_VQUEUE. */
  constructor(memory: GuestMemory, options: DriverQueueOptions) {
    const { size, addresses } = options;
    const problem = checkSplitQueue(size, addresses);
    if (problem !== null) throw new RangeError(problem);
    const bytes = splitQueueBytes(size);
    const place = (address: GuestAddress, length: number): number => {
      const at = memory.offsetOf(address, length);
      if (typeof at !== 'number') throw new RangeError(at.message);
      memory.bytes.fill(0, at, at + length);
      return at;
    };
    this.memory = memory;
    this.size = size;
    this.eventIdx = options.eventIdx ?? false;
    this.descTable = place(addresses.descAddr, bytes.descTable);
    this.availRing = place(addresses.driverAddr, bytes.availRing);
    this.usedRing = place(addresses.deviceAddr, bytes.usedRing);
    this.addresses = {
      descAddr: memory.base + this.descTable,
      driverAddr: memory.base + this.availRing,
      deviceAddr: memory.base + this.usedRing,
    };
    this.usedEvent = this.availRing + availUsedEventOffset(size);
    this.availEvent = this.usedRing + usedAvailEventOffset(size);
    this.nextDescriptor = new Uint16Array(size);
    for (let d = 0; d < size - 1; d++) this.nextDescriptor[d] = d + 1;
    this.freeCount = size;
    this.chainLength = new Uint16Array(size);
    this.writableBytes = new Float64Array(size);
    this.tokens = new Array<Token | undefined>(size);
  }

  /** Descriptors not in any outstanding chain. */
  get freeDescriptors(): number {
    return this.freeCount;
  }

  /**
   * Chain `buffers` into free descriptors and make the chain available; `token` comes back from
   * getUsed(). Returns the head descriptor, or null when fewer than buffers.length are free.
   * Malformed buffers (empty list, bad len, outside guest memory, readable after writable) are
   * the caller's bug and throw.
   */
  add(buffers: readonly DriverBuffer[], token: Token): number | null {
    const count = buffers.length;
    if (count === 0) throw new RangeError('add: a chain needs at least one buffer');
    if (count > this.freeCount) return null;
    const addresses = new Array<number>(count);
    let writable = 0;
    let sawWritable = false;
    for (let i = 0; i < count; i++) {
      const buffer = buffers[i]!;
      if (!Number.isInteger(buffer.len) || buffer.len < 0 || buffer.len > U32_MAX) {
        throw new RangeError(`add: buffer ${i} len must be a u32, got ${buffer.len}`);
      }
      const at = this.memory.offsetOf(buffer.gpa, buffer.len);
      if (typeof at !== 'number') throw new RangeError(`add: buffer ${i}: ${at.message}`);
      addresses[i] = this.memory.base + at;
      if (buffer.writable) {
        sawWritable = true;
        writable += buffer.len;
      } else if (sawWritable) {
        throw new RangeError(`add: buffer ${i} is device-readable after a device-writable one (§2.7.5 puts readable first)`);
      }
    }

    const data = this.memory.data;
    const head = this.freeHead;
    let descriptor = head;
    for (let i = 0; i < count; i++) {
      const at = this.descTable + descriptor * VIRTQ_DESC_SIZE;
      const address = addresses[i]!;
      const more = i < count - 1;
      data.setUint32(at + VIRTQ_DESC_ADDR, address % TWO_POW_32, true);
      data.setUint32(at + VIRTQ_DESC_ADDR + 4, Math.floor(address / TWO_POW_32), true);
      data.setUint32(at + VIRTQ_DESC_LEN, buffers[i]!.len, true);
      data.setUint16(at + VIRTQ_DESC_FLAGS, (buffers[i]!.writable ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0), true);
      data.setUint16(at + VIRTQ_DESC_NEXT, more ? this.nextDescriptor[descriptor]! : 0, true);
      descriptor = this.nextDescriptor[descriptor]!;
    }
    this.freeHead = descriptor;
    this.freeCount -= count;
    this.chainLength[head] = count;
    this.writableBytes[head] = writable;
    this.tokens[head] = token;

    data.setUint16(this.availRing + VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ENTRY_SIZE * (this.availIdx & (this.size - 1)), head, true);
    this.availIdx = (this.availIdx + 1) & VIRTQ_IDX_MASK;
    // Release: the descriptors and the ring entry written above are visible to a device that
    // loads this idx (§2.7.13.3: update idx only after the ring entry).
    this.memory.storeReleaseU16(this.availRing + VIRTQ_AVAIL_IDX, this.availIdx);
    this.addedSinceNotify++;
    return head;
  }

  /**
   * Whether the chains added since the last call need an EVENT_AVAIL (§2.7.13.4). Consumes them:
   * call once per batch, then notify if true.
   */
  needsNotify(): boolean {
    const added = this.addedSinceNotify;
    if (added === 0) return false;
    this.addedSinceNotify = 0;
    // A window of 2^16 or more adds no longer fits the u16 arithmetic of needEvent.
    if (added > VIRTQ_IDX_MASK) return true;
    // Our idx store (add) and this load are both sequentially consistent Atomics: either the
    // device re-armed its event/flag before we look here, or its own re-check after re-arming
    // sees our idx. Neither side can miss the other (no lost notification).
    if (this.eventIdx) {
      const availEvent = this.memory.loadAcquireU16(this.availEvent);
      return needEvent(availEvent, this.availIdx, (this.availIdx - added) & VIRTQ_IDX_MASK);
    }
    return (this.memory.loadAcquireU16(this.usedRing + VIRTQ_USED_FLAGS) & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  /** EVENT_AVAIL next_offset when VIRTIO_F_NOTIFICATION_DATA was negotiated (otherwise send 0). */
  get nextOffset(): number {
    return encodeSplitNextOffset(this.availIdx);
  }

  /**
   * The next chain the device has used, null when there is none, or the fault when the device
   * broke the used-ring rules (the queue then stays at that entry: reset the device).
   */
  getUsed(): UsedBuffer<Token> | VirtqueueFault | null {
    // Acquire: the used element and the bytes the device wrote into our buffers are visible
    // once we see the idx that covers them.
    const usedIdx = this.memory.loadAcquireU16(this.usedRing + VIRTQ_USED_IDX);
    if (usedIdx === this.lastUsedIdx) return null;
    const ahead = (usedIdx - this.lastUsedIdx) & VIRTQ_IDX_MASK;
    if (ahead > this.size) {
      return new VirtqueueFault('index-jump', `used idx moved from ${this.lastUsedIdx} to ${usedIdx}, more than queue size ${this.size}`);
    }
    const element = this.usedRing + VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * (this.lastUsedIdx & (this.size - 1));
    const id = this.memory.data.getUint32(element + VIRTQ_USED_ELEM_ID, true);
    const len = this.memory.data.getUint32(element + VIRTQ_USED_ELEM_LEN, true);
    if (id >= this.size || this.chainLength[id] === 0) {
      return new VirtqueueFault('used-id', `used id ${id} is not the head of an outstanding chain`, id);
    }
    if (len > this.writableBytes[id]!) {
      return new VirtqueueFault('used-length', `used len ${len} exceeds the ${this.writableBytes[id]} writable bytes of chain ${id}`, id);
    }

    let last = id;
    for (let k = 1; k < this.chainLength[id]!; k++) last = this.nextDescriptor[last]!;
    this.nextDescriptor[last] = this.freeHead;
    this.freeHead = id;
    this.freeCount += this.chainLength[id]!;
    this.chainLength[id] = 0;
    const token = this.tokens[id] as Token;
    this.tokens[id] = undefined;
    this.lastUsedIdx = (this.lastUsedIdx + 1) & VIRTQ_IDX_MASK;
    if (this.eventIdx && this.interruptsEnabled) {
      // Ask for an interrupt when the device uses the entry after this one. Sequentially
      // consistent, so it is ordered before our next load of used idx.
      this.memory.storeReleaseU16(this.usedEvent, this.lastUsedIdx);
    }
    return { token, len };
  }

  /** Ask the device not to interrupt (while we poll). A hint: an interrupt may still come. */
  disableInterrupts(): void {
    if (!this.interruptsEnabled) return;
    this.interruptsEnabled = false;
    if (this.eventIdx) {
      // An entry the device cannot use before we consume more: outstanding chains ≤ size.
      this.memory.storeReleaseU16(this.usedEvent, (this.lastUsedIdx + this.size) & VIRTQ_IDX_MASK);
    } else {
      this.memory.storeReleaseU16(this.availRing + VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
  }

  /**
   * Ask for an interrupt at the next used chain. Returns true when nothing is waiting (safe to
   * sleep until EVENT_USED), false when chains were used meanwhile: call getUsed() again.
   */
  enableInterrupts(): boolean {
    this.interruptsEnabled = true;
    if (this.eventIdx) this.memory.storeReleaseU16(this.usedEvent, this.lastUsedIdx);
    else this.memory.storeReleaseU16(this.availRing + VIRTQ_AVAIL_FLAGS, 0);
    // Store then load, both sequentially consistent: either the device's interrupt check sees the
    // re-armed event/flag, or this load sees the idx it published.
    return this.memory.loadAcquireU16(this.usedRing + VIRTQ_USED_IDX) === this.lastUsedIdx;
  }
}
