import { countNonzero, findWeights, measureSizes, readModel } from '@specprune/onnx-io/node';
import { barelyMovedOutputs, percent } from '@specprune/prune';
import { evaluate } from '../eval/evaluate.js';
import type { Budget, Metric } from './budget.js';

/** Latency/memory measurement on a target; provided by device-runner (injected so tests can count calls). */
export type BenchFn = (budget: Budget, signal?: AbortSignal) => Promise<{ latencyP50Ms: number; latencyP90Ms: number; peakMemoryBytes: number }>;

/** Measures the metrics a budget limits (and only those: latency and fidelity are expensive); `signal` stops a benchmark. */
export async function measureBudget(budget: Budget, bench: BenchFn, signal?: AbortSignal, onLog?: (message: string) => void): Promise<Partial<Record<Metric, number>>> {
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
    // A cosine limit passed on inputs that barely move the reference's output proves little: said, not hidden.
    const blind = barelyMovedOutputs(result.outputs);
    if (blind.length) {
      onLog?.(
        `warning: ${budget.name}: the ${budget.inputs ? 'samples' : 'random inputs'} barely move ${budget.reference}'s output ${blind.map((o) => o.name).join(', ')} (${percent(Math.max(...blind.map((o) => o.referenceVariation!)))} of it differs from one input to another), so the cosine and top-1 limits say little there; give real, varied samples ("inputs" in the budget).`,
      );
    }
    // The weakest output decides.
    actual.cosine = Math.min(...result.outputs.map((o) => o.cosine));
    const top1 = result.outputs.map((o) => o.top1Agreement).filter((v): v is number => v !== null);
    if (top1.length) actual.top1Agreement = Math.min(...top1);
  }
  return actual;
}
