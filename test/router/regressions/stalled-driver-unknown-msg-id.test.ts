// Written by the in-process router fuzzer (tools/fuzz/inproc): case seed 33, shrunk from
// 24148 to 36 operations. It broke: delivered-invalid: dev2 received 002b050005000a00fa5c: UNSUPPORTED_MSG_ID (unknown transport msg_id 0x2b)
// The operations replay on a fresh in-process router (tools/fuzz/inproc/fuzz-case.ts replayCase):
// ['w', link, hex] a far end writes a frame, ['p', link] publishes, ['r', shard, budget] routes,
// ['d', link, n] reads, ['c', ms] moves the clock (every shard expires), ['s'] settles.
// FIXED ROUTER BUG (fromDriver now looks at the backlog after the msg_id checks): driverBacklogged (assembly/router/admission.ts) ran
// before fromDriver's msg_id checks. A stalled driver's request-shaped frame with an unknown
// standard msg_id (here 0x2b) for a device on another shard is sent across (toOtherShard);
// if the driver drained meanwhile, the owner's drainCrossShard no longer sees it stalled and
// forwards it: the device receives a frame the validator rejects (UNSUPPORTED_MSG_ID), and the
// driver later gets an outcome (TIMEOUT) for a frame that was never a valid request. The same
// order makes a stalled driver's malformed request (same shard) fail with DRIVER_STALLED and
// a failure event instead of a silent UNSUPPORTED_MSG_ID drop (the oracle tolerates that one).
import { expect, it } from 'vitest';
import { replayCase, type Op } from '../../../tools/fuzz/inproc/fuzz-case.js';
import type { InprocConfig } from '../../../tools/fuzz/inproc/inproc-router.js';

const config: InprocConfig = {"shards":2,"links":[{"name":"drv0","kind":"driver","shard":0,"packed":true,"maxMessageSize":264},{"name":"drv1","kind":"driver","shard":1,"packed":false,"maxMessageSize":64,"allow":[1,3,9]},{"name":"drv2","kind":"driver","shard":0,"packed":false,"maxMessageSize":48},{"name":"dev0","kind":"device","shard":0,"packed":false,"maxMessageSize":264,"devices":[1,2]},{"name":"dev1","kind":"device","shard":1,"packed":true,"maxMessageSize":48,"devices":[3]},{"name":"dev2","kind":"device","shard":1,"packed":false,"maxMessageSize":264,"devices":[5]}],"window":1,"parkLimit":1,"poolSlots":32,"ringCapacity":16,"timeoutMs":4,"sourceBudget":1,"ringBatch":4,"firstToken":{},"capture":false};

const ops: Op[] = [
  ["w",2,"000a0700a5312b007a96de737688347ce04b1fb2d06a004283532576f996c819f2ebaf2a7ecab240fdc768"],
  ["w",2,"000602005ac80c00fa5cfa6d"],
  ["w",2,"0041020000001000000000000c7dcc7b"],
  ["w",2,"000a050000000c00fb5f"],
  ["r",0,4096],
  ["w",2,"000407009fa71700e0df7895dea919bd8d1d96913aa9b7"],
  ["w",2,"02020000bf2b0c0010001000"],
  ["w",2,"000b0100183c2f00bb97e3e8dab9b0590489ae55031f51f5c796a3364517cbfaf8b26a142fc3817264d61261f96984"],
  ["w",0,"000a050049da24000b7b77d18c78c16d2123c6e13d20fc4eda64aaf11ddb28effd2793f8"],
  ["r",1,4096],
  ["w",2,"0042030000000f00cb3bbb10662b7c08"],
  ["w",5,"0040050000000c0094daff7c"],
  ["p",5],
  ["r",0,4096],
  ["c",2],
  ["w",5,"0003fffffd0b15001d2401c3d08270c667a58967b1c71e8e58bafc59a69b81f52a0749279055812e7c3be1910cc5e5c8b2ceb76f0f"],
  ["w",5,"00c4050000000c00767c790f"],
  ["w",5,"020200002b4d30001000f800"],
  ["w",5,"0042050000000c00fe07c79b"],
  ["r",1,4096],
  ["c",2],
  ["p",0],
  ["w",2,"00030000a30b26006d38866b252d7b31e4cfc02940ad2205a5352ea97747f169312db6d30be5"],
  ["w",2,"00a60000c4e01c00847ab58418545381f132f95b7f1bc2490d947148"],
  ["w",2,"000c050092580a001b1a"],
  ["w",2,"0202000092d90c0018004000"],
  ["w",2,"ec080500e7c8140036b742dad65202bce21e3ea2"],
  ["w",2,"00050700f76c10006712eaf00b28ab9e"],
  ["w",2,"02030000daa60c00117d0398"],
  ["w",2,"000b47140f362d00d745e961daedd8f49a339d06e3fac22f418db09a8078330fc9c44c68ccab3eda1679a30c46"],
  ["w",2,"02030000371d0c005bcfe76a"],
  ["p",2],
  ["r",0,4096],
  ["c",20],
  ["w",2,"002b050000000a"],
  ["s"],
];

it('a request with an unknown msg_id from a stalled driver never reaches a device', () => {
  expect(replayCase(config, ops).violations).toEqual([]);
});
