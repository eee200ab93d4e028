import { formatBytes, renderTable } from '../format.js';
import type { Metric } from './budget.js';

export interface CheckResult {
  budget: string;
  model: string;
  metric: Metric;
  key: string;
  limit: number;
  actual: number | null;
  passed: boolean;
  /** Positive: room left; negative: by how much the limit is exceeded (in the metric's unit). */
  headroom: number | null;
  baseline?: number;
}

const SIZE_METRICS = new Set<Metric>(['bytes', 'gzipBytes', 'brotliBytes', 'peakMemoryBytes']);

export function formatMetric(metric: Metric, value: number | null): string {
  if (value === null) return 'not measured';
  if (SIZE_METRICS.has(metric)) return formatBytes(value);
  if (metric === 'latencyP50Ms' || metric === 'latencyP90Ms') return `${value.toFixed(2)} ms`;
  if (metric === 'cosine') return value.toFixed(5);
  if (metric === 'top1Agreement') return `${(value * 100).toFixed(1)}%`;
  return value.toLocaleString('en-US');
}

export function renderCheckTable(results: readonly CheckResult[], colour: boolean): string {
  const paint = (text: string, code: number) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const withBaseline = results.some((r) => r.baseline !== undefined);
  const rows = results.map((r) => {
    const headroom = r.headroom === null ? '-' : `${r.headroom >= 0 ? '' : '-'}${formatMetric(r.metric, Math.abs(r.headroom))} ${r.headroom >= 0 ? 'left' : 'over'}`;
    const row = [r.budget, r.metric, formatMetric(r.metric, r.limit), formatMetric(r.metric, r.actual), headroom];
    if (withBaseline) row.push(r.baseline === undefined || r.actual === null ? '-' : deltaText(r.metric, r.actual - r.baseline));
    row.push(r.passed ? paint('pass', 32) : paint('FAIL', 31));
    return row;
  });
  const header = ['budget', 'metric', 'limit', 'actual', 'headroom', ...(withBaseline ? ['vs baseline'] : []), 'result'];
  return renderTable(header, rows);
}

function deltaText(metric: Metric, delta: number): string {
  const sign = delta > 0 ? '+' : delta < 0 ? '-' : '±';
  return `${sign}${formatMetric(metric, Math.abs(delta))}`;
}

function xml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** JUnit XML (one testcase per limit) for CI systems. */
export function renderJunit(results: readonly CheckResult[], seconds: number): string {
  const failures = results.filter((r) => !r.passed).length;
  const cases = results.map((r) => {
    const name = `${r.metric} ${r.key.startsWith('min') ? '>=' : '<='} ${formatMetric(r.metric, r.limit)}`;
    const body = r.passed
      ? ''
      : `<failure message="${xml(`${r.metric} is ${formatMetric(r.metric, r.actual)}, limit ${formatMetric(r.metric, r.limit)}`)}" type="BudgetExceeded"/>`;
    return `    <testcase classname="${xml(r.budget)}" name="${xml(name)}" file="${xml(r.model)}">${body}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="specprune check" tests="${results.length}" failures="${failures}" time="${seconds.toFixed(3)}">
  <testsuite name="specprune budgets" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${seconds.toFixed(3)}">
${cases.join('\n')}
  </testsuite>
</testsuites>
`;
}

/** GitHub Actions workflow commands: one error annotation per failed limit. */
export function renderGithubAnnotations(results: readonly CheckResult[]): string {
  return results
    .filter((r) => !r.passed)
    .map((r) => `::error file=${r.model},title=specprune budget ${r.budget}::${r.metric} is ${formatMetric(r.metric, r.actual)}, limit ${formatMetric(r.metric, r.limit)}\n`)
    .join('');
}

/** One limit as `check --json` prints it. */
export type CheckResultJson = Omit<CheckResult, 'key'>;

/** The document `check --json` prints (and `prune --budget --json` nests as `budget`). */
export interface CheckJson {
  passed: boolean;
  results: CheckResultJson[];
}

export function toCheckJson(check: { passed: boolean; results: readonly CheckResult[] }): CheckJson {
  return {
    passed: check.passed,
    results: check.results.map((r) => ({
      budget: r.budget,
      model: r.model,
      metric: r.metric,
      limit: r.limit,
      actual: r.actual,
      passed: r.passed,
      headroom: r.headroom,
      ...(r.baseline !== undefined ? { baseline: r.baseline } : {}),
    })),
  };
}

/**
 * The human report of a check: GitHub annotations first when asked (they must reach stdout), then the
 * table of limit vs actual and one line saying which limits failed.
 */
export function renderCheckText(check: { passed: boolean; results: readonly CheckResult[] }, options: { colour: boolean; githubAnnotations: boolean }): string {
  const { results } = check;
  const failed = results.filter((r) => !r.passed);
  const summary = check.passed ? `All ${results.length} limits hold.` : `${failed.length} of ${results.length} limits failed: ${failed.map((r) => `${r.budget} ${r.metric}`).join(', ')}`;
  return `${options.githubAnnotations ? renderGithubAnnotations(results) : ''}${renderCheckTable(results, options.colour)}\n\n${summary}\n`;
}
