import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { findWeights, parseModel, readWeight, serializeModel, setMetadata } from '@specprune/onnx-io';
import { beforeAll, describe, expect, it } from 'vitest';
import { prune, PruneInputError, PruneOptionError, type OrtRuntime, type PruneEstimate, type PruneProgress } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const runtime = ort as unknown as OrtRuntime;
let bytes: Uint8Array;

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'specprune-pipeline-'));
  const file = path.join(dir, 'small.onnx');
  execFileSync('/usr/bin/python3', [path.join(here, 'fixtures/small_cnn.py'), file]);
  bytes = new Uint8Array(readFileSync(file));
});

/** Zeros and elements over the weights the pipeline selected, read back from the pruned bytes. */
function sparsityOf(model: Uint8Array, names: readonly string[]): number {
  const parsed = parseModel(model);
  let zeros = 0;
  let numel = 0;
  for (const w of findWeights(parsed).filter((w) => names.includes(w.name))) {
    const values = readWeight(parsed, w);
    numel += values.length;
    for (const v of values) if (v === 0) zeros++;
  }
  return zeros / numel;
}

/** Two worker lanes run in this thread, each keeping the statistics handed to it (as a worker does). */
async function twoLanes() {
  const { doWeightWork } = await import('../src/index.js');
  const held = [new Map(), new Map()];
  return {
    size: 2,
    async run(work: Parameters<typeof doWeightWork>[0], lane: number) {
      if ('stats' in work && work.stats) held[lane]!.set(work.key, work.stats);
      return doWeightWork(work, held[lane]!.get(work.key));
    },
  };
}

