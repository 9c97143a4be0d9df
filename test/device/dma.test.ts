// DMA-decoupled mode (`vmsg stress --dma offload`): the block device's buffer processing (file I/O and CRC-32
// of each virtqueue buffer) runs in a piscina pool; completions post the used-ring entry and
// EVENT_USED, and the message loop never waits on a job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevices, runDriver, type Bench } from './helpers.js';

describe('DMA-decoupled mode', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startDevices([{ dev: 12, kind: 'block' }, { dev: 13, kind: 'block', dma: { mode: 'offload', threads: 1 } }]);
  });
  afterAll(async () => {
    await bench.close();
  });

  it('8 MiB through the pool read back byte-identical; jobs overlap (the loop did not wait); same DMA work as inline', async () => {
    const inline = await runDriver<{ verified: number; mismatches: number }>(bench, 'blockIo', { dev: 12, mib: 8 });
    const offload = await runDriver<{ verified: number; mismatches: number }>(bench, 'blockIo', { dev: 13, mib: 8 });
    expect(inline).toMatchObject({ verified: 8 << 20, mismatches: 0 });
    expect(offload).toMatchObject({ verified: 8 << 20, mismatches: 0 });
    const [a, b] = await Promise.all([bench.workers.get(12)!.stop(), bench.workers.get(13)!.stop()]);
    const dmaInline = a.devices[0]!.dma;
    const dmaOffload = b.devices[0]!.dma;
    expect(dmaInline).toMatchObject({ offloaded: 0, maxInFlight: 1, inFlight: 0 });
    expect(dmaOffload.offloaded).toBe(dmaOffload.jobs);
    expect(dmaOffload.maxInFlight).toBeGreaterThan(1); // chains were started while earlier jobs ran
    expect(dmaOffload.inFlight).toBe(0);
    // The same bytes moved and checksummed (the CRCs are XOR-combined, so order does not matter).
    expect(dmaOffload.bytes).toBe(dmaInline.bytes);
    expect(dmaOffload.checksum).toBe(dmaInline.checksum);
    expect(b.devices[0]!.counters.faults).toBe(0);
  });
});
