import type { MessageNode } from './message.js';
import type { WireField } from './wire.js';

export interface Opset {
  domain: string;
  version: number;
}

/** Where a tensor's bytes live when they are outside the model file (TensorProto.external_data). */
export interface ExternalDataRef {
  /** As written in the model (relative to the model's folder). */
  location: string;
  /**
   * For a model read by the Node entry: the real path of the data file, checked to stay inside the
   * model's folder. Otherwise the location joined to the `dir` the model was parsed with (or the
   * location alone without one), never opened.
   */
  path: string;
  offset: number;
  /** Bytes; undefined means "to the end of the file". */
  length?: number;
}

/**
 * Access to a model's external data files. The browser-safe entry has none: the Node entry's readModel
 * gives one to the models it reads (see `@specprune/onnx-io/node`), so only they can read external bytes.
 */
export interface ExternalDataFiles {
  /**
   * The checked path of the data file a location names, as written in the model (already checked to be
   * relative and free of ".."; "\\" separates like "/"): it must stay inside `dir` also through symbolic
   * links, and be a regular file if it exists. Throws OnnxInputError.
   */
  resolve(location: string, dir: string, modelLabel: string, tensorLabel: string): string;
  /** The `expected` bytes (dims x element size) of the tensor stored at `ref`. Throws OnnxInputError. */
  read(ref: ExternalDataRef, expected: number, modelLabel: string, tensorLabel: string): Uint8Array;
}

/** A TensorProto found in the model, with its header decoded and its data left in place. */
export interface TensorInfo {
  message: MessageNode;
  /** The field in the parent message that holds this tensor. */
  field: WireField;
  name: string;
  dataType: number;
  dims: number[];
  numel: number;
  external?: ExternalDataRef;
}

/** A SparseTensorProto: values (1-D, named like the tensor), indices (linearised or [nnz, rank]), dense dims. */
export interface SparseTensorInfo {
  message: MessageNode;
  field: WireField;
  name: string;
  dims: number[];
  numel: number;
  values: TensorInfo;
  indices: TensorInfo;
}

export interface AttributeInfo {
  message: MessageNode;
  field: WireField;
  name: string;
  type: number;
  tensor?: TensorInfo;
  sparseTensor?: SparseTensorInfo;
  graphs: GraphInfo[];
}

export interface NodeInfo {
  message: MessageNode;
  field: WireField;
  index: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: AttributeInfo[];
  graph: GraphInfo;
}

export interface GraphInfo {
  message: MessageNode;
  /** "main" for the top-level graph, else "<parent path>/<node name>/<attribute name>[<index>]". */
  path: string;
  name: string;
  parent?: GraphInfo;
  nodes: NodeInfo[];
  initializers: TensorInfo[];
  sparseInitializers: SparseTensorInfo[];
  inputs: string[];
  outputs: string[];
}

/** A parsed model. `bytes` is private to this object: the input file is never written. */
export interface OnnxModel {
  /** File the model was read from, if any; used to name it in errors and to resolve external data. */
  path?: string;
  /** Folder external data is resolved against. */
  dir?: string;
  bytes: Uint8Array;
  /** True when `bytes` was read from a file by us, so dense rewrites may overwrite raw_data in place. */
  ownsBytes?: boolean;
  /** How external data is read; set by the Node entry's readModel, absent for models parsed from bytes. */
  externalFiles?: ExternalDataFiles;
  root: MessageNode;
  irVersion: number;
  opsets: Opset[];
  producerName: string;
  producerVersion: string;
  metadata: Array<{ key: string; value: string }>;
  graph: GraphInfo;
}
