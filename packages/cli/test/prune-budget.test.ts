import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODELS, runCli, tempDir } from './helpers.js';

interface CheckJson {
  passed: boolean;
  results: Array<{ budget: string; model: string; metric: string; limit: number; actual: number | null; passed: boolean; headroom: number | null }>;
}

/** Measured on a machine's clock: they differ from run to run. */
const TIMING_METRICS = new Set(['latencyP50Ms', 'latencyP90Ms', 'peakMemoryBytes']);

function withoutTimings(doc: CheckJson): CheckJson {
  return { ...doc, results: doc.results.map((r) => (TIMING_METRICS.has(r.metric) ? { ...r, actual: null, headroom: null } : r)) };
}

let dir: string;

beforeAll(() => {
  dir = tempDir('specprune-prune-budget-');
  copyFileSync(MODELS.wakeword, path.join(dir, 'kws.onnx'));
  writeFileSync(
    path.join(dir, 'budget.json'),
    JSON.stringify({
      budgets: [
        {
          name: 'wake word',
          model: 'kws.pruned.onnx',
          reference: 'kws.onnx',
          maxBytes: '1 MB',
          maxGzipBytes: '1 MB',
          maxParams: 100000,
          maxNnz: 40000,
          minCosine: 0.5,
          samples: 4,
          maxLatencyP50Ms: '10 s',
          maxPeakMemoryBytes: '4 GB',
          warmup: 1,
          runs: 3,
          repeat: 1,
        },
        { name: 'too tight', model: 'kws.pruned.onnx', maxBytes: '1 kB' },
      ],
    }),
  );
});

describe('prune --budget and check share one measurement', () => {
  it('prune --budget --json prints one document whose "budget" is what check --json prints', async () => {
    // GitHub Actions annotations must not leak into the one JSON document.
    const pruned = await runCli(['prune', 'kws.onnx', '-o', 'kws.pruned.onnx', '--sparsity', '0.7', '--method', 'magnitude', '--allocation', 'uniform', '--budget', 'budget.json', '--json'], {
      cwd: dir,
      env: { GITHUB_ACTIONS: 'true' },
    });
    expect(pruned.code, pruned.stderr).toBe(1);
    const doc = pruned.json<{ output: { path: string; bytes: number }; weights: unknown[]; budget: CheckJson }>();
    expect(doc.output.path).toBe('kws.pruned.onnx');
    expect(doc.weights.length).toBeGreaterThan(0);
    expect(doc.budget.passed).toBe(false);
    expect(pruned.stderr).toMatch(/specprune: checking wake word/);

    const checked = await runCli(['check', '--budget', 'budget.json', '--json'], { cwd: dir });
    expect(checked.code, checked.stderr).toBe(1);
    const check = checked.json<CheckJson>();
    expect(withoutTimings(doc.budget)).toEqual(withoutTimings(check));
    // The comparison covers real measurements, not empty documents.
    const metrics = doc.budget.results.map((r) => `${r.budget}/${r.metric}/${r.passed}`);
    expect(metrics).toEqual([
      'wake word/bytes/true',
      'wake word/gzipBytes/true',
      'wake word/params/true',
      'wake word/nnz/true',
      'wake word/latencyP50Ms/true',
      'wake word/peakMemoryBytes/true',
      'wake word/cosine/true',
      'too tight/bytes/false',
    ]);
    const bytes = doc.budget.results.find((r) => r.metric === 'bytes')!;
    expect(bytes.actual).toBe(doc.output.bytes);
    const latency = doc.budget.results.find((r) => r.metric === 'latencyP50Ms')!;
    expect(latency.actual).toBeGreaterThan(0);
  }, 120_000);

  it('prune --budget without --json renders the prune summary, then the check table', async () => {
    const result = await runCli(['prune', 'kws.onnx', '-o', 'kws.pruned.onnx', '--method', 'magnitude', '--allocation', 'uniform', '--budget', 'budget.json'], {
      cwd: dir,
      env: { GITHUB_ACTIONS: 'true' },
    });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toMatch(/weights pruned to .* sparsity/);
    expect(result.stdout).toMatch(/^::error file=kws\.pruned\.onnx,title=specprune budget too tight::bytes is/m);
    expect(result.stdout).toMatch(/too tight\s+bytes .* FAIL/);
    expect(result.stdout).toMatch(/1 of 8 limits failed: too tight bytes\n$/);
    expect(result.stdout.indexOf('weights pruned')).toBeLessThan(result.stdout.indexOf('too tight'));
  }, 120_000);
});
