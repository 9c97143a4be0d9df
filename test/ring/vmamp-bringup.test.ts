// vmamp queue bring-up (docs/BUSES.md §2.2), both sides stepped by hand: INIT + magic, wait for the
// peer's magic, zero head/tail and READY, wait for the peer READY/RUN, then RUN; the peer
// restarting silently, SHUTDOWN and PEER_DEAD, and recovery.
import { beforeEach, describe, expect, test } from 'vitest';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import {
  VmampBringUp, vmampConsumer, vmampDeviceInit, vmampDriverInit, vmampProducer, VMAMP_DEV_QH_AT, VMAMP_DRV_QH_AT,
  VMAMP_FLAG_DEBUGGABLE, VMAMP_QH_HEAD, VMAMP_QH_MAGIC, VMAMP_QH_MAGIC_VALUE, VMAMP_QH_STATUS, VMAMP_QH_TAIL,
  VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER, VMAMP_STATE_INIT, VMAMP_STATE_PEER_DEAD, VMAMP_STATE_READY, VMAMP_STATE_RUN,
  VMAMP_STATE_SHUTDOWN, type VmampLayout,
} from '../../src/ring/vmamp.js';
import { frameFor } from './helpers.js';

const mem = new SharedMemory({ bytes: 4 * 1024 * 1024 });
const SIZE = 4096;
const base = mem.alloc(SIZE);
let layout: VmampLayout;
let dev: VmampBringUp;
let drv: VmampBringUp;

const qh = (at: number, field: number): number => mem.dv.getUint16(base + at + field, true);
const setQh = (at: number, field: number, v: number): void => mem.dv.setUint16(base + at + field, v, true);

function bothRunning(): void {
  for (let i = 0; i < 4; i++) {
    const a = dev.step();
    const b = drv.step();
    if (a === 'running' && b === 'running') return;
  }
  throw new Error('not running');
}

beforeEach(() => {
  mem.u8.fill(0, base, base + SIZE);
  vmampDeviceInit(mem, base, SIZE);
  layout = vmampDriverInit(mem.buffer, base, SIZE)!;
  dev = new VmampBringUp(mem.buffer, layout, VMAMP_ROLE_DEVICE);
  drv = new VmampBringUp(mem.buffer, layout, VMAMP_ROLE_DRIVER);
});

describe('handshake', () => {
  test('each side: INIT and magic, then READY once the peer has a magic, then RUN once the peer is READY', () => {
    setQh(VMAMP_DEV_QH_AT, VMAMP_QH_TAIL, 7); // stale indices from an earlier life
    setQh(VMAMP_DEV_QH_AT, VMAMP_QH_HEAD, 9);
    expect(dev.step()).toBe('waiting'); // driver queue head has no magic yet
    expect(qh(VMAMP_DEV_QH_AT, VMAMP_QH_MAGIC)).toBe(VMAMP_QH_MAGIC_VALUE);
    expect(dev.myState).toBe(VMAMP_STATE_INIT);
    expect(drv.peerState).toBe(VMAMP_STATE_INIT);

    expect(drv.step()).toBe('waiting'); // device is only INIT
    expect(drv.myState).toBe(VMAMP_STATE_READY);

    expect(dev.step()).toBe('running'); // zeroed its indices, READY, saw the driver READY -> RUN
    expect(qh(VMAMP_DEV_QH_AT, VMAMP_QH_TAIL)).toBe(0);
    expect(qh(VMAMP_DEV_QH_AT, VMAMP_QH_HEAD)).toBe(0);
    expect(dev.myState).toBe(VMAMP_STATE_RUN);

    expect(drv.step()).toBe('running');
    expect(drv.myState).toBe(VMAMP_STATE_RUN);
    expect(dev.step()).toBe('running');
  });

  test('frames flow both ways after bring-up, with cursors made once running', () => {
    bothRunning();
    const toDevice = vmampProducer(mem, layout, VMAMP_ROLE_DRIVER);
    const atDevice = vmampConsumer(mem, layout, VMAMP_ROLE_DEVICE);
    const toDriver = vmampProducer(mem, layout, VMAMP_ROLE_DEVICE);
    const atDriver = vmampConsumer(mem, layout, VMAMP_ROLE_DRIVER);
    for (let i = 0; i < 100; i++) {
      expect(toDevice.tryPush(frameFor(i, 64))).toBe(true);
      expect(atDevice.tryPop()).toEqual(frameFor(i, 64));
      expect(toDriver.tryPush(frameFor(1000 + i, 64))).toBe(true);
      expect(atDriver.tryPop()).toEqual(frameFor(1000 + i, 64));
    }
    // Producer indices are the tails, consumer indices the heads (100 mod 31 = 7).
    expect(qh(VMAMP_DRV_QH_AT, VMAMP_QH_TAIL)).toBe(100 % layout.numQueueElements);
    expect(qh(VMAMP_DEV_QH_AT, VMAMP_QH_HEAD)).toBe(100 % layout.numQueueElements);
  });

  test('status flags (DEBUGGABLE) are kept in bits 12..15 next to the state', () => {
    const d = new VmampBringUp(mem.buffer, layout, VMAMP_ROLE_DEVICE, { debuggable: true });
    d.step();
    expect(qh(VMAMP_DEV_QH_AT, VMAMP_QH_STATUS)).toBe(VMAMP_FLAG_DEBUGGABLE | VMAMP_STATE_INIT);
    expect(d.myState).toBe(VMAMP_STATE_INIT);
  });
});

