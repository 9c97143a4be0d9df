// The device side of a virtqueue in its own worker thread, for worker.test.ts. Notifications are
// messages shaped like the virtio-msg events: { type: 'avail', vqIndex, nextOffset } in (EVENT_AVAIL),
// { type: 'used', vqIndex } out (EVENT_USED). The device answers each request with its bytes reversed.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '../../../dist/src/virtqueue/guest-memory.js';
import { DeviceQueue } from '../../../dist/src/virtqueue/device-queue.js';
import { VirtqueueFault } from '../../../dist/src/virtqueue/fault.js';
import { decodeSplitNextOffset } from '../../../dist/src/virtqueue/notification.js';

const { memory: memoryDescriptor, queue, vqIndex } = workerData;
const memory = new GuestMemory(memoryDescriptor);
const device = DeviceQueue.open(memory, queue);
if (device instanceof VirtqueueFault) throw new Error(`SET_VQUEUE refused: ${device.message}`);

let served = 0;
let notifications = 0;
// A notification announces an available index the driver published before sending it, so once
// the device has drained the ring it has taken at least that many: never behind the hint (compared
// as signed 16-bit distance, since the device may be far ahead when a late message arrives).
let behindHint = 0;

function fail(fault) {
  parentPort.postMessage({ type: 'fault', kind: fault.kind, message: fault.message });
}

parentPort.on('message', (message) => {
  if (message.type === 'stop') {
    parentPort.postMessage({ type: 'report', served, notifications, behindHint });
    parentPort.close();
    return;
  }
  notifications++;
  do {
    device.disableNotifications();
    for (let chain = device.pop(); chain !== null; chain = device.pop()) {
      if (chain instanceof VirtqueueFault) return fail(chain);
      device.write(chain, 0, device.read(chain, 0, chain.readableBytes).reverse());
      device.push(chain.head, chain.readableBytes);
      served++;
    }
    if (device.needsInterrupt()) parentPort.postMessage({ type: 'used', vqIndex });
  } while (!device.enableNotifications());
  const hintAhead = (decodeSplitNextOffset(message.nextOffset) - served) & 0xffff;
  if (hintAhead !== 0 && hintAhead < 0x8000) behindHint++;
});
