// Opening a shared-memory bus window for our role, the same for vmamp and SPSC (docs/BUSES.md §2.2):
//   device side: create the window file, build the layout, give the file its name (now it is
//                ours: locked, at its path), listen on the doorbell socket;
//   driver side: start connecting the doorbell socket, wait for the window file, validate the
//                layout (waiting for it to appear).
// The doorbell socket is never waited for here: it arrives whenever the peer connects or
// accepts (src/bus/doorbell-arrival.ts), before, during or after the queue bring-up, or never.
// The layout-specific step is the `prepare` callback. Whatever fails releases what was opened.
import type { SharedMemory } from '../memory/shared-memory.js';
import { DoorbellArrival } from './doorbell-arrival.js';
import { ShmWindow } from './shm-window.js';
import type { ShmLinkOptions } from './shm-options.js';
import type { OpenDeadline } from './open-deadline.js';

export interface OpenedWindow<T> {
  window: ShmWindow;
  /** The doorbell socket as it arrives (`sock=`), or null: both sides poll. */
  doorbell: DoorbellArrival | null;
  /** What `prepare` returned (the layout). */
  prepared: T;
  /** Undo everything (for a failure after this point); a window file we created goes too. */
  release(): Promise<void>;
}

export async function openWindow<T>(
  mem: SharedMemory, o: ShmLinkOptions, deadline: OpenDeadline, prepare: (window: ShmWindow) => T | Promise<T>, log?: (line: string) => void,
): Promise<OpenedWindow<T>> {
  let doorbell: DoorbellArrival | null = null;
  let window: ShmWindow | null = null;
  const release = async (): Promise<void> => {
    await doorbell?.close();
    window?.close(true);
  };
  try {
    let prepared: T;
    if (o.role === 'device') {
      window = ShmWindow.create(mem, o.path, o.size!, o.uri.scheme);
      prepared = await prepare(window);
      window.publish(); // only now may a driver find it
      // Only once the window is ours at its path (published, locked) may we take the doorbell
      // socket's path: a second router on the same link, started at the same moment, is refused
      // at publishing and never replaces the socket the first one listens on. A driver that
      // comes first retries its connection until we listen.
      if (o.sock !== undefined) doorbell = await DoorbellArrival.listen(o.sock);
    } else {
      // Connecting before the window exists: a device side may accept before it builds it.
      if (o.sock !== undefined) doorbell = DoorbellArrival.connect(o.sock, log);
      window = await ShmWindow.attach(mem, o.path, o.size, deadline);
      prepared = await prepare(window);
    }
    return { window, doorbell, prepared, release };
  } catch (e) {
    await release();
    throw e;
  }
}
