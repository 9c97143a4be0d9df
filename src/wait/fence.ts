// How ring sides publish their index in this process (docs/ARCHITECTURE.md "Doorbell protocol").
//
// A seq-cst store (wasm atomic.store / Atomics.store) is an x86 xchg: it drains the store
// buffer before the index becomes visible, +0.12-0.17 us per ring hop on the 2-vCPU machine
// (docs/BENCHMARKS.md "rtt"). On x86-64 a plain store is already a release store, so the frame
// is visible before the index either way; what the seq-cst store adds is store->load order
// between "publish the index" and "is the peer asleep?", which the doorbell protocol needs
// only while the peer can fall asleep.
//
// relaxed  (x86-64 with membarrier(2)) native rings carry CURF_RELAXED: their publishers store
//          the index plainly when the peer has no doorbell or its doorbell says
//          DOORBELL_BUSY_POLL (it spins and never sleeps), then look at the bell once more.
//          A side that leaves busy-poll stores AWAKE and calls busyPollExitFence(), a
//          membarrier that puts a full barrier into every running thread of the process: a
//          publisher whose second look still saw BUSY_POLL has its store visible after that
//          fence; one that saw the change publishes the seq-cst way. The fence costs the other
//          CPU ~30 us here (an IPI in a VM), so it is paid per busy-poll exit, never per sleep.
// seq-cst  every publish is seq-cst and nobody busy-polls by the bell: another architecture,
//          no membarrier (old kernel, sandbox), or VMSG_PUBLISH=seq-cst.
//
// Every thread decides the same way (same CPU, kernel and environment). Rings shared with other
// processes (vmamp, SPSC) never carry CURF_RELAXED: the fence covers this process only.
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
 * Call after moving a doorbell word from DOORBELL_BUSY_POLL to DOORBELL_AWAKE, before relying on
 * the publishers to ring it (src/wait/doorbell.ts leaveBusyPoll). A no-op in seq-cst mode.
 */
export function busyPollExitFence(): void {
  if (publishMode() === 'relaxed' && !addon!.fence()) {
    throw new Error('membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after it was registered');
  }
}
