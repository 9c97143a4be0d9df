// The NATS permissions that confine a cluster node to its own directory entries (README
// "Cluster", "Security"): publish only to its own keys `$KV.<bucket>.<node>.>` plus the
// JetStream API calls the directory makes on the bucket's stream (stream info, ordered
// consumers for the watch and key listing, their flow control), and subscribe only to inboxes.
// Deleting or purging messages of the stream, or creating and removing streams, stays with an
// administrator (who creates the bucket once). A node trying to write another node's key is
// refused by the server.

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

export function natsPermissionsFor(node: string, bucket: string): NatsPermissions {
  const stream = `KV_${bucket}`;
  return {
    publish: {
      allow: [
        `$KV.${bucket}.${node}.>`,
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${stream}`,
        `$JS.API.CONSUMER.CREATE.${stream}`,
        `$JS.API.CONSUMER.CREATE.${stream}.>`,
        `$JS.API.CONSUMER.INFO.${stream}.>`,
        `$JS.API.CONSUMER.DELETE.${stream}.>`,
        `$JS.FC.${stream}.>`,
      ],
    },
    subscribe: { allow: ['_INBOX.>'] },
  };
}

/** The same as a nats-server configuration fragment (one user's `permissions` value). */
export function natsPermissionsConfig(node: string, bucket: string): string {
  const p = natsPermissionsFor(node, bucket);
  const list = (xs: string[]): string => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
  return `{ publish: { allow: ${list(p.publish.allow)} }, subscribe: { allow: ${list(p.subscribe.allow)} } }`;
}
