// The last line of defence of every command: an error nobody expected is still one line, with
// its stack only when --debug asked for it.
import { describe, it, expect, afterEach } from 'vitest';
import { internalErrorText, setDebug, usageLine } from '../../src/cli/exit.js';

afterEach(() => setDebug(false));

describe('internal errors and usage lines', () => {
  const bug = new TypeError('cannot read properties of undefined\nsecond line of detail');

  it('without --debug: one line, the first line of the message, and how to see more', () => {
    expect(internalErrorText('vmsg route', bug)).toBe('vmsg route: internal error: cannot read properties of undefined (run again with --debug for the stack trace)\n');
  });

  it('with --debug: the stack', () => {
    setDebug(true);
    const text = internalErrorText('vmsg route', bug);
    expect(text).toMatch(/^vmsg route: internal error: TypeError: cannot read properties of undefined\n/);
    expect(text).toMatch(/\n\s+at /);
  });

  it('a usage error points at the command help on the same line', () => {
    expect(usageLine('bench', 'missing --target URI')).toBe('vmsg bench: missing --target URI (vmsg bench --help)\n');
  });
});
