/**
 * Which worker lane each weight's work goes to. A lane keeps a weight's statistics from its first sample to
 * its final work, so a weight stays on one lane through the phases that run on the workers: statistics, the
 * scan's re-fits, the final pass's candidates. The phases run one after the other, so each must be balanced,
 * not only their sum.
 */

/**
 * Lanes for items with estimated costs per phase (`costs[i][p]`, any unit): heaviest first (by the sum),
 * each to the lane that keeps the sum over phases of the busiest lane's load lowest; ties to the lower lane,
 * so the result is deterministic. Balancing the sum alone put the PP-OCRv4 recogniser's depthwise
 * convolutions (most of its statistics) on one lane because the other held the 2880-input convolution
 * (most of its re-fits): one worker built statistics while the other waited, then the reverse.
 */
export function balancePhases(costs: ReadonlyArray<readonly number[]>, lanes: number): number[] {
  // (A reduce, not a spread: a model may have more weights than a call takes arguments.)
  const phases = costs.reduce((most, c) => Math.max(most, c.length), 0);
  const sum = (c: readonly number[]) => c.reduce((a, b) => a + b, 0);
  const order = costs.map((_, i) => i).sort((a, b) => sum(costs[b]!) - sum(costs[a]!) || a - b);
  const load = Array.from({ length: Math.max(1, lanes) }, () => new Array<number>(phases).fill(0));
  const result = new Array<number>(costs.length).fill(0);
  for (const i of order) {
    const c = costs[i]!;
    let [lane, best] = [0, Infinity];
    for (let l = 0; l < load.length; l++) {
      let after = 0;
      for (let p = 0; p < phases; p++) {
        let busiest = load[l]![p]! + (c[p] ?? 0);
        for (let k = 0; k < load.length; k++) if (k !== l) busiest = Math.max(busiest, load[k]![p]!);
        after += busiest;
      }
      if (after < best) [lane, best] = [l, after];
    }
    for (let p = 0; p < phases; p++) load[lane]![p]! += c[p] ?? 0;
    result[i] = lane;
  }
  return result;
}

/**
 * Estimated work of one weight in the scan and in the final pass, in nanoseconds (fitted to per-weight times
 * of the ResNet-50-shaped model and the PP-OCRv4 recogniser on a 2-core VM without AVX-512): with Gram matrices
 * (`gram`), their inverse factors (2/3 n³ multiply-adds per group, in both passes) plus the re-fits and
 * reconstruction errors (about numel x n multiply-adds each: three in the scan, five in the final pass) at
 * ~0.25 ns per multiply-add; without (Wanda scores only), ~400 and ~600 ns per element. Proportional, not exact.
 */
export function workCosts(numel: number, gram: { cols: number; groups: number } | undefined, options: { factorKept?: boolean } = {}): [number, number] {
  if (!gram) return [400 * numel, 600 * numel];
  const factor = (2 / 3) * gram.groups * gram.cols ** 3;
  // A factor the scan keeps for the final pass (factorKept) is computed once, in the scan.
  return [0.25 * (factor + 3 * numel * gram.cols), 0.25 * ((options.factorKept ? 0 : factor) + 5 * numel * gram.cols)];
}

/** Per phase, the load of the busiest lane once each item is on its lane (`lanes[i]`, as balancePhases gives). */
export function busiestLoads(costs: ReadonlyArray<readonly number[]>, lanes: readonly number[], count: number): number[] {
  const phases = costs.reduce((most, c) => Math.max(most, c.length), 0);
  const load = Array.from({ length: Math.max(1, count) }, () => new Array<number>(phases).fill(0));
  costs.forEach((c, i) => c.forEach((x, p) => (load[lanes[i]!]![p]! += x)));
  return Array.from({ length: phases }, (_, p) => load.reduce((most, l) => Math.max(most, l[p]!), 0));
}

/**
 * The order a pass hands out its first work in: `long` as given, then the other `candidates` longest first
 * (`cost`), while their bytes together stay within `room` (a prefix of that order: the first that does not fit
 * ends it); ties in model order (the lower index). The rest of the pass then hands out work in model order.
 */
export function firstHandOut(candidates: readonly number[], long: readonly number[], cost: (index: number) => number, bytes: (index: number) => number, room: number): number[] {
  const rest = candidates.filter((i) => !long.includes(i)).sort((a, b) => cost(b) - cost(a) || a - b);
  const taken: number[] = [];
  for (const i of rest) {
    if ((room -= bytes(i)) < 0) break;
    taken.push(i);
  }
  return [...long, ...taken];
}
