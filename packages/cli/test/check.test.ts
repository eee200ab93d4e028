import { copyFileSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODELS, runCli, tempDir } from './helpers.js';

let dir: string;

function writeBudget(budgets: unknown[], file = 'specprune.budget.json'): void {
  writeFileSync(path.join(dir, file), JSON.stringify({ budgets }, null, 2));
}

beforeAll(async () => {
  dir = tempDir('specprune-check-');
  copyFileSync(MODELS.wakeword, path.join(dir, 'kws.onnx'));
  const pruned = await runCli(['prune', 'kws.onnx', '-o', 'kws.pruned.onnx', '--sparsity', '0.7', '--method', 'magnitude', '--allocation', 'global'], { cwd: dir });
  expect(pruned.code, pruned.stderr).toBe(0);
});

interface CheckJson {
  passed: boolean;
  results: Array<{ model: string; metric: string; limit: number; actual: number; passed: boolean }>;
}

describe('specprune check', () => {
  it('passes (exit 0) when every limit holds, measuring size, nnz, latency, memory and cosine', async () => {
    writeBudget([
      {
        name: 'wake word, phone build',
        model: 'kws.pruned.onnx',
        reference: 'kws.onnx',
        target: 'node',
        maxBytes: '300 kB',
        maxGzipBytes: 300000,
        maxBrotliBytes: '1 MiB',
        maxParams: 100000,
        maxNnz: 40000,
        maxLatencyP50Ms: '1 s',
        maxLatencyP90Ms: 1000,
        maxPeakMemoryBytes: '2 GB',
        minCosine: 0.5,
        warmup: 1,
        runs: 5,
        repeat: 2,
        samples: 4,
      },
    ]);
    const result = await runCli(['check', '--json'], { cwd: dir });
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const doc = result.json<CheckJson>();
    expect(doc.passed).toBe(true);
    const metrics = Object.fromEntries(doc.results.map((r) => [r.metric, r]));
    expect(Object.keys(metrics).sort()).toEqual(['brotliBytes', 'bytes', 'cosine', 'gzipBytes', 'latencyP50Ms', 'latencyP90Ms', 'nnz', 'params', 'peakMemoryBytes'].sort());
    expect(metrics.bytes!.limit).toBe(300000);
    expect(metrics.brotliBytes!.limit).toBe(1048576);
    expect(metrics.bytes!.actual).toBe(readFileSync(path.join(dir, 'kws.pruned.onnx')).length);
    expect(metrics.params!.actual).toBe(77856);
    // last_layer.weight (32 elements) is below --min-params 256 and keeps its 32 nonzeros.
    expect(metrics.nnz!.actual).toBe(77856 - Math.round(0.7 * 77824));
    expect(metrics.latencyP50Ms!.actual).toBeGreaterThan(0);
    expect(metrics.peakMemoryBytes!.actual).toBeGreaterThan(10e6);
    expect(metrics.cosine!.actual).toBeGreaterThan(0.5);
    expect(metrics.cosine!.actual).toBeLessThan(1);
  });

  it('warns when a cosine limit is measured on inputs that barely move the reference (the OCR recogniser on random images), and not otherwise', async () => {
    copyFileSync(path.join(path.dirname(MODELS.paddleCls), 'ch_PP-OCRv4_rec_infer.onnx'), path.join(dir, 'rec.onnx'));
    writeBudget([{ name: 'recogniser', model: 'rec.onnx', reference: 'rec.onnx', minCosine: 0.9, shape: { x: '1x3x48x320' }, samples: 4 }]);
    const blind = await runCli(['check'], { cwd: dir });
    expect(blind.code, blind.stderr + blind.stdout).toBe(0);
    expect(blind.stderr).toMatch(/warning: recogniser: the random inputs barely move rec\.onnx's output softmax_11\.tmp_0 \(\d\.\d% of it differs from one input to another\), so the cosine and top-1 limits say little there; give real, varied samples \("inputs" in the budget\)\./);
    writeBudget([{ name: 'wake word', model: 'kws.pruned.onnx', reference: 'kws.onnx', minCosine: 0.5, samples: 4 }]);
    const moved = await runCli(['check'], { cwd: dir });
    expect(moved.code, moved.stderr + moved.stdout).toBe(0);
    expect(moved.stderr).not.toMatch(/barely move/);
  });

  it('fails (exit 1) naming the violated limit, writes JUnit XML and GitHub annotations', async () => {
    writeBudget([{ name: 'tight', model: 'kws.pruned.onnx', maxBytes: '1 kB', maxNnz: 1e9 }]);
    const junit = path.join(dir, 'reports.xml');
    const result = await runCli(['check', '--junit', junit], { cwd: dir, env: { GITHUB_ACTIONS: 'true' } });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/tight\s+bytes\s+1\.00 kB\s+\S+ kB\s+-\S+ kB over\s+FAIL/);
    expect(result.stdout).toMatch(/tight\s+nnz .* pass/);
    expect(result.stdout).toMatch(/1 of 2 limits failed: tight bytes/);
    expect(result.stdout).toMatch(/^::error file=kws\.pruned\.onnx,title=specprune budget tight::bytes is/m);
    const xml = readFileSync(junit, 'utf8');
    expect(xml.match(/<testcase /g)).toHaveLength(2);
    expect(xml.match(/<failure /g)).toHaveLength(1);
    expect(xml).toMatch(/<testsuites name="specprune check" tests="2" failures="1"/);
  });

  it('reports every problem of a bad budget file at once (exit 2), naming entry and key', async () => {
    writeBudget([
      { name: 'typo', model: 'kws.pruned.onnx', maxByte: 1000 },
      { name: 'units', model: 'kws.pruned.onnx', maxBytes: '300 kb', maxLatencyP50Ms: '5 minutes' },
      { name: 'missing', model: 'nowhere.onnx', maxBytes: 1 },
      { model: 'kws.pruned.onnx', minCosine: 0.9 },
    ]);
    const result = await runCli(['check'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/specprune\.budget\.json has 5 problems/);
    expect(result.stderr).toMatch(/budgets\[0\] \("typo"\): unknown key "maxByte" \(did you mean maxBytes\?\)/);
    expect(result.stderr).toMatch(/budgets\[1\] \("units"\): maxBytes "300 kb" is not valid/);
    expect(result.stderr).toMatch(/budgets\[1\] \("units"\): maxLatencyP50Ms "5 minutes" is not valid/);
    expect(result.stderr).toMatch(/budgets\[2\] \("missing"\): model nowhere\.onnx does not exist/);
    expect(result.stderr).toMatch(/budgets\[3\] \("kws\.pruned\.onnx"\): minCosine\/minTop1Agreement need a "reference"/);
  });

  it('reads the "specprune" key of package.json, and shows deltas against a saved baseline', async () => {
    const sub = tempDir('specprune-check-pkg-');
    copyFileSync(path.join(dir, 'kws.pruned.onnx'), path.join(sub, 'm.onnx'));
    writeFileSync(path.join(sub, 'package.json'), JSON.stringify({ name: 'app', specprune: { budgets: [{ name: 'app', model: 'm.onnx', maxBytes: '1 MB' }] } }));
    const saved = await runCli(['check', '--save-baseline', 'baseline.json'], { cwd: sub });
    expect(saved.code, saved.stderr).toBe(0);
    expect(existsSync(path.join(sub, 'baseline.json'))).toBe(true);
    // The next release grows: swap in the unpruned model.
    copyFileSync(MODELS.wakeword, path.join(sub, 'm.onnx'));
    const compared = await runCli(['check', '--baseline', 'baseline.json', '--json'], { cwd: sub });
    expect(compared.code).toBe(0);
    const r = compared.json<{ results: Array<{ actual: number; baseline: number }> }>().results[0]!;
    expect(r.baseline).toBe(statSync(path.join(dir, 'kws.pruned.onnx')).size);
    expect(r.actual).toBe(statSync(MODELS.wakeword).size);
    expect(r.actual - r.baseline).toBeGreaterThan(10_000);
    const table = await runCli(['check', '--baseline', 'baseline.json'], { cwd: sub });
    expect(table.stdout).toMatch(/vs baseline/);
    expect(table.stdout).toMatch(/\+\d+\.?\d* kB/);
  });

  it('says where to start when there is no budget file', async () => {
    const empty = tempDir('specprune-check-empty-');
    const result = await runCli(['check'], { cwd: empty });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no budget file: create specprune\.budget\.json/);
  });

  it('prune --budget checks right after pruning (exit 1 when the budget fails)', async () => {
    writeFileSync(path.join(dir, 'after.json'), JSON.stringify({ budgets: [{ name: 'after prune', model: 'kws.after.onnx', maxBytes: '1 kB' }] }));
    const result = await runCli(['prune', 'kws.onnx', '-o', 'kws.after.onnx', '--budget', 'after.json', '--allocation', 'uniform'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/after prune\s+bytes .* FAIL/);
  });
});
