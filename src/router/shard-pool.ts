// The shard workers: one long-lived piscina task per shard, each running the routing loop
// (shard-worker.ts) over the shared tables, and the control plane's command ring into each. A
// worker that fails is started again on the same tables, which survive in shared memory; the
// new one first fails the requests that were in flight (their fate is unknown).
import { Piscina } from 'piscina';
import type { SharedMemory } from '../memory/shared-memory.js';
import { compiledModule } from '../util/paths.js';
import type { ResolvedRouterOptions } from './options.js';
import type { RouterTables } from './tables.js';
import { CommandSender, Op, CB_STATE, SHARD_RUNNING } from './control.js';
import type { ShardTask } from './shard-worker.js';
import { Doorbell, ringDoorbell } from '../wait/doorbell.js';

/** How long the shards may take to start. */
const START_TIMEOUT_MS = 20_000;

export class ShardPool {
  /** Shard worker crashes seen (each was restarted). */
  restarts = 0;
  /** Restarted shards still failing their old requests. */
  recovering = 0;
  private readonly pool: Piscina;
  private readonly senders: CommandSender[] = [];
  private readonly runs: Promise<unknown>[] = [];
  private stopping = false;

  constructor(
    private readonly mem: SharedMemory,
    private readonly tables: RouterTables,
    private readonly options: ResolvedRouterOptions,
    /** The compiled hot path the workers run. */
    private readonly module: WebAssembly.Module,
    /** Origin of the shards' clock (clock.ts). */
    private readonly originMs: number,
  ) {
    const n = options.shards;
    this.pool = new Piscina({
      filename: compiledModule('router/shard-worker.js'),
      minThreads: n,
      maxThreads: n,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      maxQueue: n,
    });
    for (let s = 0; s < n; s++) {
      this.senders.push(new CommandSender(mem.wasm, mem.memory, tables.commandRings[s]!, tables.controlBlocks[s]!));
      this.runs.push(this.start(s));
    }
  }

  get count(): number {
    return this.senders.length;
  }

  private start(s: number): Promise<unknown> {
    const task: ShardTask = {
      memory: this.mem.memory,
      module: this.module,
      shard: this.tables.shards[s]!,
      commandRing: this.tables.commandRings[s]!,
      controlBlock: this.tables.controlBlocks[s]!,
      originMs: this.originMs,
      spinBeforeSleep: this.options.spinBeforeSleep,
      busyPollSpins: this.options.busyPollSpins,
      busyPollSeek: this.options.busyPollSeek,
      cpu: this.options.shardCpus.length !== 0 ? this.options.shardCpus[s % this.options.shardCpus.length]! : -1,
      drainMs: this.options.timeoutMs,
    };
    return this.pool.run(task).catch(async (err: unknown) => {
      if (this.stopping) return;
      this.restarts++;
      this.recovering++;
      process.emitWarning(`vmsg-router: shard ${s} worker failed (${String(err)}); restarting it`);
      this.runs[s] = this.start(s);
      try {
        await this.senders[s]!.run(Op.Recover, this.tables.L.R_SHARD_RESTARTED);
      } finally {
        this.recovering--;
      }
    });
  }

  /** Resolves once every shard runs its loop. */
  async waitRunning(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (const block of this.tables.controlBlocks) {
      while (this.mem.u32[(block + CB_STATE) >>> 2] !== SHARD_RUNNING) {
        if (Date.now() > deadline) throw new Error(`router shards did not start within ${START_TIMEOUT_MS / 1000} s`);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  }

  /** Run one command on shard `s`; resolves with its result. */
  run(s: number, op: Op, a = 0, b = 0): Promise<number> {
    return this.senders[s]!.run(op, a, b);
  }

  /** Run a command on every shard; a shard answering non-zero (a driver not reached: pool empty) is asked again once it has drained a little. */
  async broadcast(op: Op, a: number, b: number): Promise<void> {
    const results = await this.all(op, a, b);
    for (let s = 0; s < results.length; s++) {
      for (let tries = 0; results[s] !== 0 && tries < 100; tries++) {
        await new Promise((r) => setTimeout(r, 2));
        results[s] = await this.senders[s]!.run(op, a, b);
      }
    }
  }

  /** Run one command on every shard at once; resolves with their results. */
  all(op: Op, a = 0, b = 0): Promise<number[]> {
    return Promise.all(this.senders.map((s) => s.run(op, a, b)));
  }

  /** Wait until every shard has finished one routing step after this point. */
  async sync(): Promise<void> {
    await this.all(Op.Noop);
  }

  /** Wake shard `s` if it sleeps. */
  wake(s: number): void {
    ringDoorbell(this.mem.i32, this.tables.bell(s) >>> 2);
  }

  /**
   * Ask every shard to stop (they drain what is in flight first) and wake the sleeping ones; a
   * worker ending from now on is not restarted. Resolves once every worker has ended.
   */
  stop(): Promise<unknown> {
    this.stopping = true;
    for (const s of this.senders) s.requestStop();
    for (let s = 0; s < this.senders.length; s++) new Doorbell(this.mem.buffer, this.tables.bell(s)).wake();
    return Promise.allSettled(this.runs);
  }

  /** End the worker threads (after stop()). */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
