/**
 * A few protobuf encoders for building hostile models byte by byte (lengths that wrap, nesting 10,000
 * deep, 200,000 nodes), where going through python-onnx would refuse or take minutes.
 */

export function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

export function tag(no: number, wireType: number): Uint8Array {
  return varint(no * 8 + wireType);
}

/** A LEN field; `length` overrides the encoded length (to make it lie). */
export function len(no: number, payload: Uint8Array | string, length?: number | bigint): Uint8Array {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return concat([tag(no, 2), varint(length ?? bytes.byteLength), bytes]);
}

export function int(no: number, value: number | bigint): Uint8Array {
  return concat([tag(no, 0), varint(value)]);
}

/** TensorProto float32 with raw_data. */
export function floatTensor(name: string, dims: number[], rawBytes = dims.reduce((a, b) => a * b, 1) * 4): Uint8Array {
  return concat([...dims.map((d) => int(1, d)), int(2, 1), len(8, name), len(9, new Uint8Array(rawBytes))]);
}

/** ValueInfoProto with just a name. */
export function valueInfo(name: string): Uint8Array {
  return len(1, name);
}

export function node(op: string, inputs: string[], outputs: string[], name = '', attributes: Uint8Array[] = []): Uint8Array {
  return concat([...inputs.map((i) => len(1, i)), ...outputs.map((o) => len(2, o)), ...(name ? [len(3, name)] : []), len(4, op), ...attributes.map((a) => len(5, a))]);
}

/** ModelProto: ir_version 8, opset 13, the given GraphProto payload. */
export function model(graph: Uint8Array, extra: Uint8Array[] = []): Uint8Array {
  return concat([int(1, 8), len(8, int(2, 13)), len(7, graph), ...extra]);
}

/**
 * A model whose main graph holds a Loop whose body holds a Loop ... `depth` levels down, the innermost
 * body using the main graph's weight W in a MatMul. Built outside-in as prefixes (each message's last
 * field is the nested one), so it costs O(depth), not O(depth^2).
 */
export function nestedLoops(depth: number, attribute: 'g' | 'graphs' = 'g'): Uint8Array {
  const innermost = concat([len(1, node('MatMul', ['x', 'W'], ['y'], 'inner')), len(12, valueInfo('y'))]);
  const prefixes: Uint8Array[] = [];
  let size = innermost.byteLength;
  for (let level = depth; level >= 1; level--) {
    // attribute: name "body", type GRAPH(S), then g (6) or graphs (11) holding the graph
    const attrHead = concat([len(1, 'body'), int(20, attribute === 'g' ? 5 : 10), tag(attribute === 'g' ? 6 : 11, 2), varint(size)]);
    const attrSize = attrHead.byteLength + size;
    const nodeHead = concat([len(2, 'y'), len(3, `loop${level}`), len(4, 'Loop'), tag(5, 2), varint(attrSize)]);
    const nodeSize = nodeHead.byteLength + attrSize;
    // graph: outputs first, then the node field last
    const graphHead = concat([len(12, valueInfo('y')), tag(1, 2), varint(nodeSize)]);
    prefixes.push(graphHead, nodeHead, attrHead);
    size = graphHead.byteLength + nodeSize;
  }
  // The outermost prefix was pushed last: reverse the groups of three.
  const ordered: Uint8Array[] = [];
  for (let i = prefixes.length - 3; i >= 0; i -= 3) ordered.push(prefixes[i]!, prefixes[i + 1]!, prefixes[i + 2]!);
  const chain = concat([...ordered, innermost]);
  // The main graph: W and x first, then the chain's first graph's fields (it *is* the main graph).
  const main = concat([len(5, floatTensor('W', [4, 4])), len(11, valueInfo('x')), chain]);
  return model(main);
}
