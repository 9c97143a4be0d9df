// Built by hand after the in-process router fuzzer's label findings (cases 20261251, 20261281,
// 20261292; shrunk by the fuzzer they stay ~100,000 operations long, because reaching them takes
// a thousand tokens): the operations replay on a fresh in-process router
// (tools/fuzz/inproc/fuzz-case.ts replayCase): ['w', link, hex] a far end writes a frame, ['p', link]
// publishes, ['r', shard, budget] routes, ['d', link, n] reads, ['s'] settles.
// ORACLE GAP (fixed in tools/fuzz/inproc/oracle.ts, beyondHistory): device 3 answers its first
// request a second time more than 992 tokens later. The router remembers closed requests for
// the last bits/2 - 32 = 992 sequences behind its head and calls an older answer
// LATE_RESPONSE (docs/ARCHITECTURE.md "One labelling rule"). The device received only 126
// requests meanwhile: each round forwards one and refuses seven while it waits (too large for
// device 3's 48-byte link: MSG_SIZE_GT_BUS_MAX, each taking a sequence the device never sees).
// The oracle counted the distance in requests received (under its 900 cutoff) and predicted
// DUPLICATE_RESPONSE; it now counts the tokens the device state issued.
import { expect, it } from 'vitest';
import { replayCase, type Op } from '../../../tools/fuzz/inproc/fuzz-case.js';
import type { InprocConfig } from '../../../tools/fuzz/inproc/inproc-router.js';

const config: InprocConfig = {"shards":2,"links":[{"name":"drv0","kind":"driver","shard":0,"packed":true,"maxMessageSize":264},{"name":"drv1","kind":"driver","shard":1,"packed":false,"maxMessageSize":64,"allow":[1,3,9]},{"name":"drv2","kind":"driver","shard":0,"packed":false,"maxMessageSize":48},{"name":"dev0","kind":"device","shard":0,"packed":false,"maxMessageSize":264,"devices":[1,2]},{"name":"dev1","kind":"device","shard":1,"packed":true,"maxMessageSize":48,"devices":[3]},{"name":"dev2","kind":"device","shard":1,"packed":false,"maxMessageSize":264,"devices":[5]}],"window":8,"parkLimit":8,"poolSlots":64,"ringCapacity":16,"timeoutMs":150,"sourceBudget":64,"ringBatch":16,"firstToken":{},"capture":false};

const DRV1 = 1;
const DEV1 = 4;
const ROUNDS = 126; // 8 tokens a round: 1,008 > 992

/** A GET_SHM frame (msg_id 0x0c) of `type` for device 3 with `token` and `size` bytes (index 0, zero padding). */
function getShm(type: number, token: number, size: number): string {
  const b = Buffer.alloc(size);
  b.writeUInt8(type, 0);
  b.writeUInt8(0x0c, 1);
  b.writeUInt16LE(3, 2);
  b.writeUInt16LE(token, 4);
  b.writeUInt16LE(size, 6);
  return b.toString('hex');
}

function rounds(): Op[] {
  const ops: Op[] = [];
  let routerToken = 1;
  for (let r = 0; r < ROUNDS; r++) {
    ops.push(['w', DRV1, getShm(0, 1000 + r * 8, 12)]);
    for (let k = 1; k < 8; k++) ops.push(['w', DRV1, getShm(0, 1000 + r * 8 + k, 56)]);
    ops.push(['p', DRV1], ['r', 1, 4096], ['d', DEV1, 1]);
    ops.push(['w', DEV1, getShm(1, routerToken, 20)], ['p', DEV1], ['r', 1, 4096], ['d', DRV1, 1 << 20]);
    routerToken += 8;
  }
  // The first request's answer again, 1,008 tokens after it was issued.
  ops.push(['w', DEV1, getShm(1, 1, 20)], ['p', DEV1], ['r', 1, 4096], ['s']);
  return ops;
}

it('an answer older than the outcome history is not predicted a duplicate (fuzz cases 20261251, 20261281, 20261292, label)', () => {
  expect(replayCase(config, rounds()).violations).toEqual([]);
});
