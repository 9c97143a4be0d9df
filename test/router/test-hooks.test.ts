// Test hooks stay off the public surface: the Router class has no fault-injection method and
// the package entry point exports neither the hooks nor the key to the router's internals; the
// hooks check their arguments like any API.
import { describe, expect, it } from 'vitest';
import * as pkg from '../../src/index.js';
import { Router } from '../../src/router/router.js';
import { injectShardCrash, injectStepFault, injectWallClockJump, waitRestarts } from '../../src/router/test-hooks.js';

describe('test hooks', () => {
  it('are not methods of Router nor exports of the package', () => {
    const methods = Object.getOwnPropertyNames(Router.prototype);
    for (const name of ['injectShardCrash', 'injectStepFault', 'injectWallClockJump', 'waitRestarts']) {
      expect(methods).not.toContain(name);
      expect(Object.keys(pkg)).not.toContain(name);
    }
    expect(Object.keys(pkg)).not.toContain('createRouterWithModule');
    expect(Object.getOwnPropertySymbols(Router.prototype).map(String)).toEqual(['Symbol(vmsg-router internals)']);
    expect(Router.create.length).toBe(0); // no second, test-only argument
  });

  it('reach a running router and reject what does not exist', async () => {
    const router = await Router.create({ shards: 1 });
    try {
      await expect(injectShardCrash(router, 1)).rejects.toThrow(/no shard 1/);
      expect(() => injectStepFault(router, 1, 1)).toThrow(/no shard 1/);
      expect(() => injectStepFault(router, 0, 256)).toThrow(/fault point must be 0-255/);
      expect(() => injectWallClockJump(router, 2 ** 31)).toThrow(/within ±2\^30/);
      injectStepFault(router, 0, 0); // disarming is always allowed
      await expect(waitRestarts(router, 1, 20)).rejects.toThrow(/no shard restart within 20 ms/);
      expect(router.restarts).toBe(0);
    } finally {
      await router.close();
    }
  });
});
