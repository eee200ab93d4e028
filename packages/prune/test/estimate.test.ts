import { describe, expect, it } from 'vitest';
import { estimatePrune, estimateStructured, REVISE_SHARE, reviseEstimate, type EstimateInputs, type StructuredEstimateInputs } from '../src/estimate.js';

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

  it('is revised again against its latest revision, not the first estimate', () => {
    const first = estimatePrune(base);
    const { statistics: _s, ...rest } = base;
    const once = reviseEstimate(first, estimatePrune({ ...rest, at: 12, measurement: base.measurement / 3 }))!;
    // Within a quarter of the revision (though still far from the first estimate): nothing new to tell.
    const near = estimateStructured({ ...structured, at: 20 });
    const scaled = { ...near, total: once.revised!.total * 1.1 };
    expect(Math.abs(scaled.total - first.total)).toBeGreaterThan(REVISE_SHARE * first.total);
    expect(reviseEstimate(once, scaled)).toBeUndefined();
    const twice = reviseEstimate(once, { ...near, total: once.revised!.total * 2 })!;
    expect(twice.revised!.total).toBeCloseTo(once.revised!.total * 2, 5);
    expect(twice.total).toBe(first.total);
  });
});

const structured: StructuredEstimateInputs = {
  at: 40,
  candidates: { plain: 10, refit: 30, plainEach: 1, refitEach: 2.5 },
  timing: { left: 16, each: 0.7 },
  secondPass: { left: 20, each: 1.5 },
  check: 0.3,
  from: 'the first re-fit candidate',
};

describe("a structured prune's estimate", () => {
  it('sums its phases to come (the search as pruning, the timing with the check) and says what it is made from', () => {
    const e = estimateStructured(structured);
    expect(e.phases).toEqual({ candidates: 85, 'second pass': 30, timing: 11.2, check: 0.3 });
    expect(e.prune).toBe(115);
    expect(e.check).toBeCloseTo(11.5, 5);
    // Three significant digits.
    expect(e.total).toBe(167);
    expect(e.from).toBe('the first re-fit candidate');
    expect(e.statistics).toBeUndefined();
  });

  it('leaves out the phases with nothing left, but always the check', () => {
    const e = estimateStructured({ ...structured, candidates: { plain: 0, refit: 0, plainEach: 1, refitEach: 2 }, secondPass: { left: 0, each: 1 }, timing: { left: 6, each: 0.7 } });
    expect(Object.keys(e.phases!)).toEqual(['timing', 'check']);
    expect(e.prune).toBe(0);
  });
});