describe('the pipeline as a library (bytes + options + runtime -> bytes + report)', () => {
  const methods = ['magnitude', 'l2', 'spectral'];
  const allocations = ['uniform', 'global', 'spectral'];
  const granularities = ['unstructured', '2:4', 'block:2x2'];
  for (const method of methods) {
    for (const allocation of allocations) {
      for (const granularity of granularities) {
        it(`${method} × ${allocation} × ${granularity}: reaches the sparsity, keeps the pattern, and the result runs with its fidelity reported`, async () => {
          const result = await prune(bytes, { method, allocation, granularity, sparsity: 0.5, minParams: 0 }, { runtime, label: 'small.onnx' });
          const report = result.report;
          expect(report.method).toBe(method);
          expect(report.allocation).toBe(allocation);
          expect(report.granularity).toBe(granularity);
          const names = report.weights.map((w) => w.name);
          expect(names.sort()).toEqual(['W1', 'W2', 'W3', 'W4']);
          // N:M and block patterns round per group, so the overall sparsity lands near, not at, the target.
          expect(Math.abs(sparsityOf(result.model, names) - 0.5)).toBeLessThan(granularity === 'unstructured' ? 0.01 : 0.06);
          expect(report.sparsity).toBeCloseTo(sparsityOf(result.model, names), 6);
          expect(report.fidelity.measured).toBe(true);
          if (report.fidelity.measured) {
            expect(report.fidelity.shapes).toEqual({ x: [1, 3, 12, 12] });
            expect(report.fidelity.minCosine).toBeGreaterThan(0);
            expect(report.fidelity.minCosine).toBeLessThan(1);
          }
          // The batch dim was filled with 1, and the report says so.
          expect(report.warnings.join('\n')).toMatch(/input x: dim 0 \("batch"\) = 1/);
          const session = await ort.InferenceSession.create(result.model);
          const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(432).fill(0.5), [1, 3, 12, 12]) });
          expect(out.y!.dims).toEqual([1, 10]);
          await session.release();
          if (granularity === '2:4') {
            const parsed = parseModel(result.model);
            const w3 = readWeight(parsed, findWeights(parsed).find((w) => w.name === 'W3')!);
            // W3 [32, 800] under transB: rows are outputs, groups of 4 along the input dimension.
            for (let i = 0; i < w3.length; i += 4) expect(w3.subarray(i, i + 4).filter((v) => v !== 0).length).toBeLessThanOrEqual(2);
          }
        });
      }
    }
  }

  it('is deterministic: same bytes and seed give identical bytes, another seed other bytes', async () => {
    const run = async (seed: number) => (await prune(bytes, { method: 'l2', sparsity: 0.6, minParams: 0, seed }, { runtime })).model;
    const [a, b, c] = [await run(1), await run(1), await run(2)];
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(c))).not.toBe(0);
  });

  it('reports progress per phase, logs, timings, and stops when aborted', async () => {
    const events: PruneProgress[] = [];
    const logs: string[] = [];
    const result = await prune(bytes, { minParams: 0 }, { runtime, onProgress: (p) => events.push(p), onLog: (m) => logs.push(m) });
    const phases = new Set(events.map((e) => e.phase));
    expect([...phases]).toEqual(expect.arrayContaining(['statistics', 'sensitivity scan', 'pruning', 'check']));
    const last = events.filter((e) => e.phase === 'pruning').at(-1)!;
    expect(last.done).toBe(last.total);
    // Each long phase reports its start, so displays time it from there (the final pass hands work out ahead).
    for (const phase of ['statistics', 'sensitivity scan', 'pruning']) expect(events.find((e) => e.phase === phase)!.done, phase).toBe(0);
    expect(logs.some((l) => /^pruning 4 of 4 weights/.test(l))).toBe(true);
    expect(Object.keys(result.report.timings)).toEqual(expect.arrayContaining(['statistics', 'scan', 'prune', 'check', 'total']));

    const controller = new AbortController();
    const reason = new Error('stop here');
    const stopped = prune(bytes, { minParams: 0 }, {
      runtime,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'sensitivity scan' && p.done === 2) controller.abort(reason);
      },
    });
    await expect(stopped).rejects.toBe(reason);
  });

  it('names the option in its errors (options.x), and refuses what it cannot measure', async () => {
    await expect(prune(bytes, { sparsity: 1.5 }, { runtime })).rejects.toThrow(/^options\.sparsity 1\.5 is out of range; use a number in \[0, 1\)/);
    const error = await prune(bytes, { method: 'refit' }, { runtime }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PruneOptionError);
    expect((error as PruneOptionError).option).toBe('method');
    expect((error as PruneOptionError).render((o) => `--${o}`)).toMatch(/--method refit prunes by what the layers' inputs look like; give sample inputs with --calibration/);
    await expect(prune(bytes, { shape: { x: [1, 3, 12] } }, { runtime })).rejects.toBeInstanceOf(PruneInputError);
    await expect(prune(new Uint8Array([1, 2, 3]), {}, { runtime })).rejects.toMatchObject({ exitCode: 2 });
  });

  it('prunes with calibration samples given as feeds (data-aware re-fit)', async () => {
    const feeds = Array.from({ length: 6 }, (_, k) => ({ x: new ort.Tensor('float32', Float32Array.from({ length: 432 }, (_, i) => Math.sin(i * (k + 1))), [1, 3, 12, 12]) }));
    const result = await prune(bytes, { minParams: 0, method: 'refit', allocation: 'uniform' }, { runtime, calibration: feeds as never });
    expect(result.report.calibration).toMatchObject({ source: 'calibration', samples: 6, observed: 4 });
    expect(result.report.weights.every((w) => w.method === 'refit')).toBe(true);
    expect(result.report.fidelity).toMatchObject({ measured: true, inputs: 'calibration' });
  });
});

describe('handing the pruned model over before its check (onPruned)', () => {
  it('gives the model the prune returns, once, after the last weight and before the check; the check loads bytes taken before', async () => {
    for (const options of [{ sparsity: 0.5 }, { structure: 'channels', flops: 0.6 }, { structure: 'channels', flops: 0.6, sparsity: 0.3 }]) {
      const events: string[] = [];
      const handed: unknown[] = [];
      const result = await prune(bytes, options, {
        runtime,
        onProgress: (p: PruneProgress) => events.push(p.phase),
        onPruned: (model) => {
          handed.push(model);
          events.push('pruned');
          // What the caller may do meanwhile (write it with external data, which moves tensors out of the
          // model) changes the model, not the bytes checked and returned.
          setMetadata(model, { 'changed.after.handover': 'yes' });
        },
      });
      const label = JSON.stringify(options);
      expect(handed, label).toHaveLength(1);
      expect(handed[0], label).toBe(result.onnx);
      const at = events.indexOf('pruned');
      if (!('structure' in options)) {
        expect(events.lastIndexOf('pruning'), label).toBeLessThan(at);
        expect(events.indexOf('check'), label).toBeGreaterThan(at);
      }
      expect(result.report.fidelity.measured, label).toBe(true);
      expect(parseModel(result.model).metadata.map((m) => m.key), label).not.toContain('changed.after.handover');
      expect(parseModel(serializeModel(result.onnx)).metadata.map((m) => m.key), label).toContain('changed.after.handover');
      const plain = await prune(bytes, options, { runtime });
      expect(Buffer.from(result.model).equals(Buffer.from(plain.model)), label).toBe(true);
    }
  }, 120_000);
});

