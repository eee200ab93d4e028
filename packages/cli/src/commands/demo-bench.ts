import path from 'node:path';
import { benchmark, createDefaultRegistry } from '@specprune/device-runner';
import { renderTable } from '../format.js';
import type { Io } from '../io.js';

/**
 * Benchmarks the original and the pruned model with onnxruntime-node (child process, 3 repetitions) and
 * prints both, honestly: unstructured sparsity stored densely or as sparse initializers (expanded to dense
 * at load) does not by itself make onnxruntime's CPU kernels faster.
 */
export async function benchBoth(original: string, pruned: string, io: Io): Promise<void> {
  io.stdout.write('\nLatency on this machine (onnxruntime-node, 1x3x48x192, 3 repetitions of 10 warm-up + 50 runs):\n');
  const rows: string[][] = [];
  for (const [label, file] of [
    ['original', original],
    ['pruned', pruned],
  ] as const) {
    const result = await benchmark({
      registry: createDefaultRegistry(),
      target: 'node',
      modelPath: file,
      modelLabel: path.basename(file),
      warmup: 10,
      runs: 50,
      repetitions: 3,
      shapes: { x: [1, 3, 48, 192] },
      signal: io.signal,
    });
    rows.push([
      label,
      `${result.sessionCreateMs.toFixed(1)} ms`,
      `${result.latencyMs.p50.toFixed(3)} ms`,
      `${result.latencyMs.p90.toFixed(3)} ms`,
      result.peakMemoryBytes === null ? '-' : `${(result.peakMemoryBytes / 1e6).toFixed(1)} MB`,
    ]);
  }
  io.stdout.write(`${renderTable(['model', 'session create', 'p50', 'p90', 'peak memory'], rows)}\n`);
  io.stdout.write('Unstructured sparsity shrinks the file; onnxruntime\'s dense CPU kernels run at the same speed.\n');
}
