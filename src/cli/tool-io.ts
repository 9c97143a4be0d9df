// What the tool commands (bench with profiles, conform, replay) need from the outside world:
// where output goes and how a --target URI becomes a FrameChannel. Commands take it as an
// argument so the same code runs from the bin (real streams, openFrameChannel) and against an
// in-process bus.
import type { FrameChannel } from '../bus/bus-link.js';
import { openFrameChannel } from '../bus/open.js';

export interface ToolIo {
  out(text: string): void;
  err(text: string): void;
  /** The stream the live progress line may use (drawn only when it is a TTY). */
  progressStream: NodeJS.WritableStream & { isTTY?: boolean };
  /** Open the device-side bus named by --target. */
  channelFor(uri: string): Promise<FrameChannel>;
}

export function processIo(): ToolIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    progressStream: process.stderr,
    channelFor: openFrameChannel,
  };
}

/** Open --target, reporting failure as `vmsg <command>: cannot open --target URI: why` (undefined then). */
export async function openTarget(io: ToolIo, command: string, uri: string): Promise<FrameChannel | undefined> {
  try {
    return await io.channelFor(uri);
  } catch (e) {
    io.err(`vmsg ${command}: cannot open --target ${uri}: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** A number flag given as text (parseArgs has integers only): checked here with the same kind of message. */
export function numberFlag(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new NumberFlagError(`${flag} needs a number from ${min} to ${max}, got "${text}"`);
  return n;
}

export class NumberFlagError extends Error {}
