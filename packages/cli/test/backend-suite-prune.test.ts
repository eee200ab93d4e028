import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKEND_DATA, backendModelsWithWeights } from './backend-models.js';
import { runCli, tempDir } from './helpers.js';

describe("ONNX's backend test models through prune", () => {
  it('prunes every model that holds a weight: exit 0 (written model loads, checked by onnx.checker after the file) or 2 with a reason, never an internal error', async () => {
    const models = backendModelsWithWeights();
    expect(models.length).toBeGreaterThan(25);
    const dir = tempDir();
    const outcomes: Record<number, string[]> = {};
    for (const [i, model] of models.entries()) {
      const out = path.join(dir, `${i}.onnx`);
      const result = await runCli(['prune', model, '-o', out, '--sparsity', '0.5', '--min-params', '0', '--method', 'magnitude', '--allocation', 'uniform', '--json']);
      (outcomes[result.code] ??= []).push(`${path.relative(BACKEND_DATA, model)}: ${result.stderr.trim().split('\n').at(-1)}`);
      if (result.code === 0) {
        expect(existsSync(out), model).toBe(true);
        const doc = result.json<{ fidelity: { measured: boolean; minCosine?: number } }>();
        if (doc.fidelity.measured) expect(doc.fidelity.minCosine, model).toBeGreaterThan(-1.01);
      } else expect(existsSync(out), model).toBe(false);
    }
    expect(outcomes[70] ?? [], 'internal errors').toEqual([]);
    expect(Object.keys(outcomes).filter((c) => c !== '0' && c !== '2'), JSON.stringify(outcomes)).toEqual([]);
    // Nearly all of them prune; the rest name their reason.
    expect((outcomes[0] ?? []).length / models.length, JSON.stringify(outcomes[2] ?? [])).toBeGreaterThan(0.9);
  }, 300_000);
});
