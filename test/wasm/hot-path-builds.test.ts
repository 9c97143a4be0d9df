// Which build of the hot path loads, and that a module from another build is refused: engines
// without Wasm SIMD (V8 on x86-64 without SSE4.1, as under QEMU's qemu64 CPU; here V8's
// --no-enable-sse4-1) get dist/wasm/vmsg.scalar.wasm and route with it; VMSG_WASM forces a
// build; a module whose layout constants are not this build's never runs.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/paths.js';
import { checkModuleLayout, faultsModule, scalarModule, wasmBuild, wasmModule } from '../../src/wasm/module.js';
import * as layout from '../../src/wasm/layout.js';
import { createRouterWithModule } from '../../src/router/test-hooks.js';

const run = promisify(execFile);

/** `f` with VMSG_WASM set to `value` (undefined: unset), restored after. */
function withEnv<T>(value: string | undefined, f: () => T): T {
  const before = process.env['VMSG_WASM'];
  if (value === undefined) delete process.env['VMSG_WASM'];
  else process.env['VMSG_WASM'] = value;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env['VMSG_WASM'];
    else process.env['VMSG_WASM'] = before;
  }
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};
const sleb = (v: bigint): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/**
 * A real module exporting every layout constant of this build as an immutable global (i32, or
 * i64 above 2^31, as asc exports them), with `changes` applied: a hot path from another commit.
 */
function moduleWith(changes: Record<string, number>): WebAssembly.Module {
  const entries = Object.entries({ ...layout, ...changes });
  const globals: number[] = uleb(entries.length);
  const exports: number[] = uleb(entries.length);
  entries.forEach(([name, v], i) => {
    globals.push(...(v > 0x7fffffff ? [0x7e, 0x00, 0x42, ...sleb(BigInt(v))] : [0x7f, 0x00, 0x41, ...sleb(BigInt(v))]), 0x0b);
    const bytes = [...Buffer.from(name)];
    exports.push(...uleb(bytes.length), ...bytes, 0x03, ...uleb(i));
  });
  return new WebAssembly.Module(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...section(6, globals), ...section(7, exports)]));
}

