// What the tool commands (bench with profiles, conform, replay) need from the outside world:
// where output goes and how a --target URI becomes a FrameChannel. Commands take it as an
// argument so the same code runs from the bin (real streams, openFrameChannel) and against an
// in-process bus.
import type { FrameChannel } from '../bus/bus-link.js';
import { openFrameChannel } from '../bus/open.js';
import { LinkUriError } from '../bus/uri.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError, usageLine } from './exit.js';

export interface ToolIo {
  out(text: string): void;
  err(text: string): void;
  /** The stream the live progress line may use (drawn only when it is a TTY). */
  progressStream: NodeJS.WritableStream & { isTTY?: boolean };
  /** Open the device-side bus named by --target. */
  channelFor(uri: string): Promise<FrameChannel>;
}

/** The real streams; a --target that keeps us waiting says what for, as `vmsg <command>: waiting for ...`. */
export function processIo(command: string): ToolIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    progressStream: process.stderr,
    channelFor: (uri) => openFrameChannel(uri, { notice: (line) => void process.stderr.write(`vmsg ${command}: ${line}\n`) }),
  };
}

/**
 * Open --target. On failure, one line `vmsg <command>: cannot open --target URI: why` and the
 * exit status to return: 2 for a malformed URI, 1 for a bus that is not there or not answering.
 */
export async function openTarget(io: ToolIo, command: string, uri: string): Promise<FrameChannel | typeof EXIT_FAILURE | typeof EXIT_USAGE> {
  try {
    return await io.channelFor(uri);
  } catch (e) {
    if (e instanceof LinkUriError) {
      io.err(usageLine(command, `--target: ${e.message}`));
      return EXIT_USAGE;
    }
    io.err(`vmsg ${command}: cannot open --target ${uri}: ${(e as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

/** A number flag given as text (parseArgs has integers only): checked here with the same kind of message. */
export function numberFlag(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new NumberFlagError(`${flag} needs a number from ${min} to ${max}, got "${text}"`);
  return n;
}

export class NumberFlagError extends UsageError {}
