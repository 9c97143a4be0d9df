// Reading /proc/net/unix: each name is everything after the seventh field, exactly as bind()
// got it (spaces kept, relative if bound relatively); only listening sockets count. The table
// lines below are in the kernel's format; the real table is exercised by
// test/cli/route-doorbell-owner.test.ts with real routers.
import { describe, expect, it } from 'vitest';
import { unixSocketListening } from '../../src/bus/unix-socket-table.js';

const HEAD = 'Num       RefCount Protocol Flags    Type St Inode Path\n';
const listening = (name: string, inode = 4242): string => `0000000012345678: 00000002 00000000 00010000 0001 01 ${String(inode).padStart(5)} ${name}\n`;
const connected = (name: string): string => `00000000abcdef01: 00000003 00000000 00000000 0001 03  4243 ${name}\n`;
const unnamed = '00000000231a0b2a: 00000003 00000000 00000000 0001 03  1301\n';

describe('unixSocketListening', () => {
  it('an absolute name: ours as given or resolved; a connected socket of that name does not count', () => {
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + unnamed + listening('/tmp/d/bell.sock'))).toBe('exact');
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + connected('/tmp/d/bell.sock'))).toBeNull();
    expect(unixSocketListening('/tmp/d/other.sock', HEAD + listening('/tmp/d/bell.sock'))).toBeNull();
  });

  it('spaces in the name are kept as they are, repeated or at the end', () => {
    expect(unixSocketListening('/tmp/d/a  b.sock', HEAD + listening('/tmp/d/a  b.sock'))).toBe('exact');
    expect(unixSocketListening('/tmp/d/a b.sock', HEAD + listening('/tmp/d/a  b.sock'))).toBeNull();
    expect(unixSocketListening('/tmp/d/x ', HEAD + listening('/tmp/d/x '))).toBe('exact');
  });

  it('a name bound relatively with our file name counts as "relative"; an abstract one or another file name does not', () => {
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + listening('bell.sock'))).toBe('relative');
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + listening('sub/bell.sock'))).toBe('relative');
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + listening('@bell.sock'))).toBeNull();
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + listening('ring.sock'))).toBeNull();
    expect(unixSocketListening('/tmp/d/bell.sock', HEAD + listening('bell.sock') + listening('/tmp/d/bell.sock'))).toBe('exact');
  });
});