describe('worker lanes', () => {
  it('are balanced by estimated work per phase (the Gemm, most of the re-fits, and the depthwise conv, most of the statistics, on different lanes), and the bytes do not depend on them', async () => {
    const { doWeightWork } = await import('../src/index.js');
    // A pool that runs in place but keeps statistics per lane, as the worker threads do, and records the lanes.
    const lanes = new Map<string, Set<number>>();
    const held = [new Map(), new Map()];
    const pool = {
      size: 2,
      async run(work: Parameters<typeof doWeightWork>[0], lane: number) {
        (lanes.get(work.key) ?? lanes.set(work.key, new Set()).get(work.key)!).add(lane);
        if ('stats' in work && work.stats) held[lane]!.set(work.key, work.stats);
        const stats = held[lane]!.get(work.key);
        if (!stats) throw new Error(`no statistics for ${work.key} on lane ${lane}`);
        const result = doWeightWork(work, stats);
        if ('last' in work && work.last) {
          lasts.push(work.key);
          held[lane]!.delete(work.key);
        }
        return result;
      },
    };
    const lasts: string[] = [];
    const options = { sparsity: 0.5, minParams: 0 };
    const pooled = await prune(bytes, options, { runtime, label: 'small.onnx', workers: pool });
    const inPlace = await prune(bytes, options, { runtime, label: 'small.onnx' });
    expect(Buffer.from(pooled.model).equals(Buffer.from(inPlace.model))).toBe(true);
    // Every weight stays on one lane. The Gemm (32 x 800: an 800-input factor, most of the re-fits) and the
    // depthwise conv (8 groups of short vectors: most of the statistics) go to different lanes, so both lanes
    // work in both phases.
    for (const used of lanes.values()) expect(used.size).toBe(1);
    const laneOf = (name: string) => [...lanes.get([...lanes.keys()].find((k) => k.endsWith(`/${name}`))!)!][0];
    expect(laneOf('W2')).toBe(1 - laneOf('W3')!);
    // Each weight's final work is marked as its last (once), and no statistics are held after the run.
    expect(lasts.sort()).toEqual([...lanes.keys()].sort());
    expect(held.map((m) => m.size)).toEqual([0, 0]);
  });

  it('give a revised estimate when the scan\'s timed measurement moves it by more than a quarter (a first statistics run slowed by 400 ms)', async () => {
    // The first statistics run is the first estimate's basis: slowed, it predicts measurements far longer than the scan's.
    let slow = true;
    const slowed: OrtRuntime = {
      Tensor: runtime.Tensor,
      InferenceSession: {
        async create(model, options) {
          const session = await runtime.InferenceSession.create(model, options);
          const run = session.run.bind(session);
          return Object.assign(session, { run: async (feeds: Parameters<typeof run>[0]) => (slow && (await new Promise((resolve) => setTimeout(resolve, 400))), run(feeds)) });
        },
      },
    };
    // Statistics on worker lanes: the first estimate is made after the first statistics sample.
    const pool = await twoLanes();
    const told: PruneEstimate[] = [];
    const result = await prune(bytes, { sparsity: 0.5, minParams: 0 }, {
      runtime: slowed,
      workers: pool,
      onProgress: (p) => {
        if (p.phase === 'statistics' && p.done >= 1) slow = false;
      },
      onEstimate: (estimate) => told.push(estimate),
    });
    expect(told).toHaveLength(2);
    const [first, second] = told as [PruneEstimate, PruneEstimate];
    expect(first.revised).toBeUndefined();
    expect(second).toEqual({ ...first, revised: second.revised });
    const revised = second.revised!;
    // Made later, from the scan's timed measurement: far shorter than the slowed first, with its own phases to come.
    expect(revised.at).toBeGreaterThan(first.at);
    expect(revised.total).toBeLessThan(0.75 * first.total);
    expect(revised).not.toHaveProperty('statistics');
    expect(Math.abs(revised.total - (revised.at + revised.scan! + revised.prune + revised.check))).toBeLessThan(0.25);
    expect(result.report.estimate).toEqual(second);
  });

  it('give the run\'s estimate once, after the first statistics sample and before the scan, from its run and the lanes\' work', async () => {
    const pool = await twoLanes();
    const told: Array<{ estimate: PruneEstimate; after: PruneProgress | undefined }> = [];
    let lastEvent: PruneProgress | undefined;
    const result = await prune(bytes, { sparsity: 0.5, minParams: 0 }, { runtime, workers: pool, onProgress: (p) => (lastEvent = p), onEstimate: (estimate) => told.push({ estimate, after: lastEvent }) });
    // Once, or twice where the scan's timed measurement moves it by more than a quarter (the revision, tested below).
    expect(told.length).toBeGreaterThanOrEqual(1);
    expect(told.length).toBeLessThanOrEqual(2);
    const { estimate, after } = told[0]!;
    expect(after).toMatchObject({ phase: 'statistics', done: 1 });
    expect(result.report.estimate).toEqual(told.length === 2 ? { ...estimate, revised: told[1]!.estimate.revised } : estimate);
    for (const phase of ['statistics', 'scan', 'prune', 'check'] as const) expect(estimate[phase], phase).toBeGreaterThan(0);
    // The total is the time spent so far plus every phase still to come.
    const sum = estimate.at + estimate.statistics! + estimate.scan! + estimate.prune + estimate.check;
    expect(Math.abs(estimate.total - sum)).toBeLessThan(0.25);

    // Without workers, from the scan's first timed measurement (statistics already built); nothing measured, no estimate.
    const inPlace = await prune(bytes, { sparsity: 0.5, minParams: 0 }, { runtime });
    expect(inPlace.report.estimate?.statistics).toBeUndefined();
    expect(inPlace.report.estimate!.scan).toBeGreaterThan(0);
    expect(inPlace.report.estimate!.at).toBeGreaterThan(0);
    const plain = await prune(bytes, { sparsity: 0.5, minParams: 0, method: 'magnitude', allocation: 'uniform' }, { runtime, onEstimate: () => expect.unreachable('nothing is measured') });
    expect(plain.report.estimate).toBeUndefined();
  });

  it('a weight\'s factor computed again for its final work, or kept from its scan: the same result as computed afresh', async () => {
    const { doWeightWork } = await import('../src/index.js');
    const { createInputStats, accumulateInputs, packInputStats, createRandom } = await import('@specprune/core');
    const rows = 24;
    const cols = 37;
    const random = createRandom(5);
    const original = Float32Array.from({ length: rows * cols }, () => random.nextGaussian());
    const inputs = Float32Array.from({ length: 200 * cols }, (_, i) => random.nextGaussian() * (1 + (i % cols) / 10));
    const statsOf = () => {
      const stats = createInputStats(cols, 1, true);
      accumulateInputs(stats, 0, inputs, 200);
      packInputStats(stats);
      return stats;
    };
    const view = { blocks: [{ offset: 0, rows, cols, rowStride: cols, colStride: 1 }] } as never;
    const work = { key: 'main/W', original, view, method: 'spectral', granularity: { kind: 'unstructured' }, seed: 1, measureSpectralError: false } as const;
    const reused = statsOf();
    const { heldFactors } = await import('../src/engine.js');
    doWeightWork({ ...work, kind: 'scan', zeros: [100, 300] }, reused);
    expect(heldFactors(reused)).toBe(0);
    const after = doWeightWork({ ...work, kind: 'final', zeros: [400], last: true }, reused);
    const fresh = doWeightWork({ ...work, kind: 'final', zeros: [400], last: true }, statsOf());
    expect(after.results[0]!.method).toBe('refit');
    expect(Buffer.from(after.results[0]!.values.buffer).equals(Buffer.from(fresh.results[0]!.values.buffer))).toBe(true);
    expect(after.results[0]!.reconstructionError).toBe(fresh.results[0]!.reconstructionError);
    // The scan's work may keep its factor for the final work (weights whose factor is most of a long final
    // work): the same result again.
    const kept = statsOf();
    doWeightWork({ ...work, kind: 'scan', zeros: [100, 300], keepFactors: true }, kept);
    expect(heldFactors(kept)).toBe(1);
    const fromKept = doWeightWork({ ...work, kind: 'final', zeros: [400], last: true }, kept);
    expect(heldFactors(kept)).toBe(0);
    expect(Buffer.from(fromKept.results[0]!.values.buffer).equals(Buffer.from(fresh.results[0]!.values.buffer))).toBe(true);
    expect(fromKept.results[0]!.reconstructionError).toBe(fresh.results[0]!.reconstructionError);
  });
});
