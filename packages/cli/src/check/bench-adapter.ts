import { UsageError } from '../errors.js';
import type { Budget } from './budget.js';

/** Placeholder until device-runner lands its API; replaced in the next commit. */
export async function runBenchmark(budget: Budget): Promise<{ latencyP50Ms: number; latencyP90Ms: number; peakMemoryBytes: number }> {
  throw new UsageError(`${budget.name}: latency and memory budgets need the device runner, which is not available in this build.`);
}
