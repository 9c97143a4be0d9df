// The one numbered table of reasons a frame is invalid or dropped (docs/PROTOCOL.md §7 bus rules, §8
// endpoint rules). The router's WASM drop counters index by these numbers
// (assembly/router/layout.ts R_*, counter EC_DROP_BASE + reason), so never renumber.

/** Where a reason is normally detected: the router (header, routing, bus messages) or the
 * device/driver library (transport payloads, which a router forwards opaquely). */
export type Layer = 'router' | 'endpoint';

interface ReasonRow {
  readonly code: number;
  readonly layer: Layer;
  readonly description: string;
}

const TABLE = {
  OK: { code: 0, layer: 'router', description: 'valid frame' },
  // header (§3, §7 rule 5)
  HDR_TRUNCATED: { code: 1, layer: 'router', description: 'fewer than 8 bytes: no complete header' },
  MSG_SIZE_LT_HEADER: { code: 2, layer: 'router', description: 'msg_size is smaller than the 8-byte header' },
  MSG_SIZE_GT_BUFFER: { code: 3, layer: 'router', description: 'msg_size is larger than the bytes received' },
  MSG_SIZE_GT_BUS_MAX: { code: 4, layer: 'router', description: 'msg_size is above the bus maximum' },
  RESERVED_TYPE_BITS: { code: 5, layer: 'router', description: 'type bits 2-7 set (only rejected in strict mode; the spec says ignore)' },
  // ids (§4, §7 rules 19, 29)
  UNSUPPORTED_MSG_ID: { code: 6, layer: 'router', description: 'reserved or unknown standard msg_id' },
  RESPONSE_TO_EVENT: { code: 7, layer: 'router', description: 'response-typed message with an event msg_id (bit 6)' },
  WRONG_DIRECTION: { code: 8, layer: 'router', description: 'message travelling the wrong way (e.g. EVENT_AVAIL from a device)' },
  BUS_DEV_NUM_NONZERO: { code: 9, layer: 'router', description: 'bus message with dev_num other than 0' },
  UNVALIDATED_DEV_NUM: { code: 10, layer: 'router', description: 'transport message for a device number never validated' },
  // bus messages (§6, §7 rules 27-28)
  GET_DEVICES_ALIGNMENT: { code: 11, layer: 'router', description: 'GET_DEVICES offset or count not a multiple of 8' },
  GET_DEVICES_NEXT_OFFSET: { code: 12, layer: 'router', description: 'GET_DEVICES next_offset neither 0 nor an aligned value >= offset+count' },
  GET_DEVICES_BITMAP_LENGTH: { code: 13, layer: 'router', description: 'GET_DEVICES response bitmap is not count/8 bytes' },
  PING_ECHO_MISMATCH: { code: 14, layer: 'router', description: 'PING response data differs from the request' },
  // payloads (§5, §8)
  PAYLOAD_TRUNCATED: { code: 15, layer: 'endpoint', description: 'payload shorter than the fixed part of the message' },
  PAYLOAD_LENGTH_MISMATCH: { code: 16, layer: 'endpoint', description: 'msg_size disagrees with a count or length field of the payload' },
  FEATURE_BITS_NOT_MULT_32: { code: 17, layer: 'endpoint', description: 'GET_DEVICE_INFO num_feature_bits not a multiple of 32' },
  CONFIG_RANGE: { code: 18, layer: 'endpoint', description: 'config offset+length beyond config_size' },
  NOTIF_DATA_NOT_NEGOTIATED: { code: 19, layer: 'endpoint', description: 'EVENT_AVAIL next_offset non-zero without VIRTIO_F_NOTIFICATION_DATA' },
  VQ_CUR_GT_MAX: { code: 20, layer: 'endpoint', description: 'GET_VQUEUE cur_size greater than max_size' },
  REQUEST_RESPONSE_MISMATCH: { code: 21, layer: 'endpoint', description: 'response msg_id, dev_num or kind does not match the request it answers' },
  // router only: a frame on its way to a link (counted on the destination endpoint)
  MSG_SIZE_GT_LINK_MAX: { code: 22, layer: 'router', description: "frame larger than its destination link's maximum (a response becomes a transport failure)" },
  // router only: a frame held on its way from a link that detached meanwhile (counted on that source)
  SOURCE_GONE: { code: 23, layer: 'router', description: 'its driver detached while the frame waited to be forwarded (parked or between shards): never sent' },
  // router only: a frame from a driver that left a park limit of frames undrained for a whole timeout (counted on that source)
  DRIVER_STALLED: { code: 24, layer: 'router', description: 'its driver has not drained its ring for a timeout: a request fails in its place, other frames are dropped' },
  // legacy v0 bridges (src/bus/legacy): a request's one outcome when the legacy device cannot give it
  LEGACY_UNSUPPORTED: { code: 25, layer: 'endpoint', description: 'the legacy v0 device has no counterpart for the request or would crash on it (unknown id, queue index beyond its queues, ring outside the shared memory): never sent to it' },
  LEGACY_NO_REPLY: { code: 26, layer: 'endpoint', description: 'the legacy v0 device took the request but sent no reply within the link\'s reply deadline' },
  // bus models (src/bus/model): the modelled bus refused a request its device never got
  BUS_QUEUE_FULL: { code: 27, layer: 'endpoint', description: "the modelled bus's queue toward the device stayed full and its sender gave up as the model says (EBUSY, EIO, ENOSPC): never delivered" },
  // router only: correlation, routing and delivery (assembly/router)
  UNMATCHED_RESPONSE: { code: 32, layer: 'router', description: 'response token matches no outstanding request' },
  LATE_RESPONSE: { code: 33, layer: 'router', description: 'response to a request the router already closed without an answer (timeout, detach, removal)' },
  RESPONSE_ID_MISMATCH: { code: 34, layer: 'router', description: 'response msg_id differs from its request' },
  SPOOFED_DEV_NUM: { code: 35, layer: 'router', description: 'device endpoint sent a frame for a device number it does not own' },
  NO_BOUND_DRIVER: { code: 36, layer: 'router', description: 'device event with no driver bound to the device yet' },
  UNSUPPORTED_BUS_MSG: { code: 37, layer: 'router', description: 'bus message the router neither terminates nor hands to a control plane' },
  DEVICE_REMOVED: { code: 38, layer: 'router', description: 'device was removed while the request was outstanding' },
  POLICY_DENIED: { code: 39, layer: 'router', description: "device not on the driver's allow-list" },
  TIMEOUT: { code: 40, layer: 'router', description: 'no response before the request deadline' },
  RING_CORRUPT: { code: 41, layer: 'router', description: 'ring indices or slot contents are inconsistent' },
  ENDPOINT_GONE: { code: 42, layer: 'router', description: 'destination endpoint detached' },
  DUPLICATE_RESPONSE: { code: 43, layer: 'router', description: 'another response to a request already answered' },
  SHARD_RESTARTED: { code: 44, layer: 'router', description: 'shard worker restarted with the request in flight' },
  DEVICE_BUSY: { code: 45, layer: 'router', description: "device's park queue full" },
  ENDPOINT_STALLED: { code: 46, layer: 'router', description: 'endpoint stopped draining its ring and its park queue is full' },
  ROUTER_CLOSED: { code: 47, layer: 'router', description: 'router closed before the request was answered' },
} as const satisfies Record<string, ReasonRow>;

