// What a DriverDevice needs of the driver link it belongs to (src/driver/driver.ts VirtioDriver
// provides it): requests with the driver's tokens, EVENT_AVAIL, the guest memory and the link's
// limits. An interface of its own so the device side does not import the driver class.
import type { Message, Profile } from '../protocol/codec.js';
import type { GuestMemory } from '../virtqueue/guest-memory.js';

export interface DriverLink {
  readonly memory: GuestMemory;
  readonly maxMessageSize: number;
  readonly profile: Profile;
  readonly endpoint: { flush(): unknown };
  request(msg: Message, timeoutMs?: number): Promise<Message>;
  notifyAvail(dev: number, q: number): void;
}
