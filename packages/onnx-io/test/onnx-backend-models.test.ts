/**
 * ONNX's own backend test models (Debian libonnx-testdata, 1,072 models over every operator): each goes
 * through `specprune inspect --json` (exit 0, or 2 with a one-sentence reason, never an internal error),
 * and a lossless rewrite: every float weight re-encoded through updateWeight + serializeModel must give a
 * file python-onnx reads to the same ModelProto (tensors compared by value, one python process for all).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findWeights, readModel, readWeight, serializeModel, updateWeight, type GraphInfo, type NodeInfo } from '../src/node.js';
import { runCli } from './cli-run.js';
import { PYTHON, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = '/usr/share/libonnx-testdata/data';

function backendModels(): string[] {
  if (!existsSync(DATA)) return [];
  const files: string[] = [];
  for (const suite of readdirSync(DATA).sort()) {
    for (const test of readdirSync(path.join(DATA, suite)).sort()) {
      const file = path.join(DATA, suite, test, 'model.onnx');
      if (existsSync(file)) files.push(file);
    }
  }
  return files;
}

const models = backendModels();

function forEachNode(graph: GraphInfo, visit: (node: NodeInfo) => void): void {
  for (const node of graph.nodes) {
    visit(node);
    for (const attribute of node.attributes) for (const sub of attribute.graphs) forEachNode(sub, visit);
  }
}

// Not skipped when the package is missing: the count below fails instead (.ci/run installs libonnx-testdata).
describe('ONNX backend test models (libonnx-testdata)', () => {
  it(`all ${models.length} models: inspect exits 0 (or 2 with a reason) and a rewrite of every weight is lossless`, async () => {
    expect(models.length, `ONNX's backend test models not found in ${DATA}: apt-get install libonnx-testdata`).toBeGreaterThan(1000);
    const out = tempDir('specprune-backend-');
    const refused: string[] = [];
    const pairs: string[] = [];
    let weights = 0;
    for (const [i, file] of models.entries()) {
      const result = await runCli(['inspect', file, '--json'], out);
      if (result.code === 2) {
        expect(result.stderr, file).toMatch(/^specprune: .+\.\n$/);
        refused.push(`${file}: ${result.stderr.trim()}`);
        continue;
      }
      expect(result.code, `${file}: ${result.stderr}`).toBe(0);
      const report = JSON.parse(result.stdout) as { totals: { count: number } };
      const model = readModel(file);
      const found = findWeights(model);
      expect(found.length, file).toBe(report.totals.count);
      for (const weight of found) {
        // float64 would round through float32; everything else round-trips exactly.
        if (weight.dtype === 'float64') continue;
        updateWeight(model, weight, readWeight(model, weight), 'dense');
        weights++;
      }
      // Re-encode every node (and so every enclosing graph's and the model's lengths), not only weights.
      forEachNode(model.graph, (node) => {
        const first = node.message.fields[0];
        if (first) node.message.replaceField(first, [model.bytes.subarray(first.start, first.end)]);
      });
      const rewritten = path.join(out, `${i}.onnx`);
      writeFileSync(rewritten, serializeModel(model));
      pairs.push(`${file}\t${rewritten}`);
    }
    // The suite is valid ONNX: nothing should be refused.
    expect(refused).toEqual([]);
    expect(weights).toBeGreaterThan(20);
    const lines = execFileSync(PYTHON, [path.join(here, 'fixtures/compare_canonical.py')], { input: pairs.join('\n') + '\n', maxBuffer: 64 << 20 })
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; equal: boolean; error?: string });
    expect(lines).toHaveLength(pairs.length);
    expect(lines.filter((l) => !l.equal)).toEqual([]);
  }, 120_000);
});
