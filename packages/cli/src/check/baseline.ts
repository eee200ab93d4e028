import { UsageError } from '../errors.js';
import { readJsonFile } from './json-file.js';
import type { CheckResult } from './report.js';

/** The key a measured value is saved under in a baseline file: budget name, model and metric. */
export function baselineKey(budget: string, model: string, metric: string): string {
  return `${budget}\0${model}\0${metric}`;
}

/**
 * Reads a file written by `check --save-baseline` (`label` is the path as the user gave it) into
 * measured values by baselineKey; values that are not finite numbers are skipped.
 */
export function readBaseline(file: string, label: string): Map<string, number> {
  const doc = readJsonFile(file, `--baseline ${label}`, `--baseline ${label} does not exist; create it with --save-baseline ${label}.`) as {
    results?: Array<{ budget: string; model: string; metric: string; actual: number | null }>;
  } | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.results)) throw new UsageError(`--baseline ${label} has no "results" array; create it with --save-baseline.`);
  const map = new Map<string, number>();
  for (const r of doc.results) {
    if (r && typeof r === 'object' && typeof r.actual === 'number' && Number.isFinite(r.actual)) map.set(baselineKey(String(r.budget), String(r.model), String(r.metric)), r.actual);
  }
  return map;
}

/** The document `check --save-baseline` writes. */
export function baselineDocument(results: readonly CheckResult[], savedAt: Date): { savedAt: string; results: Array<Pick<CheckResult, 'budget' | 'model' | 'metric' | 'actual'>> } {
  return { savedAt: savedAt.toISOString(), results: results.map((r) => ({ budget: r.budget, model: r.model, metric: r.metric, actual: r.actual })) };
}
