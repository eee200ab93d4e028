/**
 * specprune for Node: `prune(modelBytesOrPath, options)` (the pipeline with onnxruntime-node and files),
 * and `run({ argv, io })`, the CLI as a function.
 */
export { prune, type NodePruneOptions, type PruneReport } from './api/prune.js';
export { run, type RunOptions } from './run.js';
export type { Io } from './io.js';
export { ExitError, UsageError, isUserError } from './errors.js';
export { PruneInputError, PruneOptionError, type PruneProgress } from '@specprune/prune';
