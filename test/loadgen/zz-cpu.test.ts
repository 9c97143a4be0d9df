import { it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runLoad } from '../../src/loadgen/engine.js';
import { startEchoRouter } from '../tools/echo-router.js';
import type { ProfileSpec } from '../../src/loadgen/profiles.js';
const cpuMs = (): number => { const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
it('cpu', async () => {
  const t = await startEchoRouter([1, 2]);
  const profiles: ProfileSpec[] = (process.env.PROFILES ?? 'init,ping,avail,mixed').split(',').map((n) => n === 'mixed' ? { name: 'mixed', mix: { GET_DEVICE_STATUS: 4, GET_CONFIG: 2, EVENT_AVAIL: 2, PING: 1 } } : { name: n as ProfileSpec['name'] });
  const count = Number(process.env.COUNT ?? 200000);
  for (let pair = 0; pair < Number(process.env.PAIRS ?? 3); pair++) for (const p of profiles) for (const engine of ['js', 'wasm'] as const) {
    const ch = await t.channel();
    const c0 = cpuMs(), w0 = performance.now();
    const r = await runLoad(ch, { profile: p, engine, count, outstanding: Number(process.env.K ?? 32), timeoutMs: 20000 });
    const cpu = cpuMs() - c0, wall = performance.now() - w0;
    await ch.close();
    console.log(`${p.name.padEnd(8)} ${engine.padEnd(4)} errors=${r.errors} ov=${r.order_violations} completed=${r.completed} ops/s=${r.ops_per_s} cpu_us_per_op=${(cpu * 1000 / r.completed).toFixed(2)} main_cpu_share=${(cpu / wall).toFixed(2)} p50=${r.p50_us}`);
  }
  await t.close();
}, 600_000);
