// addDevice and detach of the same device link at once. detach removes the link's devices and
// frees its rings; an addDevice still waiting on its shard must not publish the device after
// that — its state would keep the freed ring's cursor (DS_OUT_CURSOR), and a link attached
// next, given that memory, would receive requests meant for the dead device.
import { afterEach, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';

describe('detach and addDevice of one link at once', () => {
  let router: Router | undefined;
  afterEach(async () => {
    await router?.close();
    router = undefined;
  });

  it('the device is never left listed on a detached link, whichever finishes first', async () => {
    router = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    for (let round = 0; round < 20; round++) {
      const dev = 100 + round;
      const link = await router.attachDevice({ devices: [] });
      const [added, detached] = await Promise.allSettled([router.addDevice(link, dev), router.detach(link)]);
      expect(detached.status).toBe('fulfilled');
      if (added.status === 'rejected') expect(String(added.reason)).toMatch(/detached while device \d+ was being added|is being detached/);
      // Whatever happened, the number is not served by the freed link.
      expect(router.isListed(dev)).toBe(false);
      expect(router.hasDevice(dev)).toBe(false);
    }
    // Adding to a link whose detach has begun is refused at once.
    const link = await router.attachDevice({ devices: [] });
    const detaching = router.detach(link);
    await expect(router.addDevice(link, 7)).rejects.toThrow(/is being detached/);
    // A second detach meanwhile waits for the first instead of freeing the rings twice.
    await Promise.all([detaching, router.detach(link)]);
    await expect(router.detach(link)).rejects.toThrow(/is not attached/);
  });
});
