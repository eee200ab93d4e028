/**
 * @specprune/prune: the pruning pipeline as a library. ONNX bytes (or a parsed model) + options + an
 * onnxruntime module in, pruned bytes + report out. No files, no printing, no process: it runs in Node
 * (onnxruntime-node) and in browsers (onnxruntime-web).
 */
export { prune, type PruneContext, type PruneProgress, type PruneReport, type PruneResult, type WeightReport, type WeightDetail, type CalibrationSummary } from './pipeline.js';
export {
  resolvePruneOptions,
  METHODS,
  DATA_AWARE_METHODS,
  ALLOCATIONS,
  STORAGES,
  STRUCTURES,
  DEFAULT_CHANNEL_MULTIPLE,
  DEFAULT_SYNTHETIC_SAMPLES,
  DEFAULT_CALIBRATION_MEMORY,
  type PruneOptions,
  type ResolvedPruneOptions,
  type PruneMethod,
  type Allocation,
  type StorageChoice,
} from './options.js';
export { PruneInputError, PruneOptionError, PruneAbortedError, isInputError, throwIfAborted } from './errors.js';
export { estimatePrune, type PruneEstimate } from './estimate.js';
export { CHECK_SAMPLES, openSession, randomFeeds, randomSamples, type OrtRuntime, type Feeds, type InferenceSession, type Tensor } from './runtime.js';
export { describeFidelity, measureFidelity, compareOutputs, barelyMovedOutputs, blindComparison, INPUT_BLIND_VARIATION, percent, RANDOM_INPUT_CAVEAT, type Fidelity, type OutputFidelity } from './fidelity.js';
export { planInputs, describeShape, shapeExample, type InputPlan } from './model-inputs.js';
export { OutputAgreement } from './compare.js';
export { pruneMagnitudeInPlace, pruneWeight, pruneWeightWithStats, reconstructionErrorOf, measurePruned, type PrunedWeight, type DataAwarePruned, type DataAwareMethod } from './engine.js';
export { collectInputStats, planInputStats, type StatsPlan, type CollectedStats } from './calibration.js';
/** The one seed rule (core's), re-exported for clients that draw the same input streams as the pipeline. */
export { deriveSeed } from '@specprune/core';
export { SCAN_GRID, createScanner, scanSensitivity, type Scanner } from './sensitivity.js';
export { doWeightWork, weightSpectrum, type WeightSpectrum, type WeightWork, type WeightWorkers, type WeightWorkResult } from './weight-work.js';
export { analyzeChannels, scoreChannels, countMacs, allocateChannels, allocateChannelsGreedy, uniformCounts, topChannels, applyChannelPruning, type ChannelAnalysis, type ChannelGroup, type StructureReport } from './structure/index.js';
