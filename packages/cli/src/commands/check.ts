import path from 'node:path';
import { writeFileAtomic } from '@specprune/onnx-io/node';
import { defineCommand } from '../command.js';
import { log, printJson, type Io } from '../io.js';
import { baselineDocument, readBaseline } from '../check/baseline.js';
import { benchForBudget } from '../check/bench.js';
import { checkBudgets } from '../check/check-budgets.js';
import type { BenchFn } from '../check/measure.js';
import { renderCheckText, renderGithubAnnotations, renderJunit, toCheckJson } from '../check/report.js';

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
  run: async (args, io) => check(args, io),
});

/** `specprune check`: measures with checkBudgets, then renders (table or JSON, JUnit, baseline, GitHub annotations). */
export async function check(args: CheckArgs, io: Io, bench: BenchFn = benchForBudget): Promise<number> {
  const baseline = args.baseline ? readBaseline(path.resolve(io.cwd, args.baseline), args.baseline) : undefined;
  const checked = await checkBudgets(args.budget, {
    cwd: io.cwd,
    bench,
    ...(baseline ? { baseline } : {}),
    onLog: (message) => log(io, `specprune: ${message}`),
    ...(io.signal ? { signal: io.signal } : {}),
  });
  if (args.junit) writeFileAtomic(path.resolve(io.cwd, args.junit), [new TextEncoder().encode(renderJunit(checked.results, checked.seconds))]);
  if (args.saveBaseline) writeFileAtomic(path.resolve(io.cwd, args.saveBaseline), [new TextEncoder().encode(`${JSON.stringify(baselineDocument(checked.results, new Date()), null, 2)}\n`)]);
  const githubAnnotations = io.env.GITHUB_ACTIONS === 'true';
  if (args.json) {
    if (githubAnnotations) io.stdout.write(renderGithubAnnotations(checked.results));
    printJson(io, toCheckJson(checked));
  } else {
    io.stdout.write(renderCheckText(checked, { colour: !!io.stdout.isTTY, githubAnnotations }));
  }
  return checked.passed ? 0 : 1;
}
