import type { Io } from '../io.js';

/** Benchmarks the original and pruned model locally; wired to device-runner. */
export async function benchBoth(_original: string, _pruned: string, io: Io): Promise<void> {
  io.stdout.write('\n(benchmarking needs the device runner, which is not in this build yet)\n');
}
