import type { Granularity, MethodName } from '@specprune/core';
import { parseGranularity } from '@specprune/core';
import { VALUE_FORMS, type SparseIndexMode, type ValueForm } from '@specprune/onnx-io';
import { PruneOptionError } from './errors.js';
import type { DataAwareMethod } from './engine.js';

export type PruneMethod = MethodName | DataAwareMethod;
export const METHODS: readonly PruneMethod[] = ['magnitude', 'l1', 'l2', 'bernstein', 'hybrid', 'spectral', 'wanda', 'refit'];
/** Methods that need calibration samples. */
export const DATA_AWARE_METHODS: readonly PruneMethod[] = ['wanda', 'refit'];
/** Default room for the calibration Gram matrices. */
export const DEFAULT_CALIBRATION_MEMORY = 1024 ** 3;
/** Random inputs run through the model for input statistics when no calibration samples are given. */
export const DEFAULT_SYNTHETIC_SAMPLES = 16;
export const ALLOCATIONS = ['uniform', 'global', 'spectral'] as const;
export type Allocation = (typeof ALLOCATIONS)[number];
export const STORAGES = ['auto', 'dense', 'sparse', 'bitmask'] as const;
export type StorageChoice = (typeof STORAGES)[number];
export const STRUCTURES = ['channels'] as const;
export type Structure = (typeof STRUCTURES)[number];
/** Channel counts kept by structured pruning are multiples of this (CPU kernels like them). */
export const DEFAULT_CHANNEL_MULTIPLE = 8;

/**
 * What the caller asks for: the `prune` flags in camelCase (CLI.md "Library API"). Every field is optional;
 * `resolvePruneOptions` fills the defaults and checks every rule once.
 */
export interface PruneOptions {
  /** Target fraction of zeros over the selected weights, in [0, 1). Default 0.5. */
  sparsity?: number;
  /** magnitude, l1, l2, bernstein, hybrid, spectral (default), wanda, refit (these two need calibration samples). */
  method?: string;
  /** unstructured (default), N:M (e.g. 2:4) or block:RxC. */
  granularity?: string;
  /** uniform, global or spectral (default: sensitivity scan). */
  allocation?: string;
  /** Instead of sparsity: prune until the model is at most this many bytes. */
  targetBytes?: number;
  /** Weights whose name matches any of these are left untouched. */
  exclude?: ReadonlyArray<string | RegExp> | string;
  /** Weights with fewer elements are left untouched. Default 256. */
  minParams?: number;
  /** auto (default), dense, sparse or bitmask. */
  storage?: string;
  /** Precision of the kept values under bitmask storage: float32 (default: the weight's own), float16 or int8. */
  values?: string;
  /** int16/int32 sparse indices that onnxruntime loads but the ONNX spec rejects. Default false (int64). */
  ortOnlySparseIndices?: boolean;
  /** Every random choice derives from it. Default 0. */
  seed?: number;
  /** Use only the first N calibration samples for statistics. */
  calibrationSamples?: number;
  /** Bytes the input Gram matrices may take together. Default 1 GiB. */
  calibrationMemory?: number;
  /** Without calibration samples: random inputs whose layer statistics guide method spectral (0: none). Default 16. */
  syntheticSamples?: number;
  /** How method spectral chooses without calibration: output (default) or spectral. */
  methodBasis?: string;
  /** Measure each weight's spectral error (default true). */
  spectralError?: boolean;
  /** Input shapes for generated inputs: a whole input (`x: [1, 3, 224, 224]`) or a named dim (`seq: [128]`). */
  shape?: Readonly<Record<string, readonly number[]>>;
  /** Inputs filled with one constant (e.g. a sample rate). */
  value?: Readonly<Record<string, number>>;
  /** Inputs per sensitivity measurement (default 4 random, or the first 8 calibration samples). */
  scanSamples?: number;
  /** Structured pruning: `channels` removes whole channels (the model gets smaller and faster). */
  structure?: string;
  /** With structure: fraction of multiply-adds kept, in (0, 1]. */
  flops?: number;
  /** With structure: kept channel counts are multiples of this. Default 8. */
  channelMultiple?: number;
  /**
   * With structure, instead of flops: p50 latency in the runtime passed in (onnxruntime-node for the CLI)
   * at least this many times lower than the original's, found by a search over the multiply-add fraction
   * with measured latencies. > 1.
   */
  speedup?: number;
}

