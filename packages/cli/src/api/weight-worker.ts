/**
 * A worker thread of the weight-work pool (see weight-workers.ts): runs the pipeline's per-weight numerical
 * work and keeps each weight's input statistics after they are first sent.
 */
import { parentPort } from 'node:worker_threads';
import type { InputStats } from '@specprune/core';
import { doWeightWork, type WeightWork } from '@specprune/prune';

const statsByKey = new Map<string, InputStats>();

parentPort!.on('message', ({ id, work }: { id: number; work: WeightWork }) => {
  try {
    if ('stats' in work && work.stats) statsByKey.set(work.key, work.stats);
    const result = doWeightWork(work, statsByKey.get(work.key));
    if ('last' in work && work.last) statsByKey.delete(work.key);
    const buffers = new Set([...result.results, ...(result.magnitude ? [result.magnitude] : []), ...(result.plain ? [result.plain] : [])].map((r) => r.values.buffer as ArrayBuffer));
    parentPort!.postMessage({ id, result }, [...buffers]);
  } catch (error) {
    parentPort!.postMessage({ id, error: { message: (error as Error).message, stack: (error as Error).stack } });
  }
});