export type ReasonName = keyof typeof TABLE;
export type ReasonCode = (typeof TABLE)[ReasonName]['code'];

/** Size of the per-endpoint drop counter arrays (EC_COUNTERS - EC_DROP_BASE in the router). */
export const REASON_COUNT = 48;

/** Reason numbers by name: `Reason.MSG_SIZE_GT_BUS_MAX === 4`. */
export const Reason = Object.freeze(
  Object.fromEntries(Object.entries(TABLE).map(([name, row]) => [name, row.code])),
) as { readonly [K in ReasonName]: (typeof TABLE)[K]['code'] };

const byCode = new Map<number, ReasonName>(
  (Object.entries(TABLE) as [ReasonName, ReasonRow][]).map(([name, row]) => [row.code, name]),
);

/** Name of reason `n`, or `REASON_<n>` for a number outside the table. */
export function reasonName(n: number): string {
  return byCode.get(n) ?? `REASON_${n}`;
}

/** The reason number of `name`, or undefined. */
export function reasonCode(name: string): ReasonCode | undefined {
  return Object.hasOwn(TABLE, name) ? TABLE[name as ReasonName].code : undefined;
}

/** One-sentence description of reason `n`. */
export function reasonDescription(n: number): string {
  const name = byCode.get(n);
  return name === undefined ? 'unknown reason' : TABLE[name].description;
}

/** Where reason `n` is normally detected. The validator reports the layer per finding, since a
 * payload check on a bus message (e.g. a truncated PING) is the router's job. */
export function reasonLayer(n: number): Layer | undefined {
  const name = byCode.get(n);
  return name === undefined ? undefined : TABLE[name].layer;
}

/** Every reason, in number order. */
export const REASONS: readonly { name: ReasonName; code: number; layer: Layer; description: string }[] = (
  Object.entries(TABLE) as [ReasonName, ReasonRow][]
)
  .map(([name, row]) => ({ name, ...row }))
  .sort((a, b) => a.code - b.code);
