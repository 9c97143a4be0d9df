// Safe network defaults: a listener binds the loopback address unless a host is named; one that
// other hosts can reach must authenticate its peers (TLS client certificates) or be opened with
// an explicit insecure=1, which vmsg route prints as a warning at start-up; the metrics endpoint
// binds loopback by default. Checked on real sockets, through this host's own non-loopback
// address where it has one (reaching a socket through it is what another host would do).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Router } from '../../src/router/router.js';
import { openStreamLink, openStreamChannel } from '../../src/bus/stream.js';
import { checkLinkUri } from '../../src/bus/open.js';
import { LinkUriError } from '../../src/bus/uri.js';
import { startMetricsServer } from '../../src/ops/metrics.js';
import { haveOpenssl, makeTestCerts, type TestCerts } from './tls-certs.js';
import { vmsg } from '../cli/run-vmsg.js';

/** An IPv4 address of this host that is not loopback: what another host would connect to. */
const outside = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

/** Whether a TCP connection to host:port is accepted. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let router: Router;
beforeAll(async () => {
  router = await Router.create({ shards: 1, spinBeforeSleep: 0 });
});
afterAll(async () => {
  await router?.close();
});

describe('tcp-listen binds this host only unless a host is named', () => {
  it('tcp-listen:PORT listens on 127.0.0.1', async () => {
    const link = await openStreamLink(router, 'tcp-listen:0', 'driver');
    try {
      const { address, port } = link.address as { address: string; port: number };
      expect(address).toBe('127.0.0.1');
      expect(await reachable('127.0.0.1', port)).toBe(true);
      if (outside !== undefined) expect(await reachable(outside, port)).toBe(false);
    } finally {
      await link.close();
    }
  });
});

describe('a listener other hosts can reach needs client certificates or insecure=1', () => {
  it.each(['tcp-listen:0.0.0.0:0', 'tcp-listen:[::]:0', 'tcp-listen:192.0.2.10:7000'])('%s without either is refused before listening', async (uri) => {
    expect(() => checkLinkUri(uri, 'driver')).toThrow(LinkUriError);
    expect(() => checkLinkUri(uri, 'driver')).toThrow(/lets other hosts connect without authentication; require client certificates \(tls=1&cert=PEM&key=PEM&ca=PEM\), listen on 127\.0\.0\.1, or accept any peer with insecure=1/);
    await expect(openStreamLink(router, uri, 'driver')).rejects.toThrow(/without authentication/);
  });

  it('loopback listeners need neither', () => {
    for (const uri of ['tcp-listen:127.0.0.1:0', 'tcp-listen:127.0.0.2:0', 'tcp-listen:[::1]:0', 'tcp-listen:localhost:0']) expect(checkLinkUri(uri, 'driver'), uri).toEqual([]);
  });

  it('insecure=1 opens it to every host, with a warning to print at start-up', async () => {
    expect(checkLinkUri('tcp-listen:0.0.0.0:0?insecure=1', 'driver')).toEqual(['warning: tcp-listen:0.0.0.0:0?insecure=1 accepts any peer that reaches 0.0.0.0:0, unauthenticated (insecure=1)']);
    const link = await openStreamLink(router, 'tcp-listen:0.0.0.0:0?insecure=1', 'driver');
    try {
      const { address, port } = link.address as { address: string; port: number };
      expect(address).toBe('0.0.0.0');
      if (outside !== undefined) expect(await reachable(outside, port)).toBe(true);
    } finally {
      await link.close();
    }
  });

  it('insecure= belongs to tcp-listen only, and takes 0 or 1', () => {
    expect(() => checkLinkUri('tcp:127.0.0.1:7000?insecure=1', 'device')).toThrow(/insecure= is for tcp-listen: links/);
    expect(() => checkLinkUri('tcp-listen:0.0.0.0:0?insecure=yes', 'driver')).toThrow(/insecure= must be 0 or 1, got "yes"/);
  });

  it('vmsg route prints the warning at start-up and runs', async () => {
    const r = await vmsg('route', '--driver-link', 'tcp-listen:0.0.0.0:0?insecure=1', '--device', 'echo:1', '--shards', '1', '--duration', '0.3');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe('vmsg route: warning: tcp-listen:0.0.0.0:0?insecure=1 accepts any peer that reaches 0.0.0.0:0, unauthenticated (insecure=1)');
  });
});

describe.skipIf(!haveOpenssl)('an exposed listener with client certificates (throwaway CA from the openssl CLI)', () => {
  let certs: TestCerts;
  beforeAll(() => {
    certs = makeTestCerts();
  });
  afterAll(() => certs?.remove());

  it('needs no insecure=1, and refuses a peer without a certificate from its CA', async () => {
    const p = (f: string): string => certs.path(f);
    const uri = `tcp-listen:0.0.0.0:0?tls=1&cert=${p('server.pem')}&key=${p('server.key')}&ca=${p('ca.pem')}`;
    expect(checkLinkUri(uri, 'driver')).toEqual([]);
    const link = await openStreamLink(router, uri, 'driver');
    const refused: Error[] = [];
    link.on('refused', (e: Error) => refused.push(e));
    try {
      const port = (link.address as { port: number }).port;
      // TLS without a client certificate: the server ends the handshake.
      await expect(openStreamChannel(`tcp:127.0.0.1:${port}?tls=1&ca=${p('ca.pem')}`)).rejects.toThrow(/certificate required|handshake/);
      await expect.poll(() => refused.length).toBeGreaterThanOrEqual(1);
      expect(router.stats().endpoints.filter((e) => e.kind === 'driver' && !e.detached)).toHaveLength(0); // nobody got in
      // Plain TCP is not a TLS handshake either: refused the same way.
      await expect(openStreamChannel(`tcp:127.0.0.1:${port}`)).rejects.toThrow();
      // With its certificate it gets through.
      const ok = await openStreamChannel(`tcp:127.0.0.1:${port}?tls=1&ca=${p('ca.pem')}&cert=${p('client.pem')}&key=${p('client.key')}`);
      await ok.close();
    } finally {
      await link.close();
    }
  });
});

describe('the metrics endpoint binds loopback by default', () => {
  it('startMetricsServer(router, 0) serves 127.0.0.1 only; a host given is used', async () => {
    const m = await startMetricsServer(router, 0, { defaultMetrics: false });
    try {
      expect(m.url).toBe(`http://127.0.0.1:${m.port}/metrics`);
      expect((await fetch(m.url)).status).toBe(200);
      if (outside !== undefined) expect(await reachable(outside, m.port)).toBe(false);
    } finally {
      await m.close();
    }
    if (outside === undefined) return;
    const open = await startMetricsServer(router, 0, { host: outside, defaultMetrics: false });
    try {
      expect(open.url).toBe(`http://${outside}:${open.port}/metrics`);
      expect((await fetch(open.url)).status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('vmsg route --metrics HOST:PORT binds the host named', async () => {
    const host = outside ?? '127.0.0.1';
    const r = await vmsg('route', '--metrics', `${host}:0`, '--device', 'echo:1', '--shards', '1', '--duration', '0.3');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`metrics at http://${host.replace(/\./g, '\\.')}:\\d+/metrics`));
    const bad = await vmsg('route', '--metrics', 'nine', '--device', 'echo:1');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--metrics needs PORT \(0\.\.65535\) or HOST:PORT, got "nine"/);
  });
});
