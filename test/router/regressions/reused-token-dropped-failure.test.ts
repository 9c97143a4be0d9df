// Written by the in-process router fuzzer (tools/fuzz/inproc): case seed 20261349, shrunk from
// 77068 to 51 operations. It broke: refusal: drv1: request to device 3 (token 8957) failed TIMEOUT, must fail MSG_SIZE_GT_BUS_MAX
// The operations replay on a fresh in-process router (tools/fuzz/inproc/fuzz-case.ts replayCase):
// ['w', link, hex] a far end writes a frame, ['p', link] publishes, ['r', shard, budget] routes,
// ['d', link, n] reads, ['c', ms] moves the clock (every shard expires), ['s'] settles.
// ORACLE GAP (fixed in tools/fuzz/inproc/oracle.ts, outcome): drv1 sends device 3 a request
// with token 8957 that is too large for device 3's link (must fail MSG_SIZE_GT_BUS_MAX), and
// later a routable one with the same token and msg_id. drv1 reads little, so the router drops
// the first one's failure event (ENDPOINT_STALLED, which the oracle allows); the second one
// times out. The oracle matched that TIMEOUT to the first request with the token and called it
// the wrong failure. It now gives an outcome to the later request with the token when only that
// one can have it. (The driver-stalled findings of the same runs, a DRIVER_STALLED matched to an
// earlier request with the same token that could not be refused so, were the same gap.)
import { expect, it } from 'vitest';
import { replayCase, type Op } from '../../../tools/fuzz/inproc/fuzz-case.js';
import type { InprocConfig } from '../../../tools/fuzz/inproc/inproc-router.js';

const config: InprocConfig = {"shards":2,"links":[{"name":"drv0","kind":"driver","shard":0,"packed":true,"maxMessageSize":264},{"name":"drv1","kind":"driver","shard":1,"packed":false,"maxMessageSize":64,"allow":[1,3,9]},{"name":"drv2","kind":"driver","shard":0,"packed":false,"maxMessageSize":48},{"name":"dev0","kind":"device","shard":0,"packed":false,"maxMessageSize":264,"devices":[1,2]},{"name":"dev1","kind":"device","shard":1,"packed":true,"maxMessageSize":48,"devices":[3]},{"name":"dev2","kind":"device","shard":1,"packed":false,"maxMessageSize":264,"devices":[5]}],"window":2,"parkLimit":1,"poolSlots":32,"ringCapacity":16,"timeoutMs":4,"sourceBudget":64,"ringBatch":4,"firstToken":{},"capture":false};

const ops: Op[] = [
  ["w",1,"00080100eac43100b289fcb86cdc249167f890a8c0d28cda35c964abe2c266a42316f67776bedfebe995de4d893fc106a9"],
  ["w",1,"0002010013ff37004b499ea272566e0c277e89d2542c4fc8c19e4f506ddc0729d92bdb86da8590ed46e4a395ddfa5efad146a127564ce7"],
  ["p",1],
  ["w",3,"020307006e778c0000000000"],
  ["w",3,"0013050000001000475c2921b3"],
  ["w",3,"0040020000001000535a5f08afa74f28"],
  ["w",3,"0203000010b40c0000000000"],
  ["w",3,"020e000075320c0000000000"],
  ["w",3,"0040010000001000080f652c81be6e38"],
  ["r",1,4096],
  ["w",1,"000c0100e36d3000c956645c14d37d6cefa94e7fa7105ec23b1e0323ebc8db5f0860b61737c631ca1521505ff8392e36"],
  ["w",1,"000401008d5838000d1419f91019fa2b3a99485e76120d769575cb7ff2e9a5817ed37b7e7c5adc70deab49e4d841d0d505f3b5a2f5f23b23"],
  ["w",1,"0040000000003800bcd73635"],
  ["r",0,4096],
  ["c",2],
  ["w",1,"0005020026b30800"],
  ["w",3,"0040010000007200cf8c289c5e62ce34c77d6b021ba050328997397eb1bb5ab2dc1aaba5479a"],
  ["w",3,"0042010000000c0026bfced1"],
  ["w",4,"00420300000010009ef8ea874a2072ee"],
  ["w",1,"00030200ea410800"],
  ["w",1,"000c030097b71200bc1acc3d43e0900ab969"],
  ["w",1,"0007000088921c00795d8636c0da61f7f2ca598697846de49617b51d"],
  ["w",1,"0040010000001000ef9ff1c11c1d6261"],
  ["r",1,4096],
  ["w",4,"00400300000010001e0314bf70a9f436"],
  ["w",4,"0040030000001000281dfdae00311f63"],
  ["c",3],
  ["w",1,"000b07003d212c00aa4191d3852fc912e704790a7d4c231f02ad452f6a6b823bcee2f34d6cc07be1a80f02a7"],
  ["w",1,"000b0300d38a2600dec0bd948a3a9b19c76c4524affdc992ed310b2c2892c553fb43a442fbf3"],
  ["w",4,"0040030000001d005f2e487d"],
  ["w",4,"00ea030000000c00a2d96705"],
  ["r",0,4096],
  ["c",2],
  ["w",1,"02020000673f0c0000004800"],
  ["p",1],
  ["w",4,"0042030000001000e69a6859c33f639a"],
  ["w",4,"001b0300000010007c8aeb87dff8140c"],
  ["w",4,"0009030000002a008ededfd5"],
  ["r",1,4096],
  ["c",2],
  ["c",2],
  ["w",1,"000c0300fd224000b7512f8710849b4ad28f5853276c598ea960ef0113b18efcab784bce66a8f024e1e99508d670a3"],
  ["w",1,"0000030000000c00dc"],
  ["r",1,4096],
  ["c",2],
  ["w",1,"02030000d9880c00bef6c020"],
  ["w",1,"0007000074140a00c1ef"],
  ["w",1,"000c0300fd222300b7512f8710849b4ad28f5853276c598ea960ef0113b18efcab784bce66a8f024e1e99508d670a33739bcb4a69931e526881d2a78c3bf7efe"],
  ["r",1,4],
  ["d",1,1048576],
  ["s"],
];

it("a reused driver token whose first failure event was dropped does not take the later request's outcome (fuzz case 20261349, refusal)", () => {
  expect(replayCase(config, ops).violations).toEqual([]);
});
