import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WeightWork, WeightWorkers, WeightWorkResult } from '@specprune/prune';

/** tsx's ESM API (its `tsx/esm/api` import target), for workers started from TypeScript sources. */
function tsxEsmApi(): string {
  const root = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  return pathToFileURL(path.join(root, 'dist/esm/api/index.mjs')).href;
}

/** `--threads` (`threads`) is a whole number from 1 to MAX_THREADS: onnxruntime threads and weight workers. */
export const MAX_THREADS = 256;

/** Whether `threads` is a thread count the pool and onnxruntime accept (see MAX_THREADS). */
export function isThreadCount(threads: number): boolean {
  return Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS;
}

interface Lane {
  worker?: Worker;
  /** Weights whose statistics this lane's worker holds. */
  holds: Set<string>;
  pending: Map<number, { resolve: (result: WeightWorkResult) => void; reject: (error: Error) => void }>;
}

/**
 * A pool of `size` worker threads for the pipeline's per-weight work (re-fits, candidates, their errors),
 * started on first use. Work on one weight goes to one lane, which keeps the weight's statistics: they are
 * moved to it (not copied) with the first piece of work. Workers keep the process alive only while work is
 * pending; `close` ends them.
 */
export function createWeightWorkers(size: number): WeightWorkers & { close(): Promise<void> } {
  // From sources (development, tests) the worker is TypeScript: tsx (a devDependency) loads it, with the
  // workspace's source condition.
  const fromSources = import.meta.url.endsWith('.ts');
  const script = new URL(fromSources ? './weight-worker.ts' : './weight-worker.js', import.meta.url);
  const load = (): Worker =>
    fromSources
      ? new Worker(`import(${JSON.stringify(tsxEsmApi())}).then(({ register }) => { register(); return import(${JSON.stringify(script.href)}); });`, {
          eval: true,
          execArgv: ['--conditions=specprune-source'],
        })
      : new Worker(script);
  const lanes: Lane[] = Array.from({ length: Math.max(1, size) }, () => ({ pending: new Map(), holds: new Set<string>() }));
  let nextId = 0;
  const start = (lane: Lane): Worker => {
    const worker = load();
    worker.on('message', ({ id, result, error }: { id: number; result?: WeightWorkResult; error?: { message: string; stack?: string } }) => {
      const waiting = lane.pending.get(id);
      lane.pending.delete(id);
      if (lane.pending.size === 0) worker.unref();
      if (!waiting) return;
      if (error) waiting.reject(Object.assign(new Error(error.message), { stack: error.stack }));
      else waiting.resolve(result!);
    });
    const fail = (error: Error) => {
      for (const waiting of lane.pending.values()) waiting.reject(error);
      lane.pending.clear();
      lane.worker = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a weight worker stopped (exit code ${code})`)));
    return worker;
  };
  return {
    size: lanes.length,
    run(work: WeightWork, index: number): Promise<WeightWorkResult> {
      const lane = lanes[index % lanes.length]!;
      if (!lane.worker) {
        lane.worker = start(lane);
        lane.holds.clear();
      }
      const worker = lane.worker;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        lane.pending.set(id, { resolve, reject });
        worker.ref();
        // Statistics go once per weight, moved (the worker keeps them); later work refers to them by key.
        const stats = 'stats' in work ? work.stats : undefined;
        const first = stats !== undefined && !lane.holds.has(work.key);
        if (first) lane.holds.add(work.key);
        // The worker drops the statistics after the weight's last work; a later use would send them again.
        if ('last' in work && work.last) lane.holds.delete(work.key);
        const { stats: _sent, ...rest } = work as WeightWork & { stats?: unknown };
        const gram = first ? stats?.gram : undefined;
        const transfer = [gram?.buffer, 'activation' in rest ? rest.activation?.data.buffer : undefined].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
        worker.postMessage({ id, work: first ? work : rest }, transfer);
      });
    },
    async close() {
      await Promise.all(
        lanes.map(async (lane) => {
          const worker = lane.worker;
          lane.worker = undefined;
          lane.pending.clear();
          if (worker) {
            worker.removeAllListeners('exit');
            // A worker stopped while it is still loading may never report that it stopped (seen with a
            // module loader in the worker): wait for it at most a moment, on a timer that keeps the
            // process alive meanwhile.
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([worker.terminate(), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
            clearTimeout(timer);
          }
        }),
      );
    },
  };
}
