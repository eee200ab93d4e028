export { benchmark, assembleResult, parseShapeFlags, type BenchmarkOptions } from './benchmark.js';
export { TargetRegistry, createDefaultRegistry } from './registry.js';
export type { Target, TargetContext, TargetFactory, TargetSpec } from './target.js';
export { DeviceError } from './errors.js';
export { checkBoard, type BoardCheck, type BoardCheckOptions } from './board-check.js';
export { summarizeLatencies, percentile, median } from './stats.js';
export { resolveInputs, generateInputData, suggestShape, isBatchLikeDim, INPUT_DTYPES, InputSpecError, type ResolvedInput } from './input-spec.js';
export type { BenchResult, DeviceInfo, LatencyStats, Logger, Measurement, MemorySource, PayloadConfig, InputDtype } from './types.js';
export { cleanText } from './clean-text.js';
