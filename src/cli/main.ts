#!/usr/bin/env node
// `vmsg <command> [args]`: the package's bin. Each command is a module exporting
// run(argv) → exit status (src/cli/exit.ts), loaded only when asked for. Add a command by adding a row.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { closestName } from '../util/did-you-mean.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandFailure, UsageError, internalErrorText, setDebug, usageLine } from './exit.js';

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  bench: { summary: 'drive an external device-side bus and verify every answer (--target URI --mode init|ping|avail)', load: () => import('./bench.js') },
  decode: { summary: 'decode and validate one frame (--hex HEX) or a capture file (FILE.vmc) [--json]', load: () => import('./decode.js') },
  drive: { summary: 'bring a device up on any bus and move data through its virtqueues (--target URI --dev D entropy|block)', load: () => import('./drive.js') },
  demo: { summary: 'router + block, entropy and echo devices + drivers, with live rates (npm start)', load: () => import('./demo.js') },
  'export-pcapng': { summary: 'capture file → pcapng for Wireshark (FILE.vmc OUT.pcapng)', load: () => import('./export-pcapng.js') },
  conform: { summary: 'check a device-side bus against the spec rules it can observe (--target URI [--dev D] [--json])', load: () => import('./conform.js') },
  replay: { summary: "re-send a capture's driver side and compare the answers (FILE.vmc --target URI [--speed X])", load: () => import('./replay.js') },
  route: { summary: 'run a router between external programs (--driver-link/--device-link URI, --device KIND:N)', load: () => import('./route.js') },
  stress: { summary: 'block I/O through tiny vmamp-sized queues (--window 496 --dma inline|offload --notify inband|oob)', load: () => import('./stress.js') },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: vmsg <command> [args]   (vmsg <command> --help for its options)
       vmsg --version

commands:
${rows.join('\n')}

Any command also takes --debug: stack traces for internal errors.
Exit status: 0 ok, 1 the run failed (link, port, I/O, or a failed verdict), 2 bad command line or config.

example:
  vmsg route --driver-link tcp-listen:7000 --device echo:1 &
  vmsg bench --target tcp:127.0.0.1:7000 --profile ping --duration 5
`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version} (node ${process.versions.node})\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(help());
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined) {
      if (!Object.hasOwn(COMMANDS, rest[0])) throw new UsageError(unknownCommand(rest[0]));
      return (await COMMANDS[rest[0]]!.load()).run(['--help']);
    }
    process.stdout.write(help());
    return EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(version());
    return EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) throw new UsageError(unknownCommand(name));
  return (await command.load()).run(rest);
}

function unknownCommand(name: string): string {
  const what = name.startsWith('-') ? 'option' : 'command';
  const best = closestName(name, Object.keys(COMMANDS));
  return `unknown ${what} "${name}"; ${best !== undefined ? `did you mean "${best}"? ` : ''}commands: ${Object.keys(COMMANDS).join(', ')}`;
}

/** The command's name for messages: `vmsg route: ...`, or plain `vmsg` before one is known. */
function commandName(argv: string[]): string {
  return argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? `vmsg ${argv[0]}` : 'vmsg';
}

/**
 * An error no command turned into its own line: still one line and an exit status by meaning.
 * Everything reaches here at the latest, even an 'error' event nobody listened to.
 */
function fail(e: unknown, argv: string[]): void {
  const prefix = commandName(argv);
  if (e instanceof UsageError) {
    process.stderr.write(prefix === 'vmsg' ? `vmsg: ${e.message} (vmsg --help)\n` : usageLine(prefix.slice(5), e.message));
    process.exitCode = EXIT_USAGE;
  } else if (e instanceof CommandFailure) {
    process.stderr.write(`${prefix}: ${e.message}\n`);
    process.exitCode = EXIT_FAILURE;
  } else {
    process.stderr.write(internalErrorText(prefix, e));
    process.exitCode = EXIT_FAILURE;
  }
}

// `--debug` may stand anywhere; it is ours, not the command's.
const argv = process.argv.slice(2).filter((a) => a !== '--debug');
setDebug(argv.length !== process.argv.length - 2 || process.env.VMSG_DEBUG === '1');

// A reader that went away (`vmsg decode run.vmc | head`) is no error of ours: stop quietly, as
// a program killed by SIGPIPE does, instead of an unhandled 'error' event and its stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});

// Last resort: whatever escaped (an unhandled 'error' event of a stream, a rejected promise
// nobody awaited) ends the process with one line, not node's stack dump; workers and sockets
// still open would otherwise keep a failed command running.
const lastResort = (e: unknown): void => {
  fail(e, argv);
  process.exit();
};
process.on('uncaughtException', lastResort);
process.on('unhandledRejection', lastResort);

// exitCode, not exit(): lets stdout drain when it is a pipe. A failure exits at once: workers a
// failed command left behind must not keep it running (stderr is written synchronously).
main(argv).then(
  (status) => { process.exitCode = status; },
  lastResort,
);
