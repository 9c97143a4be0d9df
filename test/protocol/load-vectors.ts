// The wire vectors (test/fixtures/wire-vectors.json: bytes, expected decodes, reason codes) and
// how each one's `context` becomes a ValidateContext.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Profile, ValidateContext } from '../../src/protocol/index.js';

export interface VectorContext {
  bus_max_size?: number;
  direction?: 'driver_to_device' | 'device_to_driver';
  known_devices?: number[];
  config_size?: number;
  notification_data?: boolean;
  ping_sent?: number;
  getdev_alt?: boolean;
}

export interface Vector {
  name: string;
  description: string;
  profile: Profile;
  context: VectorContext;
  hex: string;
  decoded: Record<string, unknown>;
  valid: boolean;
  code: string;
  detected_by: 'router' | 'endpoint' | null;
}

export const VECTORS_PATH = fileURLToPath(new URL('../fixtures/wire-vectors.json', import.meta.url));

let loaded: Vector[] | undefined;

export function loadVectors(): Vector[] {
  if (loaded !== undefined) return loaded;
  loaded = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: Vector[] }).vectors;
  return loaded;
}

export const bytesOf = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The validation context a vector states (bus max defaults to 264, everything else unchecked). */
export function contextOf(v: Vector): ValidateContext {
  const c = v.context;
  return {
    profile: v.profile,
    busMaxSize: c.bus_max_size,
    direction: c.direction,
    knownDevices: c.known_devices === undefined ? undefined : new Set(c.known_devices),
    configSize: c.config_size,
    notificationData: c.notification_data,
    pingSent: c.ping_sent,
    getdevAlt: c.getdev_alt,
  };
}

/** "router-level (bus max 264, driver_to_device)" / "endpoint-level (config_size 60)" — for test names. */
export function contextLabel(v: Vector): string {
  const c = v.context;
  const router = [
    `bus max ${c.bus_max_size ?? 264}`,
    c.direction,
    c.known_devices && `known devices ${c.known_devices.join(',')}`,
    c.getdev_alt && 'GET_DEVICES alt order',
  ].filter(Boolean);
  const endpoint = [
    c.config_size !== undefined && `config_size ${c.config_size}`,
    c.notification_data !== undefined && `NOTIFICATION_DATA ${c.notification_data ? 'on' : 'off'}`,
    c.ping_sent !== undefined && `ping sent 0x${c.ping_sent.toString(16)}`,
  ].filter(Boolean);
  return `router-level (${router.join(', ')})${endpoint.length > 0 ? `, endpoint-level (${endpoint.join(', ')})` : ''}, ${v.profile}`;
}

/** "VIRTIO_MSG_GET_CONFIG (response)" → { message: "GET_CONFIG", response: true }. */
export function specName(vectorMessage: string): { message: string; response: boolean } {
  const m = /^(?:VIRTIO_MSG_|BUS_MSG_)(\w+)( \(response\))?$/.exec(vectorMessage);
  if (m === null) throw new Error(`unexpected message name in wire-vectors.json: ${vectorMessage}`);
  return { message: m[1]!, response: m[2] !== undefined };
}
