import {
  countNonzero,
  countNonzeroBytes,
  denseTensorOf,
  dtypeCode,
  dtypeOf,
  findWeights,
  HOLLOW_MIN_BYTES,
  ModelField,
  readHollowPayload,
  readModelHollow,
  rewritePayloads,
  storageBytes,
  bitmaskUnsupported,
  sparseStorageUnsupported,
  type SparseIndexMode,
  stringEntry,
  TensorField,
  type WeightRef,
} from '@specprune/onnx-io/node';
import { pruneMagnitudeInPlace } from '@specprune/prune';

export interface StreamedWeight {
  weight: WeightRef;
  nnz: number;
  frobeniusError: number;
}

export interface StreamResult {
  all: WeightRef[];
  pruned: StreamedWeight[];
  skipped: Array<{ weight: WeightRef; reason: string }>;
  /** Nonzeros of every weight in the written model. */
  modelNnz: number;
  bytes: number;
}

/** Thrown inside a transform to abandon the streaming path (e.g. sparse storage would be smaller). */
class NotStreamable extends Error {}

/**
 * The streaming path for large models: unstructured magnitude pruning, uniform allocation, dense
 * storage of raw float32 weights. The model's structure is read without its payloads; the output is a
 * copy of the input file in which each weight's payload is read into one reused buffer, pruned in place
 * and written back at the same offset; provenance metadata is appended at the end of the file.
 * Memory stays at the largest weight, not the model. Returns undefined when the model or options do not
 * qualify (the caller then uses the general path); the result is byte-identical to the general path's.
 */
export function pruneStreaming(
  input: string,
  output: string,
  options: { sparsity: number; minParams: number; exclude: RegExp[]; storage: 'auto' | 'dense' | 'sparse' | 'bitmask'; metadata: Record<string, string>; indices?: SparseIndexMode },
): StreamResult | undefined {
  if (options.storage === 'sparse' || options.storage === 'bitmask') return undefined;
  const hollow = readModelHollow(input);
  const model = hollow.model;
  if (model.metadata.some((m) => m.key in options.metadata)) return undefined;
  const all = findWeights(model);
  const selected: WeightRef[] = [];
  const skipped: StreamResult['skipped'] = [];
  for (const weight of all) {
    if (options.exclude.some((re) => re.test(weight.name))) skipped.push({ weight, reason: 'excluded' });
    else if (weight.numel < options.minParams) skipped.push({ weight, reason: `fewer than ${options.minParams} elements` });
    else selected.push(weight);
  }
  const payloadOf = (weight: WeightRef) => {
    const tensor = denseTensorOf(weight);
    if (!tensor || tensor.external || weight.dtype !== 'float32') return undefined;
    const raw = tensor.message.last(TensorField.rawData);
    return raw && raw.end - raw.valueStart === weight.numel * 4 ? { start: raw.valueStart, end: raw.end } : undefined;
  };
  const payloads = selected.map(payloadOf);
  if (payloads.some((p) => p === undefined)) return undefined;
  // Only weights at least HOLLOW_MIN_BYTES sit in holes; smaller ones are in memory and count directly.
  const results: StreamedWeight[] = [];
  const edits = selected.map((weight, idx) => ({
    ...payloads[idx]!,
    transform(payload: Uint8Array) {
      const values = new Float32Array(payload.buffer, payload.byteOffset, weight.numel);
      const result = pruneMagnitudeInPlace(values, Math.round(options.sparsity * weight.numel));
      const sizes = storageBytes(weight, result.nnz, { indices: options.indices });
      if (options.storage === 'auto' && sparseStorageUnsupported(model, weight) === undefined && sizes.sparse < sizes.dense) throw new NotStreamable();
      if (options.storage === 'auto' && bitmaskUnsupported(model, weight) === undefined && sizes.bitmask < sizes.dense) throw new NotStreamable();
      results.push({ weight, ...result });
    },
  }));
  const appended = Object.entries(options.metadata).flatMap(([key, value]) => stringEntry(ModelField.metadataProps, key, value));
  let bytes: number;
  try {
    bytes = rewritePayloads(hollow, output, edits, appended).bytes;
  } catch (error) {
    if (error instanceof NotStreamable) return undefined;
    throw error;
  }
  const selectedSet = new Set(selected);
  let modelNnz = results.reduce((s, r) => s + r.nnz, 0);
  for (const weight of all) {
    if (selectedSet.has(weight)) continue;
    const tensor = denseTensorOf(weight);
    const raw = tensor?.message.last(TensorField.rawData);
    const bytesOf = raw && raw.end - raw.valueStart >= HOLLOW_MIN_BYTES ? readHollowPayload(hollow, raw.valueStart, raw.end) : undefined;
    modelNnz += bytesOf ? countNonzeroBytes(bytesOf, dtypeOf(dtypeCode(weight.dtype))!.bytes) : countNonzero(model, weight);
  }
  return { all, pruned: results, skipped, modelNnz, bytes };
}
