// Opening a shared-memory bus window for our role, the same for vmamp and SPSC (docs/BUSES.md §2.2):
//   device side: listen on the doorbell socket, create the window file, build the layout, give
//                the file its name, then accept the driver (it connects once it has seen the layout);
//   driver side: wait for the window file, validate the layout (waiting for it to appear),
//                then connect the doorbell socket.
// The layout-specific step is the `prepare` callback. Whatever fails releases what was opened.
import type { SharedMemory } from '../memory/shared-memory.js';
import { DoorbellSocket, type DoorbellListener } from './doorbell-socket.js';
import { ShmWindow } from './shm-window.js';
import type { ShmLinkOptions } from './shm-options.js';
import type { OpenDeadline } from './open-deadline.js';

export interface OpenedWindow<T> {
  window: ShmWindow;
  doorbell: DoorbellSocket | null;
  /** What `prepare` returned (the layout). */
  prepared: T;
  /** Undo everything (for a failure after this point); a window file we created goes too. */
  release(): Promise<void>;
}

export async function openWindow<T>(
  mem: SharedMemory, o: ShmLinkOptions, deadline: OpenDeadline, prepare: (window: ShmWindow) => T | Promise<T>,
): Promise<OpenedWindow<T>> {
  let listener: DoorbellListener | null = null;
  let window: ShmWindow | null = null;
  let doorbell: DoorbellSocket | null = null;
  const release = async (): Promise<void> => {
    await doorbell?.close();
    await listener?.close();
    window?.close(true);
  };
  try {
    let prepared: T;
    if (o.role === 'device') {
      if (o.sock !== undefined) listener = await DoorbellSocket.listen(o.sock);
      window = ShmWindow.create(mem, o.path, o.size!);
      prepared = await prepare(window);
      window.publish(); // only now may a driver find it
      if (listener !== null) doorbell = await listener.accept(deadline);
    } else {
      window = await ShmWindow.attach(mem, o.path, o.size, deadline);
      prepared = await prepare(window);
      if (o.sock !== undefined) doorbell = await DoorbellSocket.connect(o.sock, deadline);
    }
    // Once accepted, the socket owns the listener (closing it closes both).
    listener = null;
    return { window, doorbell, prepared, release };
  } catch (e) {
    await release();
    throw e;
  }
}
