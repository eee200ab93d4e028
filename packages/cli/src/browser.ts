/**
 * specprune in a browser page: the same `prune` as the Node API, for ONNX bytes, measured with
 * onnxruntime-web. Nothing here touches files or Node: bundle it for the browser (esbuild, Vite, ...).
 */
import { prune as prunePipeline, type Feeds, type OrtRuntime, type PruneEstimate, type PruneOptions, type PruneProgress, type PruneReport } from '@specprune/prune';

export interface BrowserPruneOptions extends PruneOptions {
  /**
   * The onnxruntime-web module to measure with (e.g. `import * as ort from 'onnxruntime-web'`, or the global
   * `ort` of its script build). Default: `import('onnxruntime-web')`, resolved by your bundler.
   */
  runtime?: OrtRuntime;
  /** Calibration samples (one feed per sample) for data-aware pruning. */
  calibration?: readonly Feeds[];
  onProgress?: (progress: PruneProgress) => void;
  onLog?: (message: string) => void;
  /** How long the prune will take (seconds), estimated near its start, and again with `revised` set when its scan's timed measurement moves that by more than a quarter (structured pruning: once its first re-fit candidate is timed, revised as its search goes); also the report's `estimate`. */
  onEstimate?: (estimate: PruneEstimate) => void;
  signal?: AbortSignal;
  /** The model's name in messages. */
  label?: string;
}

/**
 * Prunes ONNX bytes in the page. Resolves to `{ model, report }`: the pruned model's bytes and the report
 * `specprune prune --json` prints (without file paths and sizes). Wrong input rejects with an Error whose
 * `exitCode` is 2 and whose message names the option (`options.sparsity ...`).
 */
export async function prune(model: Uint8Array, options: BrowserPruneOptions = {}): Promise<{ model: Uint8Array; report: PruneReport }> {
  const { runtime, calibration, onProgress, onLog, onEstimate, signal, label, ...rest } = options;
  const ort = runtime ?? ((await import(/* webpackIgnore: true */ 'onnxruntime-web' as string)) as OrtRuntime);
  const result = await prunePipeline(model, rest, {
    runtime: ort,
    label: label ?? 'the model',
    ...(calibration ? { calibration } : {}),
    ...(onProgress ? { onProgress } : {}),
    ...(onLog ? { onLog } : {}),
    ...(onEstimate ? { onEstimate } : {}),
    ...(signal ? { signal } : {}),
  });
  return { model: result.model, report: result.report };
}

export { PruneInputError, PruneOptionError, type PruneEstimate, type PruneOptions, type PruneReport, type PruneProgress, type OrtRuntime, type Feeds } from '@specprune/prune';
