// How ring sides publish their index in this process (docs/ARCHITECTURE.md "Doorbell protocol").
//
// relaxed  plain stores: on x86-64 (TSO) a plain store is already a release store, and the
//          index is the last store of a frame, so a consumer that loads it sees the frame. A
//          seq-cst store (wasm atomic.store / Atomics.store: an xchg) drains the store buffer
//          first; that cost +0.12-0.17 us per ring hop here (docs/BENCHMARKS.md "rtt").
//          What the seq-cst store also gave — store->load order between "publish index" and
//          "is the peer asleep?" — is supplied by the sleeper: after announcing sleep and
//          before its last look it calls sleeperFence(), a membarrier(2) that puts a full
//          barrier into every running thread of the process (an asymmetric Dekker fence).
// seq-cst  sequentially consistent stores, sleeperFence() does nothing: any other CPU
//          architecture, no membarrier (old kernel, sandbox), or VMSG_PUBLISH=seq-cst.
//
// Every thread decides the same way (same CPU, kernel and environment), so a relaxed publisher
// never meets a sleeper that skips the fence. Only rings whose both sides live in this process
// (native rings) publish relaxed; the fence covers threads of this process only.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';

interface FenceAddon {
  register(): boolean;
  fence(): boolean;
}

export type PublishMode = 'relaxed' | 'seq-cst';

let mode: PublishMode | undefined;
let addon: FenceAddon | undefined;
let reason = '';

function decide(): PublishMode {
  const forced = process.env.VMSG_PUBLISH;
  if (forced !== undefined && forced !== '' && forced !== 'auto') {
    if (forced !== 'relaxed' && forced !== 'seq-cst') {
      throw new Error(`VMSG_PUBLISH must be auto, relaxed or seq-cst, got "${forced}"`);
    }
    if (forced === 'seq-cst') {
      reason = 'VMSG_PUBLISH=seq-cst';
      return 'seq-cst';
    }
  }
  if (process.arch !== 'x64') {
    reason = `${process.arch} is not x86-64 (plain stores are not release stores there)`;
    return 'seq-cst';
  }
  try {
    addon = createRequire(import.meta.url)(join(packageRoot(), 'build', 'Release', 'vmsg_fence.node')) as FenceAddon;
  } catch (e) {
    reason = `the fence addon did not load (${(e as Error).message})`;
    return 'seq-cst';
  }
  if (!addon.register()) {
    reason = 'membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) is not available';
    return 'seq-cst';
  }
  reason = 'x86-64 with membarrier';
  return 'relaxed';
}

/** This process's publication mode (decided once per thread, the same way in every thread). */
export function publishMode(): PublishMode {
  mode ??= decide();
  return mode;
}

/** Why publishMode() is what it is (for `vmsg route` logs and the benchmark's machine record). */
export function publishModeReason(): string {
  publishMode();
  return reason;
}

/** True when native rings created in this process publish with plain stores. */
export function relaxedPublish(): boolean {
  return publishMode() === 'relaxed';
}

/**
 * The sleeper's half of the doorbell protocol in relaxed mode: call it after storing ASLEEP
 * and before the last look at the ring. A no-op in seq-cst mode.
 */
export function sleeperFence(): void {
  if (publishMode() === 'relaxed' && !addon!.fence()) {
    throw new Error('membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after it was registered');
  }
}
