// `vmsg export-pcapng FILE.vmc OUT.pcapng`: a capture as pcapng for Wireshark/tshark
// (dissector: tools/wireshark/virtio-msg.lua). Exit 0 written, 2 bad arguments or input.
import { rmSync, statSync } from 'node:fs';
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { EXIT_OK, EXIT_USAGE, usageLine } from './exit.js';
import { checkCreatable, checkInputFile } from './startup-checks.js';
import { fsReason, isFsError } from '../util/fs-reason.js';
import { exportPcapng } from '../capture/export-pcapng.js';
import { CaptureFormatError } from '../capture/vmc.js';

const FLAGS = { help: { kind: 'boolean', help: 'show this help' } } as const;

const USAGE = `usage: vmsg export-pcapng FILE.vmc OUT.pcapng

Writes the frames of a capture (vmsg route --capture, Router.startCapture) as pcapng: one
interface per router link (link type USER0 = 147), direction in the packet flags (inbound =
towards the router). Open it with the dissector:
  wireshark -X lua_script:tools/wireshark/virtio-msg.lua OUT.pcapng

options:
${optionsHelp(FLAGS)}

example:
  vmsg route --driver-link tcp-listen:7000 --device echo:1 --capture run.vmc --duration 10
  vmsg export-pcapng run.vmc run.pcapng
`;

export async function run(argv: string[]): Promise<number> {
  let input: string, output: string;
  try {
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (flags.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`needs a capture file and an output file, got ${positionals.length} argument(s)`);
    [input, output] = positionals as [string, string];
    // Before writing anything: an output that cannot be created or a missing input is the user's to fix.
    checkCreatable(output, 'output');
    if (statSync(output, { throwIfNoEntry: false })?.isDirectory() === true) throw new UsageError(`output ${output} is a directory; give a file name such as ${output.replace(/\/$/, '')}/capture.pcapng`);
    checkInputFile(input, 'capture');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(usageLine('export-pcapng', e.message));
    return EXIT_USAGE;
  }
  try {
    const r = await exportPcapng(input, output);
    process.stderr.write(`vmsg export-pcapng: ${r.frames} frames on ${r.interfaces} links → ${output}\n`);
    return EXIT_OK;
  } catch (e) {
    // A half-written pcapng would look like a short capture: leave none.
    rmSync(output, { force: true });
    if (isFsError(e)) {
      const which = e.path === output ? `cannot write ${output}` : `cannot read capture ${input}`;
      process.stderr.write(usageLine('export-pcapng', `${which}: ${fsReason(e)}`));
      return EXIT_USAGE;
    }
    if (!(e instanceof CaptureFormatError)) throw e;
    process.stderr.write(usageLine('export-pcapng', e.message));
    return EXIT_USAGE;
  }
}