describe('hot path builds', () => {
  it('picks vmsg.wasm where the engine has Wasm SIMD, and VMSG_WASM forces either', () => {
    let simd = true;
    try {
      new WebAssembly.Module(readFileSync(join(packageRoot(), 'dist', 'wasm', 'vmsg.wasm')));
    } catch {
      simd = false; // an engine without SIMD, as a CPU without SSE4.1
    }
    expect(withEnv(undefined, wasmBuild)).toBe(simd ? 'simd' : 'scalar');
    expect(withEnv('scalar', wasmBuild)).toBe('scalar');
    expect(withEnv('simd', wasmBuild)).toBe('simd');
    expect(() => withEnv('sse', wasmBuild)).toThrow('VMSG_WASM must be "simd" or "scalar", got "sse"');
  });

  it('the SIMD, scalar and fault builds match this build\'s layout; SIMD and scalar export the same', () => {
    for (const m of [wasmModule(), scalarModule(), faultsModule()]) expect(() => checkModuleLayout(m, 'x')).not.toThrow();
    expect(WebAssembly.Module.exports(scalarModule())).toEqual(WebAssembly.Module.exports(wasmModule()));
  });

  it('refuses a module whose layout constants differ, naming the constant and both values', async () => {
    const expected = layout.RC_VERSION_VALUE;
    const older = moduleWith({ RC_VERSION_VALUE: expected - 2 });
    expect(() => checkModuleLayout(older, 'dist/wasm/vmsg.wasm')).toThrow(
      `dist/wasm/vmsg.wasm does not match this build's layout (RC_VERSION_VALUE ${expected - 2}, expected ${expected}): run npm run build`);
    const moved = moduleWith({ RC_VERSION_VALUE: expected + 1, DS_C_RESPONSES: layout.DS_C_RESPONSES + 8 });
    expect(() => checkModuleLayout(moved, 'm')).toThrow(`m does not match this build's layout (RC_VERSION_VALUE ${expected + 1}, expected ${expected}; 1 more constant differs): run npm run build`);
    // The unchanged constants alone are accepted: the check reads the module, not a copy.
    expect(() => checkModuleLayout(moduleWith({}), 'same')).not.toThrow();
    await expect(createRouterWithModule({ shards: 1 }, older)).rejects.toThrow(
      `the module passed to createRouterWithModule does not match this build's layout (RC_VERSION_VALUE ${expected - 2}, expected ${expected})`);
  });

  it('without SSE4.1 (no Wasm SIMD) loads the scalar build and routes every frame with exact counters', async () => {
    const dist = (p: string): string => pathToFileURL(join(packageRoot(), 'dist', 'src', p)).href;
    const script = `
      import { readFileSync } from 'node:fs';
      import { Router } from ${JSON.stringify(dist('router/router.js'))};
      import { EndpointPort } from ${JSON.stringify(dist('endpoint/port.js'))};
      import { wasmBuild, wasmModule } from ${JSON.stringify(dist('wasm/module.js'))};
      const out = {};
      try { new WebAssembly.Module(readFileSync(${JSON.stringify(join(packageRoot(), 'dist', 'wasm', 'vmsg.wasm'))})); out.simdCompiles = true; } catch { out.simdCompiles = false; }
      process.env.VMSG_WASM = 'simd';
      try { wasmModule(); } catch (e) { out.forcedSimd = e.message; }
      delete process.env.VMSG_WASM;
      out.build = wasmBuild();
      const until = async (cond, what) => {
        const deadline = Date.now() + 20000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error('timed out: ' + what);
          await new Promise((r) => setImmediate(r));
        }
      };
      const router = await Router.create({ shards: 1, timeoutMs: 20000 });
      try {
        const driver = new EndpointPort(await router.attachDriver());
        const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
        await until(() => driver.recv() !== null, 'EVENT_DEVICE READY');
        const N = 1000, SIZE = 24;
        let sent = 0, received = 0;
        await until(() => {
          while (sent < N && sent - received < 32) {
            const f = new Uint8Array(SIZE);
            const dv = new DataView(f.buffer);
            f[1] = 0x07; dv.setUint16(2, 1, true); dv.setUint16(4, sent, true); dv.setUint16(6, SIZE, true);
            if (!driver.send(f)) break;
            sent++;
          }
          driver.flush();
          for (let f = device.recv(); f !== null; f = device.recv()) {
            const a = f.slice(0, 8);
            a[0] = 1;
            new DataView(a.buffer).setUint16(6, 8, true);
            if (!device.send(a)) throw new Error('device ring full');
          }
          device.flush();
          while (driver.recv() !== null) received++;
          return received === N;
        }, N + ' answers');
        const s = router.stats();
        const d = s.devices.find((x) => x.dev === 1);
        const ep = s.endpoints.find((e) => e.id === device.link.id);
        Object.assign(out, { received, requests: d.requests, responses: d.responses, inFlight: d.inFlight, tx: ep.tx, txBytes: ep.txBytes });
      } finally {
        await router.close();
      }
      console.log(JSON.stringify(out));
    `;
    const env = { ...process.env };
    delete env['VMSG_WASM'];
    const { stdout } = await run(process.execPath, ['--no-enable-sse4-1', '--input-type=module', '-e', script], { env, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({
      simdCompiles: false,
      forcedSimd: 'vmsg-router: this engine has no Wasm SIMD, which dist/wasm/vmsg.wasm needs (VMSG_WASM=simd forces it); unset VMSG_WASM or set VMSG_WASM=scalar',
      build: 'scalar',
      received: 1000, requests: 1000, responses: 1000, inFlight: 0, tx: 1000, txBytes: 24_000,
    });
  }, 70_000);

  it('vmsg route names the scalar build at start-up when it runs it', async () => {
    const env = { ...process.env };
    delete env['VMSG_WASM'];
    const main = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const { stderr } = await run(process.execPath, ['--no-enable-sse4-1', main, 'route', '--device', 'echo:1', '--duration', '0.2'], { env, timeout: 30_000 });
    expect(stderr).toContain('vmsg route: hot path: dist/wasm/vmsg.scalar.wasm (no Wasm SIMD in this engine)\n');
    expect(stderr).toMatch(/routing: 0 link\(s\), 1 built-in device\(s\)/);
    const forced = await run(process.execPath, [main, 'route', '--device', 'echo:1', '--duration', '0.2'], { env: { ...env, VMSG_WASM: 'scalar' }, timeout: 30_000 });
    expect(forced.stderr).toContain('vmsg route: hot path: dist/wasm/vmsg.scalar.wasm (VMSG_WASM=scalar)\n');
  }, 40_000);
});
