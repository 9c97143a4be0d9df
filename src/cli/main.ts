#!/usr/bin/env node
// `vmsg <command> [args]`: the package's bin. Each command is a module exporting
// run(argv) → exit status, loaded only when asked for. Add a command by adding a row.

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
  return `usage: vmsg <command> [args]   (vmsg <command> --help for its options)\n\ncommands:\n${rows.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(help());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0])) return COMMANDS[rest[0]]!.load().then((c) => c.run(['--help']));
    process.stdout.write(help());
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`vmsg: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')} (vmsg --help)\n`);
    return 2;
  }
  return (await command.load()).run(rest);
}

// A reader that went away (`vmsg decode run.vmc | head`) is no error of ours: stop quietly, as
// a program killed by SIGPIPE does, instead of an unhandled 'error' event and its stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});

// exitCode, not exit(): lets stdout drain when it is a pipe. 3 = a bug, not a verdict on input.
main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (e: unknown) => {
    process.stderr.write(`vmsg: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 3;
  },
);
