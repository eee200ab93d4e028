import { countNonzero, findWeights, measureSizes, readModel } from '@specprune/onnx-io/node';
import { evaluate } from '../eval/evaluate.js';
import type { Budget, Metric } from './budget.js';

/** Latency/memory measurement on a target; provided by device-runner (injected so tests can count calls). */
export type BenchFn = (budget: Budget, signal?: AbortSignal) => Promise<{ latencyP50Ms: number; latencyP90Ms: number; peakMemoryBytes: number }>;

/** Measures the metrics a budget limits (and only those: latency and fidelity are expensive); `signal` stops a benchmark. */
export async function measureBudget(budget: Budget, bench: BenchFn, signal?: AbortSignal): Promise<Partial<Record<Metric, number>>> {
  const wanted = new Set(budget.limits.map((l) => l.metric));
  const actual: Partial<Record<Metric, number>> = {};
  if (wanted.has('bytes') || wanted.has('gzipBytes') || wanted.has('brotliBytes')) {
    const sizes = await measureSizes(budget.modelPath);
    actual.bytes = sizes.bytes;
    actual.gzipBytes = sizes.gzipBytes;
    actual.brotliBytes = sizes.brotliBytes;
  }
  if (wanted.has('params') || wanted.has('nnz')) {
    const model = readModel(budget.modelPath, { label: budget.model });
    const weights = findWeights(model);
    actual.params = weights.reduce((s, w) => s + w.numel, 0);
    actual.nnz = weights.reduce((s, w) => s + countNonzero(model, w), 0);
  }
  if (wanted.has('latencyP50Ms') || wanted.has('latencyP90Ms') || wanted.has('peakMemoryBytes')) {
    Object.assign(actual, await bench(budget, signal));
  }
  if ((wanted.has('cosine') || wanted.has('top1Agreement')) && budget.referencePath) {
    const result = await evaluate(
      { file: budget.referencePath, label: budget.reference! },
      { file: budget.modelPath, label: budget.model },
      { ...(budget.inputs ? { inputs: budget.inputs } : {}), samples: budget.samples, shapes: budget.shapes, values: budget.values, seed: 0 },
    );
    // The weakest output decides.
    actual.cosine = Math.min(...result.outputs.map((o) => o.cosine));
    const top1 = result.outputs.map((o) => o.top1Agreement).filter((v): v is number => v !== null);
    if (top1.length) actual.top1Agreement = Math.min(...top1);
  }
  return actual;
}
