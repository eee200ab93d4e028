import type { WeightRef } from './find-weights.js';
import type { NodeInfo } from './model.js';
import { AttributeField } from './onnx-fields.js';
import { readInt64, readRepeatedInt64, readString } from './wire.js';

/** A node's repeated-int attribute (e.g. Conv's strides), or `fallback` when absent. */
export function intsAttribute(node: NodeInfo, name: string, fallback: number[] = []): number[] {
  const attribute = node.attributes.find((a) => a.name === name);
  if (!attribute) return fallback;
  return readRepeatedInt64(attribute.message.bytes, attribute.message.all(AttributeField.ints)).map(Number);
}

/** A node's string attribute (e.g. Conv's auto_pad), or `fallback` when absent. */
export function stringAttribute(node: NodeInfo, name: string, fallback: string): string {
  const attribute = node.attributes.find((a) => a.name === name);
  const field = attribute?.message.last(AttributeField.s);
  return field ? readString(attribute!.message.bytes, field) : fallback;
}

/**
 * One matrix inside a weight tensor, as strides into its flat row-major data:
 * element (r, c) is at `offset + r * rowStride + c * colStride`. Rows are the output dimension and
 * columns the reduction (input) dimension, so N:M groups run along a row.
 */
export interface MatrixBlock {
  offset: number;
  rows: number;
  cols: number;
  rowStride: number;
  colStride: number;
  /** e.g. "direction 0, gate i" for recurrent weights. */
  label?: string;
}

/** How specprune views a weight as matrices, and why. */
export interface MatrixView {
  blocks: MatrixBlock[];
  /** Human description, e.g. "Conv [out, in/groups*kh*kw]". */
  description: string;
}

export function intAttribute(node: NodeInfo, name: string, fallback: number): number {
  const attribute = node.attributes.find((a) => a.name === name);
  const field = attribute?.message.last(AttributeField.i);
  return field ? Number(readInt64(attribute!.message.bytes, field)) : fallback;
}

function batches(shape: readonly number[], rows: number, cols: number, transpose: boolean, label: string): MatrixView {
  const stored0 = shape[shape.length - 2]!;
  const stored1 = shape[shape.length - 1]!;
  const count = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const blocks: MatrixBlock[] = [];
  for (let b = 0; b < count; b++) {
    const offset = b * stored0 * stored1;
    blocks.push(transpose ? { offset, rows, cols, rowStride: 1, colStride: stored1 } : { offset, rows, cols, rowStride: stored1, colStride: 1 });
  }
  return { blocks, description: label };
}

/**
 * The matrix view of a weight, decided by its first consumer:
 * MatMul B [K, N] -> [N, K] (transposed view), A [M, K] as stored; Gemm honouring transA/transB;
 * Conv [out, in/groups * kernel]; ConvTranspose [in, out/groups, kernel] -> [out/groups * kernel, in];
 * LSTM/GRU/RNN W and R per direction and per gate block [hidden, input]. Batched MatMul weights give one
 * matrix per leading index.
 */
export function matrixView(weight: WeightRef): MatrixView {
  const use = weight.uses[0]!;
  const shape = weight.shape;
  const rest = shape.slice(1).reduce((a, b) => a * b, 1);
  const plain = (description: string): MatrixView => ({
    blocks: [{ offset: 0, rows: shape[0]!, cols: rest, rowStride: rest, colStride: 1 }],
    description,
  });
  switch (use.op) {
    case 'Conv':
      return plain(`Conv [out, in/groups*kernel] = [${shape[0]}, ${rest}]`);
    case 'ConvTranspose':
      // y[o] = sum_i W[i, o, k] x[i]: the reduction runs over the stored rows.
      return {
        blocks: [{ offset: 0, rows: rest, cols: shape[0]!, rowStride: 1, colStride: rest }],
        description: `ConvTranspose [out/groups*kernel, in] = [${rest}, ${shape[0]}] (transposed)`,
      };
    case 'MatMul': {
      const [k, n] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
      return use.inputIndex === 1 ? batches(shape, n, k, true, `MatMul B [K, N] viewed as [N, K] = [${n}, ${k}]`) : batches(shape, k, n, false, `MatMul A [M, K] = [${k}, ${n}]`);
    }
    case 'Gemm': {
      const [a, b] = [shape[0]!, shape[1]!];
      if (use.inputIndex === 1) {
        return intAttribute(use.node, 'transB', 0)
          ? batches(shape, a, b, false, `Gemm B (transB) [N, K] = [${a}, ${b}]`)
          : batches(shape, b, a, true, `Gemm B [K, N] viewed as [N, K] = [${b}, ${a}]`);
      }
      return intAttribute(use.node, 'transA', 0)
        ? batches(shape, b, a, true, `Gemm A (transA) [K, M] viewed as [M, K] = [${b}, ${a}]`)
        : batches(shape, a, b, false, `Gemm A [M, K] = [${a}, ${b}]`);
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      const gates = use.op === 'LSTM' ? ['i', 'o', 'f', 'c'] : use.op === 'GRU' ? ['z', 'r', 'h'] : ['h'];
      const [directions, gateRows, cols] = [shape[0]!, shape[1]!, shape[2]!];
      const hidden = gateRows / gates.length;
      if (shape.length !== 3 || !Number.isInteger(hidden)) return plain(`${use.op} [${shape[0]}, ${rest}]`);
      const blocks: MatrixBlock[] = [];
      for (let d = 0; d < directions; d++) {
        gates.forEach((gate, g) => {
          blocks.push({ offset: (d * gateRows + g * hidden) * cols, rows: hidden, cols, rowStride: cols, colStride: 1, label: `direction ${d}, gate ${gate}` });
        });
      }
      return { blocks, description: `${use.op} ${use.inputIndex === 1 ? 'W' : 'R'}: ${blocks.length} gate blocks [${hidden}, ${cols}]` };
    }
    default:
      return plain(`[${shape[0]}, ${rest}]`);
  }
}

/** Copies a block out of a flat weight into a contiguous row-major Float32Array. */
export function extractBlock(data: Float32Array, block: MatrixBlock): Float32Array {
  const out = new Float32Array(block.rows * block.cols);
  for (let r = 0; r < block.rows; r++) {
    const base = block.offset + r * block.rowStride;
    if (block.colStride === 1) out.set(data.subarray(base, base + block.cols), r * block.cols);
    else for (let c = 0; c < block.cols; c++) out[r * block.cols + c] = data[base + c * block.colStride]!;
  }
  return out;
}

/** Writes a contiguous block back into the flat weight (inverse of extractBlock). */
export function scatterBlock(data: Float32Array, block: MatrixBlock, values: Float32Array): void {
  for (let r = 0; r < block.rows; r++) {
    const base = block.offset + r * block.rowStride;
    if (block.colStride === 1) data.set(values.subarray(r * block.cols, (r + 1) * block.cols), base);
    else for (let c = 0; c < block.cols; c++) data[base + c * block.colStride] = values[r * block.cols + c]!;
  }
}
