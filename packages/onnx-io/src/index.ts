/**
 * @specprune/onnx-io, the browser-safe entry: parse, edit and serialise ONNX models held in memory.
 * Nothing here touches files or imports a Node built-in; reading and writing files, external data and
 * the streaming rewrite are in `@specprune/onnx-io/node` (node.ts), which re-exports all of this.
 */
export { parseModel, type ParseOptions } from './parse-model.js';
export { serializeModel, serializeForRuntime, SerializeBuffer, unchangedModelBytes, allTensors, PROTOBUF_LIMIT_BYTES } from './serialize.js';
export {
  addGraphOutputs,
  updateWeight,
  denseFloat32View,
  setMetadata,
  storageBytes,
  sparseStorageUnsupported,
  type Storage,
  type StorageOptions,
} from './edit-model.js';
export { findWeights, countNonzero, denseTensorOf, sparseOf, WEIGHT_SLOTS, type WeightRef, type WeightUse, type WeightStorage, type WeightLocation } from './find-weights.js';
export { readTensorBytes, readTensorFloat32, decodeFloat32, encodeFloat32, countNonzeroBytes, floatDTypeName } from './tensor-data.js';
export { densifySparse, readSparseIndices } from './sparse-data.js';
export { bitmaskModelUnsupported, bitmaskUnsupported, BITMASK_MIN_OPSET } from './bitmask.js';
export { VALUE_FORMS, channelAxis, lowersPrecision, roundTripValues, type ValueForm } from './values.js';
export { quantizedUnsupported, QUANTIZED_MIN_OPSET } from './quantized.js';
export { cutModelBefore, cutTensors, liftable, liftWeightsToInputs } from './lift-inputs.js';
export { constantTensors, replaceConstantTensor, setIntAttribute, setIntsAttribute, removeValueInfo, removeInitializer, addInitializer, appendNodeInput, setNodeInput, type ConstantTensor } from './resize-tensors.js';
export { sparseIndexType, SPARSE_MIN_IR_VERSION, type IndexType, type SparseIndexMode } from './encode.js';
export { OnnxInputError } from './errors.js';
export { DTYPES, FLOAT_DTYPES, dtypeOf, dtypeCode, describeDataType, type DTypeName, type FloatDTypeName } from './dtypes.js';
export { halfToFloat, floatToHalf, bfloat16ToFloat, floatToBfloat16 } from './float16.js';
export type { OnnxModel, GraphInfo, NodeInfo, TensorInfo, SparseTensorInfo, AttributeInfo, Opset, ExternalDataRef, ExternalDataFiles } from './model.js';

import type { WeightRef } from './find-weights.js';
import type { OnnxModel } from './model.js';
import { densifySparse } from './sparse-data.js';
import { decodedValuesOf, denseTensorOf, sparseOf } from './find-weights.js';
import { readTensorFloat32 } from './tensor-data.js';

/** A weight's values as a new dense Float32Array (row-major in its ONNX shape), whatever its storage. */
export function readWeight(model: OnnxModel, weight: WeightRef): Float32Array {
  const decoded = decodedValuesOf(model, weight);
  if (decoded) return decoded;
  const sparse = sparseOf(weight);
  return sparse ? densifySparse(model, sparse) : readTensorFloat32(model, denseTensorOf(weight)!);
}
export { matrixView, extractBlock, scatterBlock, intAttribute, intsAttribute, stringAttribute, type MatrixBlock, type MatrixView } from './matrix-view.js';
export { stringEntry } from './encode.js';
export { ModelField, TensorField } from './onnx-fields.js';
export { graphInputsOutputs, graphValueInfo, type ValueInfo, type DeclaredDim } from './value-info.js';
