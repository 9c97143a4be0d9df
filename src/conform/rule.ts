// What a conformance rule is: one normative rule of docs/PROTOCOL.md (§7, §8) that can be
// observed from the driver's side of a bus, checked by a small program, with the section it
// comes from. The checker (./runner.ts) runs rules in order and reports PASS/FAIL/SKIP each.
import type { ConformContext } from './context.js';

export type RuleStatus = 'PASS' | 'FAIL' | 'SKIP';

export interface RuleOutcome {
  status: RuleStatus;
  /** What was seen (PASS), what went wrong (FAIL: the frame and the rule), or why the rule cannot apply (SKIP). */
  detail: string;
}

export interface Rule {
  /** Stable id: `bus.*` for §7 bus rules, `device.*` for §8 device rules. */
  id: string;
  /** Spec section and item, e.g. "§7.28" = §7 rule 28. */
  section: string;
  scope: 'bus' | 'device';
  /** The rule, in one line. */
  title: string;
  run(ctx: ConformContext): Promise<RuleOutcome>;
}

export const pass = (detail: string): RuleOutcome => ({ status: 'PASS', detail });
export const fail = (detail: string): RuleOutcome => ({ status: 'FAIL', detail });
export const skip = (detail: string): RuleOutcome => ({ status: 'SKIP', detail });