describe('the peer restarting or stopping', () => {
  test('peer RUN -> INIT (silent restart) sends me to SHUTDOWN', () => {
    bothRunning();
    setQh(VMAMP_DEV_QH_AT, VMAMP_QH_STATUS, VMAMP_STATE_INIT);
    expect(drv.step()).toBe('shutdown');
    expect(drv.myState).toBe(VMAMP_STATE_SHUTDOWN);
    expect(drv.step()).toBe('shutdown'); // sticky until restart()
  });

  test('peer queue head wiped (magic gone) while running sends me to SHUTDOWN', () => {
    bothRunning();
    setQh(VMAMP_DEV_QH_AT, VMAMP_QH_MAGIC, 0);
    expect(drv.step()).toBe('shutdown');
  });

  test('peer back at READY after it had been RUN (restart seen late) sends me to SHUTDOWN', () => {
    bothRunning();
    expect(drv.step()).toBe('running'); // driver has now seen the device RUN
    setQh(VMAMP_DEV_QH_AT, VMAMP_QH_STATUS, VMAMP_STATE_READY);
    expect(drv.step()).toBe('shutdown');
  });

  test('peer SHUTDOWN while running is followed; both restart and come back up in either order', () => {
    bothRunning();
    dev.shutdown();
    expect(drv.step()).toBe('shutdown');
    drv.restart();
    expect(drv.step()).toBe('waiting'); // device still SHUTDOWN: wait for it instead of bouncing back
    expect(drv.myState).toBe(VMAMP_STATE_READY);
    dev.restart();
    expect(dev.step()).toBe('running');
    expect(drv.step()).toBe('running');
  });

  test('PEER_DEAD: stays until the peer is READY again, then brings the queues up again', () => {
    bothRunning();
    const toDevice = vmampProducer(mem, layout, VMAMP_ROLE_DRIVER);
    expect(toDevice.tryPush(frameFor(1, 64))).toBe(true);
    drv.markPeerDead();
    expect(drv.step()).toBe('peer-dead');
    expect(drv.myState).toBe(VMAMP_STATE_PEER_DEAD);
    expect(dev.step()).toBe('shutdown'); // the device sees the driver give up on it
    expect(drv.step()).toBe('peer-dead');
    dev.restart();
    expect(dev.step()).toBe('waiting');
    expect(dev.myState).toBe(VMAMP_STATE_READY);
    expect(drv.step()).toBe('running');
    expect(qh(VMAMP_DRV_QH_AT, VMAMP_QH_TAIL)).toBe(0); // indices zeroed on the way back up
    expect(dev.step()).toBe('running');
    expect(dev.myState).toBe(VMAMP_STATE_RUN);
  });

  test('a peer already SHUTDOWN or PEER_DEAD does not stop my bring-up: I get READY and wait', () => {
    setQh(VMAMP_DRV_QH_AT, VMAMP_QH_MAGIC, VMAMP_QH_MAGIC_VALUE);
    setQh(VMAMP_DRV_QH_AT, VMAMP_QH_STATUS, VMAMP_STATE_SHUTDOWN);
    expect(dev.step()).toBe('waiting');
    expect(dev.myState).toBe(VMAMP_STATE_READY);
    setQh(VMAMP_DRV_QH_AT, VMAMP_QH_STATUS, VMAMP_STATE_PEER_DEAD);
    expect(dev.step()).toBe('waiting');
    setQh(VMAMP_DRV_QH_AT, VMAMP_QH_STATUS, VMAMP_STATE_READY);
    expect(dev.step()).toBe('running');
  });
});
