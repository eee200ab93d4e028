/**
 * The sensitivity scan measures only the sparsities the allocation can read at the target
 * (curvePointsRead): the allocation from those curves must be the allocation from the whole grid's.
 */
import { createRandom } from '@specprune/core';
import type { MatrixView } from '@specprune/onnx-io';
import { describe, expect, it } from 'vitest';
import { allocate, curvePointsRead } from '../src/allocate.js';
import { SCAN_GRID } from '../src/sensitivity.js';

describe('the curve points the allocation reads', () => {
  it('are the grid up to the first point at or beyond the target + 0.2', () => {
    const points = (s: number) => SCAN_GRID.slice(0, curvePointsRead(SCAN_GRID, s));
    expect(points(0.5)).toEqual([0, 0.3, 0.5, 0.7]);
    expect(points(0.3)).toEqual([0, 0.3, 0.5]);
    expect(points(0.05)).toEqual([0, 0.3]);
    // 0.4 + 0.2 is 0.6000000000000001: the interpolation between 0.5 and 0.7 needs 0.7.
    expect(points(0.4)).toEqual([0, 0.3, 0.5, 0.7]);
    // 0.7 + 0.2 is 0.8999999999999999, under 0.9; beyond the grid every point counts (the last segment is extrapolated).
    expect(points(0.7)).toEqual(SCAN_GRID);
    expect(points(0.8)).toEqual(SCAN_GRID);
  });

  it('give the allocation the whole grid gives, for random monotone curves at every target', () => {
    const random = createRandom(11);
    const view = { blocks: [] } as unknown as MatrixView;
    let compared = 0;
    for (let trial = 0; trial < 40; trial++) {
      const items = Array.from({ length: 3 + (random.nextUint32() % 40) }, (_, k) => ({ key: `w${k}`, numel: 1 + (random.nextUint32() % 50_000), view }));
      // Distortion curves as the scan makes them: 0 at 0, monotone, some steep, some flat, a few nearly free
      // (but never all below the blind threshold: the pipeline measures such a weight's whole curve).
      const curves = items.map(() => {
        const curve = [0];
        const scale = 10 ** (-6 + 6 * random.nextDouble());
        for (let g = 1; g < SCAN_GRID.length; g++) curve.push(curve[g - 1]! + scale * random.nextDouble() ** (random.nextDouble() < 0.3 ? 4 : 1) + 1e-6);
        return curve;
      });
      for (const sparsity of [0.05, 0.2, 0.3, 0.37, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9]) {
        const read = curvePointsRead(SCAN_GRID, sparsity);
        const whole = allocate(items, sparsity, 'spectral', { kind: 'unstructured' }, 1, { grid: SCAN_GRID, curves });
        const part = allocate(items, sparsity, 'spectral', { kind: 'unstructured' }, 1, { grid: SCAN_GRID.slice(0, read), curves: curves.map((c) => c.slice(0, read)) });
        expect(part.zeros).toEqual(whole.zeros);
        // The points left out do matter when read: changing them changes nothing here.
        const changed = allocate(items, sparsity, 'spectral', { kind: 'unstructured' }, 1, { grid: SCAN_GRID, curves: curves.map((c) => c.map((v, g) => (g < read ? v : v * 7))) });
        expect(changed.zeros).toEqual(whole.zeros);
        compared++;
      }
    }
    expect(compared).toBe(480);
  });

  it('reads the points beyond it when they are given: the test above can fail', () => {
    const view = { blocks: [] } as unknown as MatrixView;
    const items = [
      { key: 'a', numel: 1000, view },
      { key: 'b', numel: 1000, view },
    ];
    // At 0.75 the reach is 0.95: the 0.9 point of a decides how the zeros are shared.
    const flat = [0, 0.1, 0.2, 0.3, 0.31];
    const steep = [0, 0.1, 0.2, 0.3, 3];
    const other = [0, 0.1, 0.2, 0.3, 0.6];
    const a = allocate(items, 0.75, 'spectral', { kind: 'unstructured' }, 1, { grid: SCAN_GRID, curves: [flat, other] });
    const b = allocate(items, 0.75, 'spectral', { kind: 'unstructured' }, 1, { grid: SCAN_GRID, curves: [steep, other] });
    expect(a.zeros).not.toEqual(b.zeros);
  });
});
