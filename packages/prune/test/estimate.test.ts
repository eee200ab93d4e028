import { describe, expect, it } from 'vitest';
import { estimatePrune, REVISE_SHARE, reviseEstimate, type EstimateInputs } from '../src/estimate.js';

const base: EstimateInputs = {
  at: 2,
  statistics: { samples: 15, run: 0.2, work: 18 },
  measurement: 0.35,
  scan: { measurements: 162, work: 20 },
  prune: { measurements: 54, work: 27 },
  workers: true,
};

describe('the run estimate', () => {
  it('adds the time spent to every phase still to come', () => {
    const e = estimatePrune(base);
    expect(e.at).toBe(2);
    expect(Math.abs(e.total - (e.at + e.statistics! + e.scan! + e.prune + e.check))).toBeLessThan(0.25);
    const { statistics: _s, scan: _c, ...none } = base;
    const bare = estimatePrune(none);
    expect(bare.statistics).toBeUndefined();
    expect(bare.scan).toBeUndefined();
    expect(bare.total).toBeLessThan(e.total);
  });

  it('grows with the measurements and the work, and overlaps work with measurements only on worker threads', () => {
    const e = estimatePrune(base);
    expect(estimatePrune({ ...base, scan: { measurements: 324, work: 20 } }).scan!).toBeGreaterThan(e.scan!);
    expect(estimatePrune({ ...base, measurement: 0.7 }).total).toBeGreaterThan(e.total);
    expect(estimatePrune({ ...base, prune: { measurements: 54, work: 50 } }).prune).toBeGreaterThan(e.prune);
    // Statistics: the slower of the runs and the busiest lane's work, with workers; their sum in place.
    expect(e.statistics).toBeCloseTo(18, 5);
    expect(estimatePrune({ ...base, statistics: { samples: 15, run: 2, work: 18 } }).statistics).toBeCloseTo(30, 5);
    const inPlace = estimatePrune({ ...base, workers: false });
    expect(inPlace.statistics).toBeCloseTo(21, 5);
    expect(inPlace.scan!).toBeGreaterThan(e.scan!);
  });

  it('is revised from the timed scan measurement only where that moves the whole by more than a quarter', () => {
    const first = estimatePrune(base);
    const { statistics: _s, ...rest } = base;
    const close = estimatePrune({ ...rest, at: 12, measurement: base.measurement * 0.95 });
    expect(Math.abs(close.total - first.total)).toBeLessThanOrEqual(REVISE_SHARE * first.total);
    expect(reviseEstimate(first, close)).toBeUndefined();
    // A model whose samples run as one batch: its measurement is a third of what the statistics run predicted.
    const batched = estimatePrune({ ...rest, at: 12, measurement: base.measurement / 3 });
    const revised = reviseEstimate(first, batched)!;
    expect(revised).toEqual({ ...first, revised: { total: batched.total, at: 12, scan: batched.scan, prune: batched.prune, check: batched.check } });
    expect(revised.revised!.total).toBeLessThan((1 - REVISE_SHARE) * first.total);
    // Longer counts too.
    expect(reviseEstimate(first, estimatePrune({ ...rest, at: 12, measurement: base.measurement * 3 }))?.revised?.total).toBeGreaterThan(first.total);
  });
});
