/**
 * How long a prune will take, so a user knows whether to wait or to stop it. The default prune's (estimatePrune)
 * is made near its start (after the first statistics sample, or when the scan's session is timed) and revised
 * once the scan's session has timed a real measurement where that moves it by more than REVISE_SHARE; a
 * structured prune's (estimateStructured) once its first re-fit candidate is timed, revised as its search goes. Built from what was
 * measured by then (one run of the model, or one scan measurement) and the estimated per-weight work of each
 * phase on its busiest worker lane (calibration.ts `statsCost`, lanes.ts `workCosts`).
 *
 * The factors are fitted to the four default prunes of `bench/prune-speed.mjs` (ResNet-50-shaped, MiniLM-shaped,
 * PP-OCRv4 recogniser data-free and with 64 calibration lines) on the 2-core VM without AVX-512: the estimate
 * came within a third of each run's time on the machine it was fitted on; on the next machine of that kind the
 * recogniser's first estimate was 2.4x its run, and its revision 1.2x (docs/benchmarks.md); with the batched
 * share below (2026-12-05) its first estimate was 21 s for a 20 s run. Measurement and worker work overlap (the main thread runs the
 * model while the workers re-fit), so a phase takes less than their sum.
 */

/** Seconds: the whole prune from its start, and each phase still to come. */
export interface PruneEstimate {
  total: number;
  statistics?: number;
  scan?: number;
  prune: number;
  check: number;
  /** Seconds into the prune when the estimate was made (included in `total`). */
  at: number;
  /**
   * The latest estimate made again from later timings (the default prune: once, from the scan's first timed
   * measurement; structured pruning: as its search goes): present where it differed from the estimate told
   * before it by more than REVISE_SHARE of that.
   */
  revised?: Omit<PruneEstimate, 'revised' | 'statistics'>;
  /**
   * Structured pruning (`structure`): seconds to come per phase, by the names its progress reports
   * ('candidates' (every round of the search), 'second pass', 'timing', 'check'); there `prune` is the channel
   * search (the first two) and `check` the timing and the check.
   */
  phases?: Record<string, number>;
  /** What the estimate was made from, where that is not the default prune's first run or scan measurement. */
  from?: string;
}

/**
 * A revision is told when later timings move the whole estimate by more than this share: for example, the
 * first statistics run predicts a scan measurement only roughly (a model that answers its samples as one batch
 * measures them in little more than one run's time).
 */
export const REVISE_SHARE = 0.25;

/**
 * The first estimate with its revision attached, or undefined when the revision is too close to the latest one
 * told (the first, or its last revision) to tell.
 */
export function reviseEstimate(first: PruneEstimate, again: PruneEstimate): PruneEstimate | undefined {
  const told = first.revised ?? first;
  if (Math.abs(again.total - told.total) <= REVISE_SHARE * told.total) return undefined;
  const { statistics: _done, revised: _earlier, ...revised } = again;
  return { ...first, revised };
}

export interface EstimateInputs {
  /** Seconds spent so far. */
  at: number;
  /** Statistics still to build: samples left, seconds per sample's run, seconds of the busiest lane's work left. */
  statistics?: { samples: number; run: number; work: number };
  /** Seconds one scan measurement takes (all its samples). */
  measurement: number;
  /** Scan measurements to run and the busiest lane's scan work (seconds); absent when no scan runs. */
  scan?: { measurements: number; work: number };
  /** Output checks the final pass may run and the busiest lane's final work (seconds). */
  prune: { measurements: number; work: number };
  /** Whether per-weight work runs on worker threads (overlapping the measurements) or in between. */
  workers: boolean;
}

/**
 * A scan measurement of S samples takes about this share of S times the first statistics run of one sample
 * (scaled to the samples' mean size): that run warms the session up and also outputs every weight's input,
 * and the scan's runs are batched where the model allows (fitted: 0.43-0.51). The second run is no better a
 * basis: the workers then build the first sample's statistics on the same cores.
 */
