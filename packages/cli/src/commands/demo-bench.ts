import path from 'node:path';
import { benchmark, createDefaultRegistry, type BenchResult } from '@specprune/device-runner';
import { renderTable } from '../format.js';

/** The demo's benchmark protocol: onnxruntime-node in a child process, 3 repetitions of 10 warm-up + 50 runs. */
export const DEMO_BENCH = { warmup: 10, runs: 50, repetitions: 3 } as const;

/**
 * Benchmarks the original and the pruned model, one after the other, with device-runner on this machine
 * (imported lazily by the demo: device-runner is heavy). `shapes` fixes the inputs.
 */
export async function benchBoth(
  models: ReadonlyArray<{ label: string; file: string }>,
  shapes: Record<string, number[]>,
  signal?: AbortSignal,
): Promise<Array<{ label: string; result: BenchResult }>> {
  const measured: Array<{ label: string; result: BenchResult }> = [];
  for (const { label, file } of models) {
    const result = await benchmark({
      registry: createDefaultRegistry(),
      target: 'node',
      modelPath: file,
      modelLabel: path.basename(file),
      ...DEMO_BENCH,
      shapes,
      ...(signal ? { signal } : {}),
    });
    measured.push({ label, result });
  }
  return measured;
}

/**
 * Both benchmarks side by side, honestly: unstructured sparsity stored densely or as sparse initializers
 * (expanded to dense at load) does not by itself make onnxruntime's CPU kernels faster.
 */
export function renderBenchBoth(measured: ReadonlyArray<{ label: string; result: BenchResult }>): string {
  const rows = measured.map(({ label, result }) => [
    label,
    `${result.sessionCreateMs.toFixed(1)} ms`,
    `${result.latencyMs.p50.toFixed(3)} ms`,
    `${result.latencyMs.p90.toFixed(3)} ms`,
    result.peakMemoryBytes === null ? '-' : `${(result.peakMemoryBytes / 1e6).toFixed(1)} MB`,
  ]);
  return `${renderTable(['model', 'session create', 'p50', 'p90', 'peak memory'], rows)}\nUnstructured sparsity shrinks the file; onnxruntime's dense CPU kernels run at the same speed.\n`;
}
