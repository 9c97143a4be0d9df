// The entries of the cluster directory (docs/ARCHITECTURE.md "Cluster directory"): keys and
// JSON values, and the checks a reader applies. Every key starts with the writing node's name,
// so NATS publish permissions on `$KV.<bucket>.<node>.>` confine a node to its own entries; a
// value naming another node than its key is ignored.
//
//   <node>.alive        {"node","addr","beat"}                   rewritten every second
//   <node>.dev.<n>      {"node","dev","device_id","vendor_id","addr"}  one per device the node serves

export interface DeviceEntry {
  node: string;
  /** The device's number on its own router. */
  dev: number;
  /** virtio device id and vendor id from GET_DEVICE_INFO; null when the device did not answer it. */
  device_id: number | null;
  vendor_id: number | null;
  /** Where the node serves its devices (the advertised address). */
  addr: string;
}

export interface AliveEntry {
  node: string;
  /** The advertised address; null for a node that only imports. */
  addr: string | null;
  /** Heartbeat counter since the node started. */
  beat: number;
}

export type ParsedKey = { node: string; kind: 'alive' } | { node: string; kind: 'dev'; dev: number };

export const aliveKey = (node: string): string => `${node}.alive`;
export const deviceKey = (node: string, dev: number): string => `${node}.dev.${dev}`;
/** Every key a node may write (a KV key filter, and the NATS permission's subject tail). */
export const nodeKeys = (node: string): string => `${node}.>`;

/** The node and meaning of a key, or null for a key that is not ours. */
export function parseKey(key: string): ParsedKey | null {
  const parts = key.split('.');
  if (parts.length === 2 && parts[1] === 'alive') return { node: parts[0]!, kind: 'alive' };
  if (parts.length === 3 && parts[1] === 'dev' && /^\d{1,5}$/.test(parts[2]!)) {
    const dev = Number(parts[2]);
    if (dev <= 65535) return { node: parts[0]!, kind: 'dev', dev };
  }
  return null;
}

const isId = (v: unknown): v is number | null => v === null || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff);

/** A device entry read under `key` (parsed), or a string saying why it is ignored. */
export function readDeviceEntry(key: { node: string; dev: number }, value: Uint8Array): DeviceEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'not an object';
  const e = v as Record<string, unknown>;
  if (e.node !== key.node) return `names node ${JSON.stringify(e.node)} under ${key.node}'s key`;
  if (e.dev !== key.dev) return `names device ${JSON.stringify(e.dev)} under key ${key.dev}`;
  if (!isId(e.device_id) || !isId(e.vendor_id)) return 'bad device_id or vendor_id';
  if (typeof e.addr !== 'string' || !/^(tcp|tls):/.test(e.addr)) return 'bad addr';
  return { node: key.node, dev: key.dev, device_id: e.device_id, vendor_id: e.vendor_id, addr: e.addr };
}

/** A liveness entry read under `node`'s key, or a string saying why it is ignored. */
export function readAliveEntry(node: string, value: Uint8Array): AliveEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'not an object';
  const e = v as Record<string, unknown>;
  if (e.node !== node) return `names node ${JSON.stringify(e.node)} under ${node}'s key`;
  if (e.addr !== null && (typeof e.addr !== 'string' || !/^(tcp|tls):/.test(e.addr))) return 'bad addr';
  if (!Number.isSafeInteger(e.beat)) return 'bad beat';
  return { node, addr: e.addr, beat: e.beat as number };
}
