// Exit statuses of every `vmsg` command, one per meaning (README "Exit statuses"), and the one
// line a failure prints: `vmsg <command>: <what failed and the fix>` on stderr, nothing on
// stdout, no stack trace unless --debug asked for one.

/** Done, and any verdict passed (frames valid, no errors, no order violations). */
export const EXIT_OK = 0;
/**
 * The command line was right but the run failed: a link or peer that cannot be opened, a port
 * in use, an I/O error, or a failed verdict (an invalid frame, errors in a benchmark).
 */
export const EXIT_FAILURE = 1;
/** The command line (or its config file) is wrong: fix it and run again. */
export const EXIT_USAGE = 2;

/** A bad command line or config: exit 2. */
export class UsageError extends Error {}

/** The command could not do its work although it was asked properly: exit 1. */
export class CommandFailure extends Error {}

let debugOn = false;

/** `--debug` anywhere on the command line (or VMSG_DEBUG=1): stack traces for internal errors. */
export function setDebug(on: boolean): void {
  debugOn = on;
}

export function debugEnabled(): boolean {
  return debugOn;
}

/** The stderr line of a usage error, pointing at the command's help. */
export function usageLine(command: string, message: string): string {
  return `vmsg ${command}: ${message} (vmsg ${command} --help)\n`;
}

/**
 * The stderr text of an error nobody expected (a bug, or a failure without its own message):
 * one line, or the stack with --debug.
 */
export function internalErrorText(prefix: string, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (debugOn) return `${prefix}: internal error: ${e instanceof Error ? (e.stack ?? message) : message}\n`;
  return `${prefix}: internal error: ${message.split('\n')[0]} (run again with --debug for the stack trace)\n`;
}
