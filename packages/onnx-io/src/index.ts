export { readModel, parseModel, type ReadOptions } from './read-model.js';
export { writeModel, serializeModel, addGraphOutputs, updateWeight, denseFloat32View, setMetadata, storageBytes, sparseStorageUnsupported, serializeForRuntime, allTensors, writeTemp, writeFileAtomic, PROTOBUF_LIMIT_BYTES, type Storage, type StorageOptions, type WriteOptions, type WriteResult } from './write-model.js';
export { findWeights, countNonzero, denseTensorOf, sparseOf, WEIGHT_SLOTS, type WeightRef, type WeightUse, type WeightStorage, type WeightLocation } from './find-weights.js';
export { readTensorBytes, readTensorFloat32, decodeFloat32, encodeFloat32, countNonzeroBytes, floatDTypeName } from './tensor-data.js';
export { densifySparse, readSparseIndices } from './sparse-data.js';
export { sparseIndexType, SPARSE_MIN_IR_VERSION, type IndexType, type SparseIndexMode } from './encode.js';
export { measureSizes, type ModelSizes } from './sizes.js';
export { OnnxInputError } from './errors.js';
export { stageModel, stageFile, stageTempFile, commitStaged, tempPathFor, type StagedWrite } from './write-model.js';
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
export { DTYPES, FLOAT_DTYPES, dtypeOf, dtypeCode, describeDataType, type DTypeName, type FloatDTypeName } from './dtypes.js';
export { halfToFloat, floatToHalf, bfloat16ToFloat, floatToBfloat16 } from './float16.js';
export type { OnnxModel, GraphInfo, NodeInfo, TensorInfo, SparseTensorInfo, AttributeInfo, Opset, ExternalDataRef } from './model.js';

import type { WeightRef } from './find-weights.js';
import type { OnnxModel } from './model.js';
import { densifySparse } from './sparse-data.js';
import { denseTensorOf, sparseOf } from './find-weights.js';
import { readTensorFloat32 } from './tensor-data.js';

/** A weight's values as a new dense Float32Array (row-major in its ONNX shape), whatever its storage. */
export function readWeight(model: OnnxModel, weight: WeightRef): Float32Array {
  const sparse = sparseOf(weight);
  return sparse ? densifySparse(model, sparse) : readTensorFloat32(model, denseTensorOf(weight)!);
}
export { matrixView, extractBlock, scatterBlock, intAttribute, intsAttribute, stringAttribute, type MatrixBlock, type MatrixView } from './matrix-view.js';
export { readModelHollow, rewritePayloads, startPayloadRewrite, readHollowPayload, HOLLOW_MIN_BYTES, type HollowModel, type PayloadEdit } from './hollow-read.js';
export { stringEntry } from './encode.js';
export { ModelField, TensorField } from './onnx-fields.js';
export { graphInputsOutputs, graphValueInfo, type ValueInfo, type DeclaredDim } from './value-info.js';