/** Options with defaults filled and every rule checked. */
export interface ResolvedPruneOptions {
  sparsity: number;
  method: PruneMethod;
  granularity: Granularity;
  granularityText: string;
  allocation: Allocation;
  targetBytes?: number;
  exclude: RegExp[];
  minParams: number;
  storage: StorageChoice;
  values: ValueForm;
  /** --target-bytes without --values: the precision is chosen with the sparsity (target-bytes.ts). */
  valuesFromTarget: boolean;
  indices: SparseIndexMode;
  seed: number;
  /** Whether calibration samples are given (they travel in the context, not the options). */
  calibration: boolean;
  calibrationSamples?: number;
  calibrationMemory: number;
  syntheticSamples: number;
  methodBasis?: 'output' | 'spectral';
  spectralError: boolean;
  shape: Record<string, number[]>;
  value: Record<string, number>;
  scanSamples?: number;
  /** flops is 1 (a placeholder the search replaces) when speedup is given. */
  structure?: { kind: Structure; flops: number; channelMultiple: number; speedup?: number };
}

const fail = (option: string, render: (name: (option: string) => string) => string): never => {
  throw new PruneOptionError(option, render);
};

/**
 * Fills defaults and checks every option and every rule between options once. Each problem is a
 * PruneOptionError naming the option, the bad value and what is allowed.
 */
