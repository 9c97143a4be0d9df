// The attacks tools/hostile-peer.ts knows, on which buses, and what each is expected to do to
// its link (tools/hostile-session.ts, the soak's hostile mode, test/bus/hostile-peers.test.ts).
export const ATTACKS = ['indices', 'torn', 'states', 'shrink'] as const;
export type Attack = (typeof ATTACKS)[number];

/** Buses an attack applies to: SPSC rings have no queue-head states. */
export const ATTACK_BUSES: Record<Attack, readonly ('vmamp' | 'spsc')[]> = {
  indices: ['vmamp', 'spsc'],
  torn: ['vmamp', 'spsc'],
  states: ['vmamp'],
  shrink: ['vmamp', 'spsc'],
};
