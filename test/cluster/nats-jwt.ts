// NATS decentralized auth for tests, without the nsc tool: an operator, an account with
// JetStream enabled and users, as signed JWTs (header.claims.signature, Ed25519 by the issuer's
// NKEY, base64url), a nats-server configuration that trusts the operator and preloads the
// accounts (resolver MEMORY), and user .creds files in the format nsc writes.
import { createHash, randomBytes } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createOperator>;

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

function base32(b: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** A JWT of `type` for `subject`, issued (signed) by `issuer`. */
function sign(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { jti: '', iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  // The id is a hash of the claims, as the Go library makes it (the server does not check it).
  claims.jti = base32(createHash('sha256').update(JSON.stringify(claims)).update(randomBytes(8)).digest());
  const head = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${b64url(issuer.sign(new TextEncoder().encode(head)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export interface NatsPermissionLists {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

export class NatsOperator {
  private readonly operator = nkeys.createOperator();
  private readonly system = nkeys.createAccount();
  private readonly account = nkeys.createAccount();

  /** nats-server configuration: trust this operator, its system account and one JetStream-enabled account. */
  serverConfig(): string {
    const op = sign(this.operator, this.operator.getPublicKey(), 'test-operator', { type: 'operator', system_account: this.system.getPublicKey() });
    const sys = sign(this.operator, this.system.getPublicKey(), 'SYS', { type: 'account', limits: UNLIMITED });
    const acc = sign(this.operator, this.account.getPublicKey(), 'vmsg', {
      type: 'account',
      limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
    });
    return `operator: ${op}\nsystem_account: ${this.system.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n  ${this.system.getPublicKey()}: ${sys}\n  ${this.account.getPublicKey()}: ${acc}\n}\n`;
  }

  /** A user of the account (with `permissions`, or allowed everything), as the text of a .creds file. */
  userCreds(name: string, permissions?: NatsPermissionLists): string {
    const user = nkeys.createUser();
    const nats: Record<string, unknown> = { type: 'user', subs: -1, data: -1, payload: -1 };
    if (permissions !== undefined) {
      nats.pub = { allow: permissions.publish.allow };
      nats.sub = { allow: permissions.subscribe.allow };
    }
    const jwt = sign(this.account, user.getPublicKey(), name, nats);
    const seed = new TextDecoder().decode(user.getSeed());
    return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
  }
}
