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

/** Every attack the soak's `--hostile` runs: the shared-memory ones and the legacy device side. */
export const SOAK_ATTACKS = [...ATTACKS, 'legacy'] as const;
export type SoakAttack = (typeof SOAK_ATTACKS)[number];
