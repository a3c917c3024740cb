/**
 * Returns the candidate closest to `word` when it is close enough to be a likely typo, for
 * "did you mean" hints. Comparison ignores case.
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  const allowed = Math.max(1, Math.floor(word.length / 3));
  for (const candidate of candidates) {
    // Names whose lengths differ by more than the allowed edits cannot match: skipping them keeps
    // a flood of calls to unlisted tools from costing a full edit-distance table per listed tool.
    if (Math.abs(candidate.length - word.length) > allowed) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= allowed ? best : undefined;
}

/** Levenshtein distance, bounded in memory to two rows. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
