// The attacks tools/hostile-peer.ts knows, and on which buses (tools/hostile-session.ts, the
// soak's hostile mode, test/bus/hostile-peers.test.ts). The legacy attack is a device side of
// its own (tools/hostile-legacy.ts).
export const ATTACKS = ['indices', 'torn', 'states', 'shrink'] as const;
export type Attack = (typeof ATTACKS)[number];

/** Buses an attack applies to: SPSC rings have no queue-head states. */
export const ATTACK_BUSES: Record<Attack, readonly ('vmamp' | 'spsc')[]> = {
  indices: ['vmamp', 'spsc'],
  torn: ['vmamp', 'spsc'],
  states: ['vmamp'],
  shrink: ['vmamp', 'spsc'],
};

/**
 * Every attack the soak's `--hostile` runs, in order: the legacy device side first — its first
 * sessions load the translator's code and grow the heap once by about 15 MiB, growth the
 * soak's warm-up is there to absorb (measured alone: 76 → 93 MiB over its first 45 sessions,
 * then flat) — then the shared-memory ones.
 */
export const SOAK_ATTACKS = ['legacy', ...ATTACKS] as const;
export type SoakAttack = (typeof SOAK_ATTACKS)[number];
