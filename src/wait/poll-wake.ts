// The waker's half of a sleep in poll(2) (src/wait/doorbell.ts, DOORBELL_ASLEEP_POLL): write
// the sleeper's eventfd. Kept apart from doorbell.ts so the WASM instantiation can import it
// without the rest of the protocol. Only an owner that loaded the doorbell addon ever sleeps
// in poll, so a waker in a process without it never gets here.
import { tryBellAddon } from '../native/bell.js';

/** Wake a sleeper in poll(2) through its eventfd (a descriptor of the addon's pool). */
export function wakePollSleeper(fd: number): void {
  tryBellAddon()?.signal(fd);
}
