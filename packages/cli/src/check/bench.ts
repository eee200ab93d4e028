import type { Budget } from './budget.js';

/**
 * Latency and peak memory of a budget's model on its target, through device-runner: `repeat`
 * measurements of `runs` timed runs each; the median of the repetitions is compared, because CI
 * machines are noisy.
 */
export async function benchForBudget(budget: Budget, signal?: AbortSignal): Promise<{ latencyP50Ms: number; latencyP90Ms: number; peakMemoryBytes: number }> {
  const { runBenchmark } = await import('./bench-adapter.js');
  return runBenchmark(budget, signal);
}
