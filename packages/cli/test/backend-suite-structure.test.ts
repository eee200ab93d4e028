import { existsSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { BACKEND_DATA, backendModelsWithWeights } from './backend-models.js';
import { runCli, tempDir } from './helpers.js';

/** Output names of a model as onnxruntime-node loads it. */
async function outputsOf(file: string): Promise<string[]> {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 4 });
  try {
    return [...session.outputNames];
  } finally {
    await session.release();
  }
}

describe("ONNX's backend test models through structured pruning", () => {
  it('--structure channels: every model that holds a weight exits 0 (written model loads, same outputs, shapes checked by the output check, onnx.checker by the setup file) or 2 with a reason; never an internal error', async () => {
    const models = backendModelsWithWeights();
    expect(models.length).toBeGreaterThan(25);
    const dir = tempDir();
    const outcomes: Record<number, string[]> = {};
    let removedSomewhere = 0;
    for (const [i, model] of models.entries()) {
      const out = path.join(dir, `${i}.onnx`);
      const result = await runCli(['prune', model, '-o', out, '--structure', 'channels', '--flops', '0.75', '--min-params', '0', '--json']);
      (outcomes[result.code] ??= []).push(`${path.relative(BACKEND_DATA, model)}: ${result.stderr.trim().split('\n').at(-1)}`);
      if (result.code !== 0) {
        expect(existsSync(out), model).toBe(false);
        continue;
      }
      expect(existsSync(out), model).toBe(true);
      expect(await outputsOf(out), model).toEqual(await outputsOf(model));
      const doc = result.json<{ structure: { groups: Array<{ channels: { before: number; after: number } }>; intact: Array<{ reason: string }> } }>();
      for (const left of doc.structure.intact) expect(left.reason, model).toMatch(/\w/);
      if (doc.structure.groups.some((g) => g.channels.after < g.channels.before)) removedSomewhere++;
    }
    expect(outcomes[70] ?? [], 'internal errors').toEqual([]);
    expect(Object.keys(outcomes).filter((c) => c !== '0' && c !== '2'), JSON.stringify(outcomes)).toEqual([]);
    // Most of these models are single operators whose weights feed the graph output directly: nothing can be
    // removed from them, and they must come through unchanged rather than broken.
    expect((outcomes[0] ?? []).length / models.length, JSON.stringify(outcomes[2] ?? [])).toBeGreaterThan(0.9);
    console.log(`structured: ${models.length} models, removed channels in ${removedSomewhere}; outcomes ${JSON.stringify(Object.fromEntries(Object.entries(outcomes).map(([k, v]) => [k, v.length])))}; exit 2: ${JSON.stringify(outcomes[2] ?? [])}`);
  }, 300_000);
});
