// "Did you mean" for misspelt names (flags, commands, config keys): the closest known name by
// edit distance, when it is close enough to be a likely typo rather than a different word.

/** Levenshtein distance, case-insensitive (a typo in case is still the same name). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/**
 * The known name closest to `word`, or undefined when none is within max(2, a third of its
 * length) edits: beyond that the suggestion is more often wrong than helpful. Ties go to the
 * name listed first.
 */
export function closestName(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const dist = editDistance(word, name);
    if (dist < bestDistance) {
      best = name;
      bestDistance = dist;
    }
  }
  return bestDistance <= Math.max(2, word.length / 3) ? best : undefined;
}
