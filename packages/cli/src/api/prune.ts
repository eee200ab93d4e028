import { pruneFile, type PruneFileOptions, type PruneFileReport } from './prune-files.js';
import { parseShapes, parseValues } from '../eval/inputs.js';

/**
 * Options of `prune` for Node: the `prune` flags' names in camelCase (CLI.md "Library API"): `sparsity`,
 * `method`, `allocation`, `granularity`, `storage`, `seed`, `calibration` (a folder of .npy samples),
 * `output` (written atomically), `report` (HTML), `shape`/`value` (as `{ x: [1, 3, 224, 224] }` or the
 * flags' `['x=1x3x224x224']`), ... plus `onProgress`, `onLog` and `signal`.
 */
export interface NodePruneOptions extends Omit<PruneFileOptions, 'shape' | 'value'> {
  shape?: PruneFileOptions['shape'] | readonly string[];
  value?: PruneFileOptions['value'] | readonly string[];
}

/**
 * Prunes an ONNX model (bytes, or a file path whose external data is read from beside it) with
 * onnxruntime-node. Resolves to `{ model, report }`: the pruned model's bytes and the document
 * `specprune prune --json` prints. With `options.output` the model is also written atomically.
 * Wrong input rejects with an Error whose `exitCode` is 2 and whose message says what to do.
 */
export async function prune(model: Uint8Array | string, options: NodePruneOptions = {}): Promise<{ model: Uint8Array; report: PruneFileReport }> {
  const { shape, value, ...rest } = options;
  const result = await pruneFile(model, {
    ...rest,
    ...(shape ? { shape: Array.isArray(shape) ? parseShapes(shape as string[]) : (shape as PruneFileOptions['shape']) } : {}),
    ...(value ? { value: Array.isArray(value) ? parseValues(value as string[]) : (value as PruneFileOptions['value']) } : {}),
  });
  return { model: result.model, report: result.report };
}

export type { PruneFileReport as PruneReport };
