import { describe, it, expect } from 'vitest';
import { parseLinkUri, checkParams, LinkUriError } from '../../src/bus/uri.js';

describe('link URIs (CLI contract)', () => {
  it('vmamp with size, role and doorbell socket', () => {
    const u = parseLinkUri('vmamp:/dev/shm/w0?size=8192&role=device&sock=/tmp/w0.sock');
    expect(u).toMatchObject({ scheme: 'vmamp', path: '/dev/shm/w0', size: 8192, role: 'device', sock: '/tmp/w0.sock' });
  });
  it('spsc without options busy-polls', () => {
    expect(parseLinkUri('spsc:/dev/shm/s')).toMatchObject({ scheme: 'spsc', path: '/dev/shm/s', size: undefined, role: undefined, sock: undefined });
  });
  it('stream forms', () => {
    expect(parseLinkUri('unix:/tmp/a.sock')).toMatchObject({ scheme: 'unix', path: '/tmp/a.sock' });
    expect(parseLinkUri('unix-listen:/tmp/a.sock')).toMatchObject({ scheme: 'unix-listen', path: '/tmp/a.sock' });
    expect(parseLinkUri('tcp:127.0.0.1:7000')).toMatchObject({ scheme: 'tcp', host: '127.0.0.1', port: 7000 });
    expect(parseLinkUri('tcp:[::1]:7000')).toMatchObject({ scheme: 'tcp', host: '::1', port: 7000 });
    expect(parseLinkUri('tcp-listen:7000')).toMatchObject({ scheme: 'tcp-listen', host: undefined, port: 7000 });
    expect(parseLinkUri('tcp-listen:127.0.0.1:0')).toMatchObject({ scheme: 'tcp-listen', host: '127.0.0.1', port: 0 });
    expect(parseLinkUri('tcp:h:1?tls=1').params.get('tls')).toBe('1');
  });
  it.each([
    ['', /empty/], ['nothing', /no scheme/], ['ftp:x', /unknown scheme "ftp"/], ['vmamp:', /path is missing/],
    ['vmamp:/w?size=big', /size must be a byte count/], ['vmamp:/w?role=host', /role must be device or driver/],
    ['vmamp:/w?sock=', /sock= needs/], ['vmamp:/w?size=1&size=2', /given twice/], ['vmamp:/w?flag', /not key=value/],
    ['tcp:7000', /HOST:PORT/], ['tcp:h:99999', /port must be/], ['tcp-listen:x', /port must be/], ['unix:', /path is missing/],
  ])('%s is refused with a reason', (text, why) => {
    expect(() => parseLinkUri(text)).toThrow(LinkUriError);
    expect(() => parseLinkUri(text)).toThrow(why);
  });
  it('unknown parameters are refused by the bus that reads them', () => {
    const u = parseLinkUri('vmamp:/w?size=8192&szie=1');
    expect(() => checkParams(u, ['size', 'role', 'sock'])).toThrow(/unknown parameter "szie" for vmamp/);
  });
});
