// Traffic profiles of the load engine (`vmsg bench`): what each device is asked, in which
// order. A profile is a name plus its parameters; `mixed` takes message weights from a profile
// file (src/loadgen/profile-file.ts). The wire side of each message is in ./requests.ts.

/** Messages the load engine can send (docs/PROTOCOL.md §5 transport, §6 bus). */
export const OP_NAMES = [
  'GET_DEVICE_INFO', 'GET_DEVICE_FEATURES', 'SET_DRIVER_FEATURES', 'GET_CONFIG', 'SET_CONFIG',
  'GET_DEVICE_STATUS', 'SET_DEVICE_STATUS', 'GET_VQUEUE', 'SET_VQUEUE', 'GET_SHM',
  'EVENT_AVAIL', 'PING', 'GET_DEVICES',
] as const;
export type OpName = (typeof OP_NAMES)[number];

/**
 * Messages a mix may weigh. State-changing ones (SET_DEVICE_STATUS, SET_DRIVER_FEATURES,
 * SET_VQUEUE) are left out: sent at random they would break a real device's status machine
 * (docs/PROTOCOL.md §8 driver rule 7); the init profiles send them in their proper order.
 */
export const MIX_OPS = [
  'GET_DEVICE_INFO', 'GET_DEVICE_FEATURES', 'GET_CONFIG', 'SET_CONFIG', 'GET_DEVICE_STATUS',
  'GET_VQUEUE', 'GET_SHM', 'EVENT_AVAIL', 'PING', 'GET_DEVICES',
] as const satisfies readonly OpName[];
export type MixOp = (typeof MIX_OPS)[number];

export const PROFILE_NAMES = ['init-storm', 'notify-flood', 'config-rw', 'mixed', 'init', 'ping', 'avail'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export const PROFILE_HELP: Readonly<Record<ProfileName, string>> = {
  'init-storm': 'every device runs the virtio initialisation sequence at once, step by step (reset, GET_DEVICE_INFO, status steps, features, GET/SET_VQUEUE, DRIVER_OK), again and again',
  'notify-flood': 'EVENT_AVAIL as fast as the bus takes them; each completes when its EVENT_USED arrives',
  'config-rw': 'GET_CONFIG / SET_CONFIG in turn with the latest generation; counts generation changes and rejected writes',
  mixed: 'messages picked by weight from a profile file ("mix")',
  init: 'the initialisation sequence, pipelined up to --outstanding per device (vmsg bench --mode init)',
  ping: 'bus PINGs; every echo is checked (vmsg bench --mode ping)',
  avail: 'EVENT_AVAIL counted against EVENT_USED (vmsg bench --mode avail; same as notify-flood)',
};

export interface ProfileSpec {
  name: ProfileName;
  /** mixed: weight per message (positive integers; at least one). */
  mix?: Partial<Record<MixOp, number>>;
  /** GET/SET_CONFIG window. Default offset 0, length 4 (clamped to the device's config_size when known). */
  configOffset?: number;
  configLength?: number;
  /**
   * Virtqueue indices EVENT_AVAIL cycles through. Default: as many as outstanding
   * notifications per device, so each queue has at most one in flight (one EVENT_USED each).
   */
  queues?: number;
  /** Virtqueues the init sequence sets up. Default 1. */
  initQueues?: number;
}

/** True when the profile talks to devices (every profile except ping, which talks to the bus). */
export function usesDevices(p: ProfileSpec): boolean {
  if (p.name === 'ping') return false;
  if (p.name === 'mixed') return Object.keys(p.mix ?? {}).some((op) => op !== 'PING' && op !== 'GET_DEVICES');
  return true;
}
