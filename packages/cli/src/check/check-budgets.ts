import { baselineKey } from './baseline.js';
import { benchForBudget } from './bench.js';
import { locateBudgets, parseBudgets } from './budget.js';
import { oneLine } from './json-file.js';
import { measureBudget, type BenchFn } from './measure.js';
import type { CheckResult } from './report.js';

export interface CheckBudgetsOptions {
  /** Folder the budget file is resolved against (and searched for specprune.budget.json / package.json without one). */
  cwd: string;
  /** Latency and memory measurement (default: device-runner on each budget's target). */
  bench?: BenchFn;
  /** Values saved by `check --save-baseline` (see readBaseline): results that match get `baseline`. */
  baseline?: ReadonlyMap<string, number>;
  /** One line per budget as it is measured. */
  onLog?: (message: string) => void;
  /** Stops between budgets and inside benchmarks; the check then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What `checkBudgets` found: every limit of every budget, measured. */
export interface BudgetCheck {
  /** The budget file read (absolute; package.json when the budgets are its "specprune" key). */
  file: string;
  /** True when every limit holds. */
  passed: boolean;
  results: CheckResult[];
  /** Wall time of the measurements, in seconds. */
  seconds: number;
}

/**
 * Reads a budget file (`budgetFile` relative to `cwd`; without one, specprune.budget.json or package.json's
 * "specprune" key in `cwd`), validates it, and measures every limit of every budget: the library behind
 * `specprune check` and `prune --budget`. Prints nothing; a bad file rejects with a UsageError naming it.
 */
export async function checkBudgets(budgetFile: string | undefined, options: CheckBudgetsOptions): Promise<BudgetCheck> {
  const started = performance.now();
  const bench = options.bench ?? benchForBudget;
  const { file, raw } = locateBudgets(options.cwd, budgetFile);
  const budgets = parseBudgets(raw, file);
  const results: CheckResult[] = [];
  for (const budget of budgets) {
    throwIfAborted(options.signal);
    options.onLog?.(`checking ${oneLine(budget.name)}`);
    let actual: Awaited<ReturnType<typeof measureBudget>>;
    try {
      actual = await measureBudget(budget, bench, options.signal, options.onLog);
    } catch (error) {
      // An interrupted benchmark fails in its own words; the caller's reason (an exit code) wins.
      throwIfAborted(options.signal);
      throw error;
    }
    for (const limit of budget.limits) {
      const value = actual[limit.metric] ?? null;
      const passed = value !== null && (limit.kind === 'max' ? value <= limit.value : value >= limit.value);
      const result: CheckResult = {
        budget: budget.name,
        model: budget.model,
        metric: limit.metric,
        key: limit.key,
        limit: limit.value,
        actual: value,
        passed,
        headroom: value === null ? null : limit.kind === 'max' ? limit.value - value : value - limit.value,
      };
      const previous = options.baseline?.get(baselineKey(budget.name, budget.model, limit.metric));
      if (previous !== undefined) result.baseline = previous;
      results.push(result);
    }
  }
  throwIfAborted(options.signal);
  return { file, passed: results.every((r) => r.passed), results, seconds: (performance.now() - started) / 1000 };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('the budget check was aborted');
}
