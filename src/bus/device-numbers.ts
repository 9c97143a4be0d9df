// Device numbers of a device-side bus on our bus (spec §7 rule 14: one number per device on a
// bus instance). A device found behind an external link keeps its own number unless the router
// already uses it (a built-in device, or a link opened earlier: first come, first served, in
// command-line order); then it gets the lowest free number above it, wrapping past 65535 to 0.
// The link translates in both directions in the hot path (DS_BUS_NUM / EP_BUS_DEVS), so
// neither side ever sees the other's numbering.

/** The router number for bus device `busNum`, given which router numbers are taken. */
export function routerNumberFor(busNum: number, taken: (dev: number) => boolean): number {
  for (let k = 0; k < 65536; k++) {
    const n = (busNum + k) & 0xffff;
    if (!taken(n)) return n;
  }
  throw new RangeError('no free device number left on this router (65536 in use)');
}