export const MEASUREMENT_PER_RUN = 0.47;
/**
 * The same where the scan's samples will run as one batch (every model input open along dim 0, every sample
 * leading with 1): a batch of S takes little more than one run. Measured on the PP-OCRv4 recogniser data-free
 * (4 samples at 1x3x48x320, 2-core VM, 2026-12-05): 0.13; with 0.47 its first estimate was 2.5x its run
 * (55 s told, 22 s taken). Unbatched rows the same day: 0.20 (MiniLM-shaped), 0.26 (the recogniser on 64
 * calibration lines of different widths), 0.60 (ResNet-50-shaped).
 */
export const MEASUREMENT_PER_BATCHED_RUN = 0.13;
/** Share of a scan measurement's time the scan's runs take on average (from cuts: the part after the weight). */
const SCAN_RUN_SHARE = 0.9;
/** Share of the busiest lane's scan work that does not overlap the scan's runs (with workers). */
const SCAN_WORK_SHARE = 0.4;
/** Share of the weights whose final values the final pass measures in the runtime (the rest were measured in the scan). */
const FINAL_MEASURED_SHARE = 0.7;

export function estimatePrune(x: EstimateInputs): PruneEstimate {
  const overlap = (runs: number, work: number, share: number) => (x.workers ? runs + share * work : runs + work);
  const statistics = x.statistics ? (x.workers ? Math.max(x.statistics.work, x.statistics.samples * x.statistics.run) : x.statistics.work + x.statistics.samples * x.statistics.run) : undefined;
  const scan = x.scan ? overlap(SCAN_RUN_SHARE * x.scan.measurements * x.measurement, x.scan.work, SCAN_WORK_SHARE) : undefined;
  const prune = FINAL_MEASURED_SHARE * x.prune.measurements * x.measurement + x.prune.work;
  // The check loads the pruned model and runs it on the check inputs (as long as about one measurement of the original, twice).
  const check = 2 * x.measurement;
  const total = x.at + (statistics ?? 0) + (scan ?? 0) + prune + check;
  // Three significant digits: an estimate is no finer, and a short phase stays visible.
  const round = (s: number) => Number(s.toPrecision(3));
  return {
    total: round(total),
    ...(statistics !== undefined ? { statistics: round(statistics) } : {}),
    ...(scan !== undefined ? { scan: round(scan) } : {}),
    prune: round(prune),
    check: round(check),
    at: round(x.at),
  };
}

/** Seconds of each part of a structured prune still to come (see pruneStructured), measured as the search goes. */
export interface StructuredEstimateInputs {
  at: number;
  /** Candidates still to build and measure in every round of the search (this one and those to come), by kind, and seconds each. */
  candidates: { plain: number; refit: number; plainEach: number; refitEach: number };
  /** Latency measurements still to make in the search (two per round) and after it, and seconds each. */
  timing: { left: number; each: number };
  /** Consumers the second pass re-fits on the pruned model's own inputs, and seconds each. */
  secondPass: { left: number; each: number };
  /** The check of the written model. */
  check: number;
  from: string;
}

/**
 * A structured prune's estimate: its phases to come, `prune` the search and `check` the timing and the check.
 * Made once the group sensitivities are measured (they come first), so it has none.
 */
export function estimateStructured(x: StructuredEstimateInputs): PruneEstimate {
  const round = (s: number) => Number(s.toPrecision(3));
  const candidates = x.candidates.plain * x.candidates.plainEach + x.candidates.refit * x.candidates.refitEach;
  const secondPass = x.secondPass.left * x.secondPass.each;
  const timing = x.timing.left * x.timing.each;
  const phases: Record<string, number> = {
    ...(candidates > 0 ? { candidates: round(candidates) } : {}),
    ...(secondPass > 0 ? { 'second pass': round(secondPass) } : {}),
    ...(timing > 0 ? { timing: round(timing) } : {}),
    check: round(x.check),
  };
  return {
    total: round(x.at + candidates + secondPass + timing + x.check),
    prune: round(candidates + secondPass),
    check: round(timing + x.check),
    at: round(x.at),
    phases,
    from: x.from,
  };
}
