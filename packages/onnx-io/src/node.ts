/**
 * @specprune/onnx-io/node: everything that touches the file system, for Node. Model files are read
 * (readModel, readModelHollow) with their external data resolved inside the model's folder and read on
 * demand; models are written atomically through staged temporary files (writeModel, stageModel, ...);
 * large models are rewritten payload by payload (rewritePayloads); sizes are measured with zlib.
 * Re-exports the browser-safe entry, so Node code can import everything from here.
 */
export * from './index.js';
export { readModel, type ReadOptions } from './read-model.js';
export { nodeExternalFiles } from './external-files.js';
export {
  writeModel,
  stageModel,
  stageFile,
  stageTempFile,
  commitStaged,
  tempPathFor,
  writeTemp,
  writeFileAtomic,
  type StagedWrite,
  type WriteOptions,
  type WriteResult,
} from './write-model.js';
export { measureSizes, type ModelSizes } from './sizes.js';
export {
  checkWritableFile,
  describeFileKind,
  isSameFile,
  openRegularFile,
  readRegularFile,
  realPathOf,
  removeTempFiles,
  statRegularFile,
  type FileWording,
} from './node-files.js';
export { readModelHollow, rewritePayloads, startPayloadRewrite, readHollowPayload, HOLLOW_MIN_BYTES, type HollowModel, type PayloadEdit } from './hollow-read.js';
