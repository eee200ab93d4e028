/**
 * "Did you mean --sparsity?" for a misspelt flag: the known flag closest to what was typed, if it is close
 * enough that the typo is the likely explanation.
 */

/**
 * Edit distance between two strings counting insertions, deletions, substitutions and swaps of two
 * neighbouring characters (optimal string alignment), so `spasrity` is one edit from `sparsity`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d = new Uint32Array(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/**
 * The flag among `known` (names without dashes) closest to `typed`, or undefined when none is within a
 * third of the typed name's length (a one-letter name never gets a suggestion: every short flag is one
 * edit away from it). Ties go to the first in `known`.
 */
export function closestFlag(typed: string, known: readonly string[]): string | undefined {
  const name = typed.replace(/^-+/, '');
  const allowed = Math.floor(name.length / 3);
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance > 0 && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** A flag name as the user types it: `-o`, `--sparsity`. */
export function dashed(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}
