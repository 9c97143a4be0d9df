// .vmc capture → pcapng file, streaming (see ./pcapng.ts for the block layout).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { readCaptureInTimeOrder } from './time-order.js';
import { sectionHeader, interfaceDescription, enhancedPacket } from './pcapng.js';
import { DIR_TO_ROUTER, type LinkRecord } from './vmc.js';

export interface ExportSummary {
  frames: number;
  interfaces: number;
}

export async function exportPcapng(capturePath: string, outPath: string): Promise<ExportSummary> {
  const out = createWriteStream(outPath);
  const write = async (b: Uint8Array): Promise<void> => {
    if (!out.write(b)) await once(out, 'drain');
  };
  const links = new Map<number, LinkRecord>();
  const ifaceOf = new Map<number, number>();
  let frames = 0;
  try {
    await write(sectionHeader('vmsg-router'));
    for await (const item of readCaptureInTimeOrder(capturePath)) {
      if (item.kind === 'link') { links.set(item.link.link, item.link); continue; }
      if (item.kind !== 'frame') continue;
      const f = item.frame;
      let iface = ifaceOf.get(f.link);
      if (iface === undefined) {
        iface = ifaceOf.size;
        ifaceOf.set(f.link, iface);
        const l = links.get(f.link);
        await write(interfaceDescription(`link${f.link}`, l === undefined ? `router link ${f.link}` : `${l.kind} link: ${l.name}`));
      }
      await write(enhancedPacket(iface, f.timeMs, f.bytes, f.dir === DIR_TO_ROUTER));
      frames++;
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return { frames, interfaces: ifaceOf.size };
}
