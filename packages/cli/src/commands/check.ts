import path from 'node:path';
import { writeFileAtomic } from '@specprune/onnx-io';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { log, printJson, type Io } from '../io.js';
import { locateBudgets, parseBudgets, type Budget } from '../check/budget.js';
import { measureBudget, type BenchFn } from '../check/measure.js';
import { renderCheckTable, renderGithubAnnotations, renderJunit, type CheckResult } from '../check/report.js';
import { benchForBudget } from '../check/bench.js';
import { oneLine, readJsonFile } from '../check/json-file.js';

interface CheckArgs {
  budget?: string;
  junit?: string;
  json?: boolean;
  saveBaseline?: string;
  baseline?: string;
}

export const checkCommand = defineCommand<CheckArgs>({
  command: 'check',
  describe: 'Check models against size, latency, memory and fidelity budgets (exit 1 when one fails)',
  builder: (yargs) =>
    yargs
      .option('budget', { type: 'string', describe: 'budget file (default specprune.budget.json, or the "specprune" key of package.json)' })
      .option('junit', { type: 'string', describe: 'also write JUnit XML (one testcase per limit) to FILE' })
      .option('save-baseline', { type: 'string', describe: 'write the measured values to FILE, to compare the next release against' })
      .option('baseline', { type: 'string', describe: 'show deltas against values saved with --save-baseline' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 check', 'measure every budget in specprune.budget.json')
      .example('$0 check --junit reports/specprune.xml', 'for CI test reports')
      .epilogue('Budget file: {"budgets": [{"model": "dist/m.onnx", "reference": "m.onnx", "maxBytes": "300 kB", "maxLatencyP50Ms": 5, "minCosine": 0.99}]}. Schema: specprune/budget.schema.json.'),
  run: async (args, io) => check(args, io, benchForBudget),
});

export async function check(args: CheckArgs, io: Io, bench: BenchFn): Promise<number> {
  const started = performance.now();
  const { file, raw } = locateBudgets(io.cwd, args.budget);
  const budgets = parseBudgets(raw, file);
  const baseline = args.baseline ? readBaseline(path.resolve(io.cwd, args.baseline), args.baseline) : undefined;
  const results: CheckResult[] = [];
  for (const budget of budgets) {
    log(io, `specprune: checking ${oneLine(budget.name)}`);
    const actual = await measureBudget(budget, bench);
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
      const previous = baseline?.get(baselineKey(budget, limit.metric));
      if (previous !== undefined) result.baseline = previous;
      results.push(result);
    }
  }
  const passed = results.every((r) => r.passed);
  const seconds = (performance.now() - started) / 1000;
  if (args.junit) writeFileAtomic(path.resolve(io.cwd, args.junit), [new TextEncoder().encode(renderJunit(results, seconds))]);
  if (args.saveBaseline) {
    const doc = { savedAt: new Date().toISOString(), results: results.map((r) => ({ budget: r.budget, model: r.model, metric: r.metric, actual: r.actual })) };
    writeFileAtomic(path.resolve(io.cwd, args.saveBaseline), [new TextEncoder().encode(`${JSON.stringify(doc, null, 2)}\n`)]);
  }
  if (io.env.GITHUB_ACTIONS === 'true') io.stdout.write(renderGithubAnnotations(results));
  if (args.json) {
    printJson(io, {
      passed,
      results: results.map((r) => ({ budget: r.budget, model: r.model, metric: r.metric, limit: r.limit, actual: r.actual, passed: r.passed, headroom: r.headroom, ...(r.baseline !== undefined ? { baseline: r.baseline } : {}) })),
    });
  } else {
    io.stdout.write(`${renderCheckTable(results, !!io.stdout.isTTY)}\n\n`);
    const failed = results.filter((r) => !r.passed);
    io.stdout.write(passed ? `All ${results.length} limits hold.\n` : `${failed.length} of ${results.length} limits failed: ${failed.map((r) => `${r.budget} ${r.metric}`).join(', ')}\n`);
  }
  return passed ? 0 : 1;
}

function baselineKey(budget: Pick<Budget, 'name' | 'model'> | { budget: string; model: string }, metric: string): string {
  const name = 'budget' in budget ? budget.budget : budget.name;
  return `${name}\0${budget.model}\0${metric}`;
}

function readBaseline(file: string, label: string): Map<string, number> {
  const doc = readJsonFile(file, `--baseline ${label}`, `--baseline ${label} does not exist; create it with --save-baseline ${label}.`) as {
    results?: Array<{ budget: string; model: string; metric: string; actual: number | null }>;
  } | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.results)) throw new UsageError(`--baseline ${label} has no "results" array; create it with --save-baseline.`);
  const map = new Map<string, number>();
  for (const r of doc.results) {
    if (r && typeof r === 'object' && typeof r.actual === 'number' && Number.isFinite(r.actual)) map.set(baselineKey(r, String(r.metric)), r.actual);
  }
  return map;
}
