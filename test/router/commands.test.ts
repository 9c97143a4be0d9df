// The control plane's command ring to a shard (src/router/control.ts), driven here by hand
// (runCommands is what the shard worker calls between routing steps): each command's waiter
// gets its own command's result, also when several are in flight at once.
import { describe, expect, test } from 'vitest';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { RouterTables } from '../../src/router/tables.js';
import { resolveRouterOptions } from '../../src/router/options.js';
import { CommandSender, Op, runCommands } from '../../src/router/control.js';

describe('shard commands', () => {
  test('commands queued together each resolve with their own result', async () => {
    const opts = resolveRouterOptions({ shards: 1, maxEndpoints: 4, memoryBytes: 16 << 20 });
    const mem = new SharedMemory({ bytes: opts.memoryBytes });
    const tables = new RouterTables(mem, opts);
    const [ring, block, shard] = [tables.commandRings[0]!, tables.controlBlocks[0]!, tables.shards[0]!];
    const sender = new CommandSender(mem.wasm, mem.memory, ring, block);
    // An unknown op answers 0xffffffff, a Noop 0: interleaved, every waiter must see its own.
    const unknown = 0x77 as Op;
    const ops = [Op.Noop, unknown, Op.Noop, unknown, unknown, Op.Noop];
    let settled = 0;
    const results = ops.map((op) => sender.run(op).finally(() => { settled++; }));
    for (let spins = 0; settled < ops.length; spins++) {
      if (spins > 10_000) throw new Error('commands never finished');
      runCommands(mem.wasm, mem.memory, shard, ring, block);
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(results)).toEqual(ops.map((op) => (op === Op.Noop ? 0 : 0xffffffff)));
  });
});
