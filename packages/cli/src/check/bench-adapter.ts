import { benchmark, createDefaultRegistry } from '@specprune/device-runner';
import type { Budget } from './budget.js';

/**
 * Latency and peak memory of a budget's model on its target with device-runner's protocol: `repeat`
 * fresh sessions of `warmup` + `runs`; the result's figures are medians over the repetitions.
 */
export async function runBenchmark(budget: Budget, signal?: AbortSignal): Promise<{ latencyP50Ms: number; latencyP90Ms: number; peakMemoryBytes: number }> {
  const result = await benchmark({
    registry: createDefaultRegistry(),
    target: budget.target,
    modelPath: budget.modelPath,
    modelLabel: budget.model,
    warmup: budget.warmup,
    runs: budget.runs,
    repetitions: budget.repeat,
    shapes: budget.shapes,
    ...(signal ? { signal } : {}),
  });
  return { latencyP50Ms: result.latencyMs.p50, latencyP90Ms: result.latencyMs.p90, peakMemoryBytes: result.peakMemoryBytes ?? Number.NaN };
}
