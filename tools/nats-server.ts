// A nats-server of a test or benchmark of its own (Debian's `nats-server`, 2.9+ for JetStream KV): on a free
// loopback port with a temporary JetStream directory, stopped and removed by stop(); restart()
// brings it back on the same port with the same store (the directory survives, as in a real
// server restart). `natsServerMissing()` says why the cluster tests must skip, or undefined.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function natsServerMissing(): string | undefined {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined) return 'nats-server is not installed (apt-get install nats-server; .ci/run installs it)';
  const m = /v(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
  if (m === null || Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 9)) return `nats-server ${r.stdout.trim()} is older than 2.9 (no JetStream KV)`;
  return undefined;
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepting(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not accept connections on port ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class NatsServer {
  private proc: ChildProcess | undefined;
  private log = '';

  private constructor(readonly port: number, readonly dir: string, private readonly config: string | undefined) {}

  /** The server's process id while it runs (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** `config`: nats-server configuration text (users, permissions); the port, address and store come from the flags. */
  static async start(config?: string): Promise<NatsServer> {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-nats-'));
    let conf: string | undefined;
    if (config !== undefined) writeFileSync((conf = join(dir, 'server.conf')), config);
    const s = new NatsServer(await freePort(), dir, conf);
    await s.run();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.log;
  }

  private async run(): Promise<void> {
    const args = ['-js', '-sd', join(this.dir, 'js'), '-p', String(this.port), '-a', '127.0.0.1', ...(this.config === undefined ? [] : ['-c', this.config])];
    const p = spawn('nats-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    p.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    await accepting(this.port, 10_000);
  }

  /** Stop the server (the store stays for restart()). */
  async halt(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.run();
  }

  /** Stop and remove everything it left. */
  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
