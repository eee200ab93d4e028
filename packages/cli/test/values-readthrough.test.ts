/**
 * The rest of the tool reads through --values encodings: spectrum, check and a second prune see the decoded
 * weights, and those are what prune's JSON says (each weight's `values`), checked against a numpy rounding of the
 * same pruned float weights (packages/onnx-io/test/fixtures/values_oracle.py).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from './helpers.js';

const ORACLE = path.join(ROOT, 'packages/onnx-io/test/fixtures/values_oracle.py');

interface PruneJson {
  weights: Array<{ name: string; storage: string; values: string; sparsity: number; frobeniusError: number }>;
}
interface SpectrumJson {
  weights: Array<{ name: string; sparsity: number; spectralError: number; frobeniusError: number }>;
}

let dir: string;
const file = (name: string) => path.join(dir, name);

beforeAll(() => {
  dir = tempDir('specprune-values-read-');
  // float64, float32 (Gemm transB=1, Conv with an all-zero channel) and float16 weights of odd sizes.
  execFileSync('/usr/bin/python3', [ORACLE, 'make', file('source.onnx')], { stdio: 'pipe' });
});

describe.each(['bitmask', 'dense'])('an int8-values model (%s storage)', (storage) => {
  it('decodes to the numpy rounding of the same pruned weights at the precision the JSON names; spectrum, check and a second prune read it', async () => {
    const common = [file('source.onnx'), '--sparsity', '0.5', '--method', 'magnitude', '--min-params', '1', '--seed', '3', '--json'];
    // The float values stored dense: the oracle's input.
    const floats = await runCli(['prune', ...common, '--storage', 'dense', '-o', file(`${storage}.f32.onnx`)]);
    expect(floats.code, floats.stderr).toBe(0);
    const result = await runCli(['prune', ...common, '--storage', storage, '-o', file(`${storage}.int8.onnx`), '--values', 'int8']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.weights.map((w) => w.storage)).toEqual(doc.weights.map(() => storage));
    expect(doc.weights.some((w) => w.values === 'int8')).toBe(true);
    // The same mask as with float values (the precision is chosen after pruning).
    expect(doc.weights.map((w) => w.sparsity)).toEqual(floats.json<PruneJson>().weights.map((w) => w.sparsity));

    const forms = Object.fromEntries(doc.weights.map((w) => [w.name, w.values]));
    // The text table says the same per weight, in its storage column.
    const text = await runCli(['prune', ...common.filter((a) => a !== '--json'), '--storage', storage, '-o', file(`${storage}.text.onnx`), '--values', 'int8']);
    expect(text.code, text.stderr).toBe(0);
    for (const w of doc.weights) {
      const row = text.stdout.split('\n').find((line) => line.startsWith(`${w.name} `))!;
      expect(row.trimEnd().endsWith(w.values === 'float32' ? ` ${storage}` : ` ${storage}, ${w.values} values`), row).toBe(true);
    }
    execFileSync('/usr/bin/python3', [ORACLE, 'round', file(`${storage}.f32.onnx`), JSON.stringify(forms), file(`${storage}.numpy.onnx`)], { stdio: 'pipe' });
    const spectrum = await runCli(['spectrum', file(`${storage}.numpy.onnx`), file(`${storage}.int8.onnx`), '--json']);
    expect(spectrum.code, spectrum.stderr).toBe(0);
    const rows = spectrum.json<SpectrumJson>().weights;
    expect(rows.map((r) => r.name).sort()).toEqual(doc.weights.map((w) => w.name).sort());
    for (const row of rows) {
      expect(row.frobeniusError, row.name).toBe(0);
      expect(row.sparsity, row.name).toBe(doc.weights.find((w) => w.name === row.name)!.sparsity);
    }
    // The errors prune reports are those of the weights as stored (pruning and rounding), as spectrum measures
    // them against the source; also from the in-place magnitude path (no spectral error), which adds them up.
    const stored = (await runCli(['spectrum', file('source.onnx'), file(`${storage}.int8.onnx`), '--json'])).json<SpectrumJson>().weights;
    for (const w of doc.weights) expect(w.frobeniusError, w.name).toBeCloseTo(stored.find((r) => r.name === w.name)!.frobeniusError, 9);
    const inPlace = await runCli(['prune', ...common, '--no-spectral-error', '--storage', storage, '-o', file(`${storage}.inplace.onnx`), '--values', 'int8']);
    expect(inPlace.code, inPlace.stderr).toBe(0);
    const inPlaceStored = (await runCli(['spectrum', file('source.onnx'), file(`${storage}.inplace.onnx`), '--json'])).json<SpectrumJson>().weights;
    for (const w of inPlace.json<PruneJson>().weights) expect(w.frobeniusError, w.name).toBeCloseTo(inPlaceStored.find((r) => r.name === w.name)!.frobeniusError, 9);
    expect(inPlace.json<PruneJson>().weights.some((w) => w.values !== 'float32' && w.frobeniusError > 0)).toBe(true);
    // Against the original, int8 rounding shows as error on the int8 weights.
    const moved = (await runCli(['spectrum', file(`${storage}.f32.onnx`), file(`${storage}.int8.onnx`), '--json'])).json<SpectrumJson>().weights;
    for (const w of doc.weights.filter((x) => x.values === 'int8' && x.name !== 'wt')) expect(moved.find((r) => r.name === w.name)!.frobeniusError, w.name).toBeGreaterThan(0);

    // check counts the decoded nonzeros and runs the model against the original.
    const nnz = Number(execFileSync('/usr/bin/python3', ['-c', 'import onnx, sys, numpy as np; from onnx import numpy_helper as h; print(sum(int(np.count_nonzero(h.to_array(t))) for t in onnx.load(sys.argv[1]).graph.initializer))', file(`${storage}.numpy.onnx`)]).toString());
    const budget = file(`${storage}.budget.json`);
    writeFileSync(budget, JSON.stringify({ budgets: [{ model: file(`${storage}.int8.onnx`), reference: file('source.onnx'), maxNnz: nnz, minCosine: 0.5 }] }));
    const check = await runCli(['check', '--budget', budget, '--json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const measured = check.json<{ results: Array<{ metric: string; actual: number | null }> }>().results;
    expect(measured.find((r) => r.metric === 'nnz')?.actual).toBe(nnz);

    // Pruned again at the same sparsity with int8 values: a weight already on the int8 (or float16) grid stays
    // where it is; one kept higher may now go lower (measured against this model, whose other weights are
    // pruned already), and the JSON says so.
    const again = await runCli(['prune', file(`${storage}.int8.onnx`), ...common.slice(1), '--storage', storage, '-o', file(`${storage}.again.onnx`), '--values', 'int8']);
    expect(again.code, again.stderr).toBe(0);
    // Weights already sparser than 70% move nothing up to there: the scan measures them further, and says so.
    expect(again.stderr).toMatch(/scan: \d+ weight\(s\) did not move the outputs up to 70%, also measured at 90%/);
    const againForms = Object.fromEntries(again.json<PruneJson>().weights.map((w) => [w.name, w.values]));
    const same = (await runCli(['spectrum', file(`${storage}.int8.onnx`), file(`${storage}.again.onnx`), '--json'])).json<SpectrumJson>().weights;
    const order = ['int8', 'float16', 'float32'];
    for (const row of same) {
      if (againForms[row.name] === forms[row.name]) expect(row.frobeniusError, row.name).toBeLessThanOrEqual(1e-6);
      else expect(order.indexOf(againForms[row.name]!), row.name).toBeLessThan(order.indexOf(forms[row.name]!));
    }
  });
});
