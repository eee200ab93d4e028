import type { Granularity, MethodName } from '@specprune/core';
import { parseGranularity } from '@specprune/core';
import { UsageError } from '../errors.js';
import { parseSize } from '../check/units.js';
import type { DataAwareMethod } from './engine.js';

export type PruneMethod = MethodName | DataAwareMethod;
export const METHODS: readonly PruneMethod[] = ['magnitude', 'l1', 'l2', 'bernstein', 'hybrid', 'spectral', 'wanda', 'refit'];
/** Methods that need --calibration. */
export const DATA_AWARE_METHODS: readonly PruneMethod[] = ['wanda', 'refit'];
/** Default room for the calibration Gram matrices. */
export const DEFAULT_CALIBRATION_MEMORY = 1024 ** 3;
/** Random inputs run through the model for input statistics when --calibration is not given. */
export const DEFAULT_SYNTHETIC_SAMPLES = 16;
export const ALLOCATIONS = ['uniform', 'global', 'spectral'] as const;
export type Allocation = (typeof ALLOCATIONS)[number];
export const STORAGES = ['auto', 'dense', 'sparse'] as const;
export type StorageChoice = (typeof STORAGES)[number];

export interface PruneOptions {
  sparsity: number;
  method: PruneMethod;
  granularity: Granularity;
  granularityText: string;
  allocation: Allocation;
  targetBytes?: number;
  exclude: RegExp[];
  minParams: number;
  storage: StorageChoice;
  seed: number;
  calibration?: string;
  /** Calibration samples used for input statistics (undefined: all). */
  calibrationSamples?: number;
  /** Bytes the input Gram matrices may take together. */
  calibrationMemory: number;
  /** Without --calibration: random inputs whose layer statistics guide --method spectral (0: none). */
  syntheticSamples: number;
}

/** Validates prune flags; every problem names the flag, shows the value and what is allowed. */
export function parsePruneOptions(args: {
  sparsity?: number;
  method?: string;
  granularity?: string;
  allocation?: string;
  targetBytes?: number;
  exclude?: string[] | string;
  minParams?: number;
  storage?: string;
  seed?: number;
  calibration?: string;
  calibrationSamples?: number;
  calibrationMemory?: string | number;
  syntheticSamples?: number;
}): PruneOptions {
  const sparsity = args.sparsity ?? 0.5;
  if (!Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new UsageError(`--sparsity ${args.sparsity} is out of range; use a number in [0, 1), e.g. --sparsity 0.5.`);
  }
  const method = (args.method ?? 'spectral') as PruneMethod;
  if (!METHODS.includes(method)) throw new UsageError(`--method ${args.method} is not known; use one of ${METHODS.join(', ')}.`);
  const allocation = (args.allocation ?? 'spectral') as Allocation;
  if (!ALLOCATIONS.includes(allocation)) throw new UsageError(`--allocation ${args.allocation} is not known; use one of ${ALLOCATIONS.join(', ')}.`);
  const storage = (args.storage ?? 'auto') as StorageChoice;
  if (!STORAGES.includes(storage)) throw new UsageError(`--storage ${args.storage} is not known; use one of ${STORAGES.join(', ')}.`);
  const granularityText = args.granularity ?? 'unstructured';
  let granularity: Granularity;
  try {
    granularity = parseGranularity(granularityText);
  } catch (error) {
    throw new UsageError(`--granularity ${granularityText} is not valid: ${(error as Error).message.replace(/\.$/, '')}. Use unstructured, N:M (e.g. 2:4) or block:RxC (e.g. block:4x4).`);
  }
  const minParams = args.minParams ?? 256;
  if (!Number.isInteger(minParams) || minParams < 0) throw new UsageError(`--min-params ${args.minParams} must be a whole number >= 0.`);
  const seed = args.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed ${args.seed} must be a whole number in [0, 4294967295].`);
  if (args.targetBytes !== undefined && (!Number.isInteger(args.targetBytes) || args.targetBytes <= 0)) {
    throw new UsageError(`--target-bytes ${args.targetBytes} must be a positive whole number of bytes.`);
  }
  const excludeList = args.exclude === undefined ? [] : Array.isArray(args.exclude) ? args.exclude : [args.exclude];
  const exclude = excludeList.map((text) => {
    try {
      return new RegExp(text);
    } catch (error) {
      throw new UsageError(`--exclude ${JSON.stringify(text)} is not a valid regular expression (${(error as Error).message}).`);
    }
  });
  if (DATA_AWARE_METHODS.includes(method) && args.calibration === undefined) {
    throw new UsageError(`--method ${method} prunes by what the layers' inputs look like; give sample inputs with --calibration DIR (a folder of .npy files), or use a data-free method such as --method magnitude.`);
  }
  if (args.calibrationSamples !== undefined && (!Number.isInteger(args.calibrationSamples) || args.calibrationSamples < 1)) {
    throw new UsageError(`--calibration-samples ${args.calibrationSamples} must be a whole number >= 1.`);
  }
  const syntheticSamples = args.syntheticSamples ?? DEFAULT_SYNTHETIC_SAMPLES;
  if (!Number.isInteger(syntheticSamples) || syntheticSamples < 0) {
    throw new UsageError(`--synthetic-samples ${args.syntheticSamples} must be a whole number >= 0 (0 turns input statistics from random inputs off).`);
  }
  let calibrationMemory = DEFAULT_CALIBRATION_MEMORY;
  if (args.calibrationMemory !== undefined) {
    try {
      calibrationMemory = parseSize(typeof args.calibrationMemory === 'string' && /^\d+$/.test(args.calibrationMemory) ? Number(args.calibrationMemory) : args.calibrationMemory);
    } catch {
      throw new UsageError(`--calibration-memory ${args.calibrationMemory} is not a size; write e.g. --calibration-memory 512MB or 2GiB.`);
    }
    if (!(calibrationMemory >= 0)) throw new UsageError(`--calibration-memory ${args.calibrationMemory} must not be negative.`);
  }
  const options: PruneOptions = { sparsity, method, granularity, granularityText, allocation, exclude, minParams, storage, seed, calibrationMemory, syntheticSamples };
  if (args.targetBytes !== undefined) options.targetBytes = args.targetBytes;
  if (args.calibration !== undefined) options.calibration = args.calibration;
  if (args.calibrationSamples !== undefined) options.calibrationSamples = args.calibrationSamples;
  return options;
}
