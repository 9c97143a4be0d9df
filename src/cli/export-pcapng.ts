// `vmsg export-pcapng FILE.vmc OUT.pcapng`: a capture as pcapng for Wireshark/tshark
// (dissector: tools/wireshark/virtio-msg.lua). Exit 0 written, 2 bad arguments or input.
import { parseArgs, optionsHelp, UsageError } from './args.js';
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
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`vmsg export-pcapng: ${e.message}\n(vmsg export-pcapng --help for usage)\n`);
    return 2;
  }
  try {
    const r = await exportPcapng(input, output);
    process.stderr.write(`vmsg export-pcapng: ${r.frames} frames on ${r.interfaces} links → ${output}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof CaptureFormatError) && (e as NodeJS.ErrnoException).code === undefined) throw e;
    process.stderr.write(`vmsg export-pcapng: ${(e as Error).message}\n`);
    return 2;
  }
}