export function resolvePruneOptions(input: PruneOptions, hasCalibration: boolean): ResolvedPruneOptions {
  // Structured pruning alone removes channels only; unstructured pruning of the rest is asked for with sparsity.
  const sparsity = input.sparsity ?? (input.structure !== undefined ? 0 : 0.5);
  if (typeof sparsity !== 'number' || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    fail('sparsity', (n) => `${n('sparsity')} ${input.sparsity} is out of range; use a number in [0, 1), e.g. ${n('sparsity')} 0.5.`);
  }
  const method = (input.method ?? 'spectral') as PruneMethod;
  if (!METHODS.includes(method)) fail('method', (n) => `${n('method')} ${input.method} is not known; use one of ${METHODS.join(', ')}.`);
  const allocation = (input.allocation ?? 'spectral') as Allocation;
  if (!ALLOCATIONS.includes(allocation)) fail('allocation', (n) => `${n('allocation')} ${input.allocation} is not known; use one of ${ALLOCATIONS.join(', ')}.`);
  const storage = (input.storage ?? 'auto') as StorageChoice;
  if (!STORAGES.includes(storage)) fail('storage', (n) => `${n('storage')} ${input.storage} is not known; use one of ${STORAGES.join(', ')}.`);
  const values = (input.values ?? 'float32') as ValueForm;
  if (!VALUE_FORMS.includes(values)) fail('values', (n) => `${n('values')} ${input.values} is not known; use one of ${VALUE_FORMS.join(', ')}.`);
  if (values !== 'float32' && storage === 'sparse') {
    fail('values', (n) => `${n('values')} ${values} needs dense or bitmask storage (sparse tensors keep the weight's own dtype); use ${n('storage')} auto, dense or bitmask.`);
  }
  const granularityText = input.granularity ?? 'unstructured';
  let granularity: Granularity;
  try {
    granularity = parseGranularity(granularityText);
  } catch (error) {
    const reason = (error as Error).message.replace(/\.$/, '');
    return fail('granularity', (n) => `${n('granularity')} ${granularityText} is not valid: ${reason}. Use unstructured, N:M (e.g. 2:4) or block:RxC (e.g. block:4x4).`);
  }
  const minParams = input.minParams ?? 256;
  if (!Number.isInteger(minParams) || minParams < 0) fail('minParams', (n) => `${n('minParams')} ${input.minParams} must be a whole number >= 0.`);
  const seed = input.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) fail('seed', (n) => `${n('seed')} ${input.seed} must be a whole number in [0, 4294967295].`);
  if (input.targetBytes !== undefined && (!Number.isInteger(input.targetBytes) || input.targetBytes <= 0)) {
    fail('targetBytes', (n) => `${n('targetBytes')} ${input.targetBytes} must be a positive whole number of bytes.`);
  }
  const excludeList = input.exclude === undefined ? [] : typeof input.exclude === 'string' ? [input.exclude] : [...input.exclude];
  const exclude = excludeList.map((text) => {
    if (text instanceof RegExp) return text;
    try {
      return new RegExp(text);
    } catch (error) {
      const reason = (error as Error).message;
      return fail('exclude', (n) => `${n('exclude')} ${JSON.stringify(text)} is not a valid regular expression (${reason}).`);
    }
  });
  if (DATA_AWARE_METHODS.includes(method) && !hasCalibration) {
    fail('method', (n) => `${n('method')} ${method} prunes by what the layers' inputs look like; give sample inputs with ${n('calibration')} DIR (a folder of .npy files), or use a data-free method such as ${n('method')} magnitude.`);
  }
  if (input.calibrationSamples !== undefined && (!Number.isInteger(input.calibrationSamples) || input.calibrationSamples < 1)) {
    fail('calibrationSamples', (n) => `${n('calibrationSamples')} ${input.calibrationSamples} must be a whole number >= 1.`);
  }
  const syntheticSamples = input.syntheticSamples ?? DEFAULT_SYNTHETIC_SAMPLES;
  if (!Number.isInteger(syntheticSamples) || syntheticSamples < 0) {
    fail('syntheticSamples', (n) => `${n('syntheticSamples')} ${input.syntheticSamples} must be a whole number >= 0 (0 turns input statistics from random inputs off).`);
  }
  const calibrationMemory = input.calibrationMemory ?? DEFAULT_CALIBRATION_MEMORY;
  if (typeof calibrationMemory !== 'number' || !(calibrationMemory >= 0) || !Number.isFinite(calibrationMemory)) {
    fail('calibrationMemory', (n) => `${n('calibrationMemory')} ${input.calibrationMemory} must be a number of bytes >= 0, e.g. 512MB.`);
  }
  if (input.scanSamples !== undefined && (!Number.isInteger(input.scanSamples) || input.scanSamples < 1 || input.scanSamples > 1000)) {
    fail('scanSamples', (n) => `${n('scanSamples')} ${input.scanSamples} must be a whole number in [1, 1000].`);
  }
  if (input.methodBasis !== undefined && input.methodBasis !== 'output' && input.methodBasis !== 'spectral') {
    fail('methodBasis', (n) => `${n('methodBasis')} ${input.methodBasis} is not known; use output or spectral.`);
  }
  // Rules between options: a flag that would be ignored is an error, not a silent no-op.
  const dataAware = method === 'spectral' || DATA_AWARE_METHODS.includes(method);
  if (hasCalibration && allocation !== 'spectral' && !dataAware) {
    fail('calibration', (n) => `${n('calibration')} feeds data-aware methods (spectral, wanda, refit) and the sensitivity scan of ${n('allocation')} spectral; with ${n('method')} ${method} and ${n('allocation')} ${allocation} it would be ignored. Drop one of them.`);
  }
  if (input.methodBasis !== undefined && (method !== 'spectral' || hasCalibration)) {
    fail('methodBasis', (n) => `${n('methodBasis')} applies to ${n('method')} spectral without ${n('calibration')}; drop it.`);
  }
  if (input.syntheticSamples !== undefined && (method !== 'spectral' || hasCalibration || input.methodBasis === 'spectral')) {
    fail('syntheticSamples', (n) => `${n('syntheticSamples')} applies to ${n('method')} spectral without ${n('calibration')} (and without ${n('methodBasis')} spectral), where random inputs stand in for calibration samples; drop it.`);
  }
  const shape: Record<string, number[]> = {};
  for (const [name, dims] of Object.entries(input.shape ?? {})) {
    if (!Array.isArray(dims) || dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1 || d > 2 ** 31 - 1)) {
      fail('shape', (n) => `${n('shape')} ${name}=${String(dims)} must be whole numbers >= 1, e.g. ${name}=1x3x224x224.`);
    }
    shape[name] = [...dims];
  }
  const value: Record<string, number> = {};
  for (const [name, v] of Object.entries(input.value ?? {})) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail('value', (n) => `${n('value')} ${name}=${String(v)} must be a finite number, e.g. sr=16000.`);
    value[name] = v;
  }
  const options: ResolvedPruneOptions = {
    sparsity,
    method,
    granularity,
    granularityText,
    allocation,
    exclude,
    minParams,
    storage,
    values,
    valuesFromTarget: input.targetBytes !== undefined && input.values === undefined,
    indices: input.ortOnlySparseIndices ? 'ort-narrow' : 'int64',
    seed,
    calibration: hasCalibration,
    calibrationMemory,
    syntheticSamples,
    spectralError: input.spectralError !== false,
    shape,
    value,
  };
  if (input.targetBytes !== undefined) options.targetBytes = input.targetBytes;
  if (input.calibrationSamples !== undefined) options.calibrationSamples = input.calibrationSamples;
  if (input.methodBasis !== undefined) options.methodBasis = input.methodBasis as 'output' | 'spectral';
  if (input.scanSamples !== undefined) options.scanSamples = input.scanSamples;
  const structure = resolveStructure(input);
  if (structure) options.structure = structure;
  return options;
}

