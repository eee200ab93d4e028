import { describe, expect, it } from 'vitest';
import { balancePhases, firstHandOut, workCosts } from '../src/lanes.js';

/** The busiest lane's share of each phase's total work. */
function shares(costs: ReadonlyArray<readonly number[]>, lanes: readonly number[], size: number): number[] {
  const phases = costs[0]!.length;
  return Array.from({ length: phases }, (_, p) => {
    const load = new Array<number>(size).fill(0);
    costs.forEach((c, i) => (load[lanes[i]!]! += c[p]!));
    return Math.max(...load) / load.reduce((a, b) => a + b, 0);
  });
}

describe('worker lanes balanced phase by phase', () => {
  // Shaped like the PP-OCRv4 recogniser's per-weight times (seconds: statistics, scan, final pass) on two
  // workers: eight depthwise convolutions hold most of the statistics, one 2880-input convolution most of the
  // re-fits, and smaller weights the rest.
  const recogniser = [
    [0.5, 2.6, 3.0],
    ...Array.from({ length: 8 }, (_, i) => [1.9 - 0.1 * i, 0.03, 0.03]),
    ...Array.from({ length: 12 }, (_, i) => [0.1 + 0.01 * i, 0.2, 0.3]),
  ];

  it('gives every phase to both lanes (none waits while the other works), not only their sum', () => {
    const lanes = balancePhases(recogniser, 2);
    for (const share of shares(recogniser, lanes, 2)) expect(share).toBeLessThan(0.56);
    // The 2880-input convolution's lane still builds part of the statistics.
    const big = lanes[0];
    expect(recogniser.filter((_, i) => i > 0 && i <= 8 && lanes[i] === big).length).toBeGreaterThanOrEqual(3);
  });

  it('is deterministic, ties go to the lower lane, one lane takes everything', () => {
    expect(balancePhases(recogniser, 2)).toEqual(balancePhases(recogniser.map((c) => [...c]), 2));
    expect(balancePhases([[1], [1], [1], [1]], 2)).toEqual([0, 1, 0, 1]);
    expect(balancePhases(recogniser, 1)).toEqual(new Array(recogniser.length).fill(0));
    expect(balancePhases([], 2)).toEqual([]);
  });

  it('estimates the re-fits by the factorisation for wide inputs and by the elements for narrow ones', () => {
    // A 2880-input convolution's factor dominates both passes; the final pass costs more than the scan.
    const [scan, final] = workCosts(96 * 2880, { cols: 2880, groups: 1 });
    expect(scan).toBeGreaterThan(0.25 * (2 / 3) * 2880 ** 3);
    expect(final).toBeGreaterThan(scan);
    // Without Gram matrices (Wanda scores), proportional to the elements.
    expect(workCosts(2000, undefined)).toEqual([2 * workCosts(1000, undefined)[0], 2 * workCosts(1000, undefined)[1]]);
    // A factor kept from the scan: the final work without it (the recogniser's convolution: most of it), the scan's the same.
    const [keptScan, keptFinal] = workCosts(96 * 2880, { cols: 2880, groups: 1 }, { factorKept: true });
    expect(keptScan).toBe(scan);
    expect(final - keptFinal).toBeCloseTo(0.25 * (2 / 3) * 2880 ** 3, -3);
    expect(keptFinal).toBeGreaterThan(0);
    expect(keptFinal).toBeLessThan(final / 2);
    expect(workCosts(1000, undefined, { factorKept: true })).toEqual(workCosts(1000, undefined));
  });
});

describe('the first work a pass hands out', () => {
  // Costs and bytes shaped like the ResNet-50-shaped model's last weights: its Gemm (index 5) the longest.
  const cost = [1, 3, 2, 0.5, 3, 5];
  const bytes = [4, 2, 2, 1, 8, 8];
  it('the long weights as given, then the longest others while their bytes fit (ties in model order)', () => {
    const all = [0, 1, 2, 3, 4, 5];
    expect(firstHandOut(all, [], (i) => cost[i]!, (i) => bytes[i]!, 100)).toEqual([5, 1, 4, 2, 0, 3]);
    expect(firstHandOut(all, [], (i) => cost[i]!, (i) => bytes[i]!, 18)).toEqual([5, 1, 4]);
    // A prefix: the first that does not fit ends it, even where a later one would.
    expect(firstHandOut(all, [], (i) => cost[i]!, (i) => bytes[i]!, 17)).toEqual([5, 1]);
    expect(firstHandOut(all, [2], (i) => cost[i]!, (i) => bytes[i]!, 9)).toEqual([2, 5]);
    expect(firstHandOut([0, 3], [], (i) => cost[i]!, (i) => bytes[i]!, 100)).toEqual([0, 3]);
    expect(firstHandOut(all, [], (i) => cost[i]!, (i) => bytes[i]!, 0)).toEqual([]);
  });
});
