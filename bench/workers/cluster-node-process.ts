// A router process of the cluster benchmark (bench/cluster.ts): a Router, one echo device link
// (its own worker thread, no device yet) and cluster membership. argv[2]: {"url","node"}.
// Prints {"ready":true} once joined; on the stdin line "add FIRST COUNT" it hot-adds devices
// FIRST..FIRST+COUNT-1 on the echo link and prints {"added":COUNT,"t0":<Date.now() before the first>,"t1":<after the last>}.
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { Router } from '../../src/router/router.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { wasmModule } from '../../src/wasm/module.js';
import { compiledModule } from '../../src/util/paths.js';

const cfg = JSON.parse(process.argv[2]!) as { url: string; node: string };
const router = await Router.create({ shards: 1, spinBeforeSleep: 200, timeoutMs: 30_000 });
const link = await router.attachDevice({});
const stop = new SharedArrayBuffer(4);
const echo = new Worker(compiledModule('device/echo-worker.js'), {
  workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), spinBeforeSleep: 200 },
});
const node = await ClusterNode.join(router, { url: cfg.url, node: cfg.node, advertise: 'tcp:127.0.0.1:0' }, {
  warning: (l) => { if (!/GET_DEVICE_INFO/.test(l)) process.stderr.write(`${cfg.node}: ${l}\n`); },
});
console.log(JSON.stringify({ ready: true }));

process.on('SIGTERM', async () => {
  await node.close();
  Atomics.store(new Int32Array(stop), 0, 1);
  Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
  await echo.terminate();
  await router.close();
  process.exit(0);
});

createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, first, count] = line.trim().split(/\s+/);
  if (cmd !== 'add') return;
  const t0 = Date.now();
  for (let d = Number(first); d < Number(first) + Number(count); d++) await router.addDevice(link, d);
  console.log(JSON.stringify({ added: Number(count), t0, t1: Date.now() }));
});
