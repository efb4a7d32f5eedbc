/** "Did you mean" suggestions by edit distance. */

/** Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0];
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j];
      previous[j] = Math.min(previous[j] + 1, previous[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length];
}

/**
 * The candidate closest to `input`, if it is close enough to be a plausible typo. A candidate whose
 * part after `/` equals the input exactly (a missing namespace) always matches.
 */
export function closestMatch(input: string, candidates: readonly string[]): string | undefined {
  const bare = candidates.find((c) => c.split('/').pop() === input);
  if (bare) return bare;
  const initials = candidates.find((c) => input.length >= 2 && camelInitials(c) === input.toLowerCase());
  if (initials) return initials;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = Math.min(editDistance(input, candidate), editDistance(input, candidate.split('/').pop() ?? candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(2, Math.floor(input.length / 3));
  return bestDistance <= tolerance ? best : undefined;
}

/** `learningRate` → `lr`, `batchSize` → `bs`. */
function camelInitials(name: string): string {
  return (name[0] + name.slice(1).replace(/[^A-Z]/g, '')).toLowerCase();
}