function resolveStructure(input: PruneOptions): ResolvedPruneOptions['structure'] {
  if (input.structure === undefined) {
    if (input.flops !== undefined) fail('flops', (n) => `${n('flops')} sets how much ${n('structure')} channels removes; add ${n('structure')} channels or drop ${n('flops')}.`);
    if (input.channelMultiple !== undefined) fail('channelMultiple', (n) => `${n('channelMultiple')} applies to ${n('structure')} channels; add it or drop ${n('channelMultiple')}.`);
    if (input.speedup !== undefined) fail('speedup', (n) => `${n('speedup')} sets how much faster ${n('structure')} channels makes the model; add ${n('structure')} channels or drop ${n('speedup')}.`);
    return undefined;
  }
  const kind = input.structure as Structure;
  if (!STRUCTURES.includes(kind)) fail('structure', (n) => `${n('structure')} ${input.structure} is not known; use ${STRUCTURES.join(', ')}.`);
  const speedup = input.speedup;
  if (speedup !== undefined) {
    if (input.flops !== undefined) fail('speedup', (n) => `${n('speedup')} and ${n('flops')} are two targets for the same thing; give one of them.`);
    if (typeof speedup !== 'number' || !Number.isFinite(speedup) || speedup <= 1 || speedup > 100) fail('speedup', (n) => `${n('speedup')} ${input.speedup} is out of range; use a number in (1, 100], e.g. ${n('speedup')} 1.5 for a p50 latency 1.5 times lower.`);
  } else if (input.flops === undefined) {
    fail('flops', (n) => `${n('structure')} channels needs a target: add ${n('flops')} F, the fraction of multiply-adds to keep (e.g. ${n('flops')} 0.5), or ${n('speedup')} X, how many times lower the p50 latency must be (e.g. ${n('speedup')} 1.5).`);
  }
  const flops = input.flops ?? 1;
  if (typeof flops !== 'number' || !Number.isFinite(flops) || flops <= 0 || flops > 1) fail('flops', (n) => `${n('flops')} ${input.flops} is out of range; use a number in (0, 1], e.g. ${n('flops')} 0.5.`);
  const channelMultiple = input.channelMultiple ?? DEFAULT_CHANNEL_MULTIPLE;
  if (!Number.isInteger(channelMultiple) || channelMultiple < 1 || channelMultiple > 1024) fail('channelMultiple', (n) => `${n('channelMultiple')} ${input.channelMultiple} must be a whole number in [1, 1024], e.g. 8.`);
  if (input.targetBytes !== undefined) fail('targetBytes', (n) => `${n('targetBytes')} cannot be combined with ${n('structure')}; give ${n('flops')} for the channels and ${n('sparsity')} for the rest.`);
  return speedup !== undefined ? { kind, flops, channelMultiple, speedup } : { kind, flops, channelMultiple };
}
