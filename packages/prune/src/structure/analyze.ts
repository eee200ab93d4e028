import { constantTensors, graphValueInfo, intAttribute, intsAttribute, readTensorBytes, stringAttribute, type ConstantTensor, type GraphInfo, type NodeInfo, type OnnxModel } from '@specprune/onnx-io';

/**
 * Channel dependency analysis for structured pruning (issue 16): which output channels of Conv, Gemm and
 * MatMul (and hidden units of recurrent layers) can be removed together with the matching input channels of
 * every consumer. A channel is followed through ops that pass it along unchanged or per channel; ops that couple
 * channel sets (residual Add, Sum of branches, squeeze-excitation Mul, attention's Q·Kᵀ and P·V) merge them into one
 * group; Concat lays groups side by side, Split and Slice take ranges; Flatten/Reshape into Gemm/MatMul turns a
 * channel into a block of features, a Reshape into [heads, size] makes heads the channels. Where a range bound falls
 * inside a group, a Reshape needs heads, or a grouped Conv needs its input alike in every group, the producers are
 * asked to lay their channels out so and the analysis runs again (rounds). Any use that cannot be proven safe
 * leaves the whole group intact, with the reason.
 */

/** `count` consecutive channels of a (raw) group, laid along one axis of a tensor. */
export interface Segment {
  group: number;
  count: number;
}

/** How a tensor carries channels: its channel axis (counted from the end, 1 = last) holds these segments. */
interface Layout {
  segments: Segment[];
  axisFromEnd: number;
  rank?: number;
  /** Flattened: each channel is a block of features on the last axis (block size known at the consumer). */
  flat?: boolean;
  /** Each channel is this many consecutive entries of the channel axis (an attention head's features); default 1. */
  block?: number;
  /**
   * Fused query/key/value: another axis (counted from the end) whose index i selects segments[i] alone on the
   * channel axis (one group each, all of one count), until a Slice, Gather or Split takes them apart.
   */
  stacked?: number;
}

/** Keep only the groups' kept channels along `axis` of a constant tensor; each channel is `block` elements. */
export interface AxisSlice {
  tensor: string;
  axis: number;
  segments: Segment[];
  block: number;
}

/**
 * A hardcoded channel count in an integer constant (a Reshape shape, Split sizes, Slice bounds) or in a node's ints
 * attribute (Split's `split` before opset 13): entry `index` becomes the segments' kept channels x block.
 */
export interface ShapeEdit {
  tensor?: string;
  attribute?: { node: NodeInfo; name: string };
  index: number;
  segments: Segment[];
  block: number;
  /** Rewrite even when these segments keep every channel (a Slice bound given from the end, or past it). */
  always?: boolean;
  /** The constant is shared with other nodes: this node's input `input` gets an edited copy of its own. */
  private?: { node: NodeInfo; input: number };
}

/** A weight whose rows along `axis` produce the segments' channels: the data-free score source. */
export interface ScoreSource {
  tensor: string;
  axis: number;
  segments: Segment[];
  /** Rows per channel (an attention head's features); default 1. */
  block?: number;
  /** A BatchNormalization right after: its |scale| / sqrt(var + eps) multiplies the row norms. */
  batchNorm?: { scale: string; variance: string; epsilon: number };
}

/** A node that does multiply-adds: its count at full size and the channel sets that scale it. */
export interface MacNode {
  node: string;
  macs: number | undefined;
  input?: Segment[];
  output?: Segment[];
}

/**
 * A dense consumer of channels (Conv with group 1, Gemm, MatMul): its weight's input axis is sliced. With
 * input statistics, its inputs decide which channels matter, and the mean of a removed channel is folded
 * into its bias.
 */
export interface ConsumerInfo {
  node: NodeInfo;
  kind: 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul' | 'Recurrent';
  /** The tensor it reads the channels from. */
  input: string;
  weight: string;
  /** The weight's input (reduction) axis. */
  axis: number;
  segments: Segment[];
  block: number;
  /** Its bias constant (Conv input 2, Gemm C), if any. */
  bias?: string;
  /** Its own output channels, when it also starts a group. */
  output?: Segment[];
}

export interface ChannelGroup {
  /** Root id (after merging). */
  id: number;
  channels: number;
  /** Each channel is a block of this many features (attention heads: the head size); absent for plain channels. */
  block?: number;
  /**
   * Each channel is kept or removed at the same place in this many blocks of the tensor (the groups of a grouped
   * convolution); absent for plain channels.
   */
  copies?: number;
  /** Nodes whose weights or attributes change with this group's channels. */
  members: string[];
  /** Why the group is left intact; undefined when it can be pruned. */
  intact?: string;
}

export interface ChannelAnalysis {
  groups: ChannelGroup[];
  slices: AxisSlice[];
  shapeEdits: ShapeEdit[];
  /** Integer attributes that hold a channel count (a depthwise Conv's `group`, a recurrent op's `hidden_size`). */
  groupEdits: Array<{ node: NodeInfo; segments: Segment[]; attribute?: 'group' | 'hidden_size' }>;
  scores: ScoreSource[];
  consumers: ConsumerInfo[];
  macNodes: MacNode[];
  /** Every tensor that carries channels, by name: its segments (for stale value_info). */
  tensors: Map<string, Segment[]>;
  constants: Map<string, ConstantTensor>;
  /** Root group of a raw group id. */
  root(group: number): number;
}

const UNARY = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Identity', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'ThresholdedRelu',
  'Mish', 'Gelu', 'Erf', 'Neg', 'Abs', 'Exp', 'Sqrt', 'Floor', 'Ceil', 'Round', 'Reciprocal', 'Cast', 'Log', 'Sin', 'Cos', 'Sign',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'PRelu']);
/** Elementwise ops of any number of inputs (Sum of several branches). */
const VARIADIC = new Set(['Sum', 'Max', 'Min', 'Mean']);
const POOLS = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool']);
const REDUCES = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
/** Ops that follow channels made of blocks of features (attention heads); any other op leaves such a group intact. */
const BLOCK_AWARE = new Set([...UNARY, ...BINARY, ...VARIADIC, 'Dropout', 'Clip', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'MatMul', 'Gemm', 'Softmax', 'LogSoftmax', 'Shape']);

/**
 * A shape value that depends on a group's channel count: a 1-D (or scalar) integer tensor computed from Shape of a
 * tensor with channels, whose entries at `at` hold that count (of `segments`). Entries elsewhere do not change.
 */
interface ShapeTaint {
  segments: Segment[];
  at: number[];
  length: number;
}

/**
 * Analyses the main graph and, where names allow (see Scope), every If/Loop/Scan body. `shapes` are measured tensor
 * shapes (from a run of the model), used for the multiply-add counts and to prove what a Reshape does; value_info
 * shapes (and a body's declared inputs and outputs) fill in where fully static.
 * `values` are measured values of small integer tensors (computed Reshape shapes).
 */
export function analyzeChannels(model: OnnxModel, shapes: ReadonlyMap<string, readonly number[]> = new Map(), values: ReadonlyMap<string, readonly number[]> = new Map()): ChannelAnalysis {
  // A Split or Slice of the channel axis (or an Add of tensors whose groups are laid out differently) that cuts inside
  // a group asks for that group to be cut there at its producers: the analysis runs again with those producers'
  // channels made several groups, until no new cut is asked for (each round only adds cuts, so this ends).
  // Likewise a Reshape that splits the channel axis into [heads, head size] asks for the producers' channels to be
  // heads: one channel per block of head-size features.
  const cuts = new Map<string, Set<number>>();
  const blocks = new Map<string, Map<number, number>>();
  // And a grouped convolution asks for its input channels to be produced alike in each of its groups (tied).
  const ties = new Map<string, number>();
  const scope = scopeOf(model);
  for (let round = 0; ; round++) {
    const { analysis, requested, blocking, tying } = analyzeOnce(model, scope, shapes, values, cuts, blocks, ties);
    let added = false;
    for (const [producer, copies] of tying) if (!ties.has(producer)) (ties.set(producer, copies), (added = true));
    for (const [producer, offsets] of requested) {
      const known = cuts.get(producer) ?? new Set<number>();
      for (const offset of offsets) if (!known.has(offset)) (known.add(offset), (added = true));
      cuts.set(producer, known);
    }
    for (const [producer, parts] of blocking) {
      const known = blocks.get(producer) ?? new Map<number, number>();
      for (const [offset, block] of parts) if (!known.has(offset)) (known.set(offset, block), (added = true));
      blocks.set(producer, known);
    }
    if (!added || round === MAX_CUT_ROUNDS) return analysis;
  }
}

/**
 * What the analysis walks. `nodes`: the main graph's, and, when every name in the model is defined once, the nodes of
 * every If/Loop/Scan body (at any depth) right before the node that holds it, so that a channel is followed into a body
 * (an outer-scope use) and inside it by the same rules as anywhere else. A body's inputs (iteration count, condition,
 * loop-carried values, scanned slices) carry no channels; a channel that reaches a body's outputs (`returned`: the
 * output name and the node whose body returns it) leaves its group intact. When a name is defined twice (sibling
 * branches may reuse names), bodies are not walked and any tensor they use (`inner`) is left intact, as before.
 */
interface Scope {
  nodes: NodeInfo[];
  /** The main graph, then the bodies walked. */
  graphs: GraphInfo[];
  returned: Map<string, NodeInfo>;
  inner: Set<string>;
}

function scopeOf(model: OnnxModel): Scope {
  const graphs: GraphInfo[] = [];
  const nodes: NodeInfo[] = [];
  const returned = new Map<string, NodeInfo>();
  const visit = (g: GraphInfo) => {
    graphs.push(g);
    for (const node of g.nodes) {
      for (const attribute of node.attributes) {
        for (const body of attribute.graphs) {
          visit(body);
          for (const out of body.outputs) returned.set(out, node);
        }
      }
      nodes.push(node);
    }
  };
  visit(model.graph);
  const seen = new Set<string>();
  let unique = true;
  for (const g of graphs) {
    const own = new Set([...g.inputs, ...g.initializers.map((t) => t.name), ...g.sparseInitializers.map((t) => t.name), ...g.nodes.flatMap((n) => n.outputs)]);
    for (const name of own) {
      if (!name) continue;
      if (seen.has(name)) unique = false;
      seen.add(name);
    }
  }
  if (unique) return { nodes, graphs, returned, inner: new Set() };
  const inner = new Set<string>();
  for (const g of graphs.slice(1)) {
    for (const node of g.nodes) node.inputs.forEach((n) => n && inner.add(n));
    g.outputs.forEach((n) => inner.add(n));
  }
  return { nodes: [...model.graph.nodes], graphs: [model.graph], returned: new Map(), inner };
}

/** Rounds of cutting groups at Split/Slice boundaries before what is left is reported intact. */
const MAX_CUT_ROUNDS = 8;

function analyzeOnce(
  model: OnnxModel,
  scope: Scope,
  shapes: ReadonlyMap<string, readonly number[]>,
  values: ReadonlyMap<string, readonly number[]>,
  cuts: ReadonlyMap<string, ReadonlySet<number>>,
  blocks: ReadonlyMap<string, ReadonlyMap<number, number>>,
  ties: ReadonlyMap<string, number>,
): { analysis: ChannelAnalysis; requested: Map<string, Set<number>>; blocking: Map<string, Map<number, number>>; tying: Map<string, number> } {
  const graph = model.graph;
  const constants = new Map<string, ConstantTensor>();
  for (const g of scope.graphs) for (const [name, constant] of constantTensors(g)) constants.set(name, constant);
  const declared = new Map(scope.graphs.flatMap((g) => [...graphValueInfo(model, g, g !== model.graph)]));
  const shapeOf = (name: string): readonly number[] | undefined => {
    const measured = shapes.get(name);
    if (measured) return measured;
    const info = declared.get(name)?.shape;
    return info && info.every((d) => typeof d === 'number') ? (info as number[]) : undefined;
  };
  // Uses of every name by the nodes walked (bodies' included when followed); graph and body outputs are uses too.
  const uses = new Map<string, number>();
  const use = (name: string) => uses.set(name, (uses.get(name) ?? 0) + 1);
  for (const node of scope.nodes) node.inputs.forEach((n) => n && use(n));
  const outputs = new Set([...graph.outputs, ...scope.returned.keys()]);
  const inner = scope.inner;
  const graphInputs = new Set(scope.graphs.flatMap((g) => g.inputs));
  const producers = new Map<string, NodeInfo>();
  for (const node of scope.nodes) for (const out of node.outputs) if (out) producers.set(out, node);
  /** A constant that may be sliced: used once, by this node only, not a graph input or output, not seen by a subgraph that is not followed. */
  const sliceable = (name: string) => constants.has(name) && uses.get(name) === 1 && !outputs.has(name) && !inner.has(name) && !graphInputs.has(name);

  const parent: number[] = [];
  const channels: number[] = [];
  const groupBlock: number[] = [];
  const groupCopies: number[] = [];
  const intact: Array<string | undefined> = [];
  const members: Array<Set<string>> = [];
  const find = (g: number): number => {
    while (parent[g] !== g) g = parent[g] = parent[parent[g]!]!;
    return g;
  };
  /**
   * Where each raw group's channels start among its producer's output features (keyed by its first output), and the
   * features per channel; no producer: not cut.
   */
  const origin: Array<{ producer?: string; offset: number; block: number }> = [];
  const newGroup = (count: number, node: NodeInfo, producer?: { offset: number }, block = 1, copies = 1) => {
    const id = parent.length;
    parent.push(id);
    channels.push(count);
    groupBlock.push(block);
    groupCopies.push(copies);
    intact.push(undefined);
    members.push(new Set([node.name || node.outputs[0]!]));
    origin.push(producer ? { producer: node.outputs[0]!, offset: producer.offset, block } : { offset: 0, block });
    return id;
  };
  /**
   * A producer's `count` output features as channels: one group, or one per part where an earlier round asked for
   * cuts; a part whose features an earlier round asked to be heads has one channel per `block` features (when every
   * part asks the same block: one tensor has one block size).
   */
  const produce = (count: number, node: NodeInfo, own = 1): { segments: Segment[]; block: number } => {
    const key = node.outputs[0]!;
    // Tied: one group of count / copies channels, laid out once per block (a grouped Conv's own output groups, or its input asked so).
    const copies = own > 1 ? own : !cuts.get(key)?.size && !blocks.get(key)?.size ? (ties.get(key) ?? 1) : 1;
    if (copies > 1 && count % copies === 0) {
      const group = newGroup(count / copies, node, undefined, 1, copies);
      return { segments: Array.from({ length: copies }, () => ({ group, count: count / copies })), block: 1 };
    }
    const at = [...(cuts.get(key) ?? [])].filter((o) => o > 0 && o < count).sort((a, b) => a - b);
    const bounds = [0, ...at, count];
    const parts = bounds.slice(1).map((end, i) => ({ offset: bounds[i]!, size: end - bounds[i]! }));
    const asked = parts.map((p) => blocks.get(key)?.get(p.offset) ?? 1);
    const block = asked.every((b, i) => b === asked[0] && parts[i]!.size % b === 0) ? asked[0]! : 1;
    return { segments: parts.map((p) => ({ group: newGroup(p.size / block, node, { offset: p.offset }, block), count: p.size / block })), block };
  };
  /** Cuts asked for this round: a raw group and a channel offset inside it. */
  const wanted: Array<{ group: number; offset: number }> = [];
  /** Groups asked this round to be produced alike in `copies` blocks (the input of a grouped convolution). */
  const wantedTies: Array<{ group: number; copies: number }> = [];
  /** Groups asked this round to become heads of `block` features, from a channel offset inside them on. */
  const wantedBlocks: Array<{ group: number; offset: number; block: number }> = [];
  /** Segments that must keep the same channels (a fused query/key/value: each part keeps as many heads). */
  const together: Array<{ segments: Segment[]; node: NodeInfo }> = [];
  /** Whether every position falls on a segment boundary; if not, asks for cuts there (for the next round). */
  const cutAt = (segments: readonly Segment[], positions: readonly number[]): boolean => {
    let aligned = true;
    let start = 0;
    for (const s of segments) {
      for (const p of positions) {
        if (p > start && p < start + s.count) {
          wanted.push({ group: s.group, offset: p - start });
          aligned = false;
        }
      }
      start += s.count;
    }
    return aligned;
  };
  /** The segments between channel positions `from` and `to`, or undefined (cuts asked for) when a bound falls inside one. */
  const within = (segments: readonly Segment[], from: number, to: number): Segment[] | undefined => {
    if (!cutAt(segments, [from, to])) return undefined;
    let start = 0;
    const out: Segment[] = [];
    for (const s of segments) {
      if (start >= from && start + s.count <= to) out.push(s);
      start += s.count;
    }
    return out;
  };
  const boundaries = (segments: readonly Segment[]) => segments.slice(0, -1).map((_, i) => total(segments.slice(0, i + 1)));
  const mark = (segments: readonly Segment[], reason: string) => {
    for (const s of segments) {
      const r = find(s.group);
      intact[r] ??= reason;
    }
  };
  const join = (a: number, b: number) => {
    const [ra, rb] = [find(a), find(b)];
    if (ra === rb) return;
    parent[rb] = ra;
    intact[ra] ??= intact[rb];
    for (const m of members[rb]!) members[ra]!.add(m);
  };
  const note = (segments: readonly Segment[], node: NodeInfo) => {
    for (const s of segments) members[find(s.group)]!.add(node.name || node.outputs[0]!);
  };
  const total = (segments: readonly Segment[]) => segments.reduce((sum, s) => sum + s.count, 0);
  const describe = (node: NodeInfo) => `${node.opType} node ${node.name || node.outputs[0]}`;

  const layouts = new Map<string, Layout>();
  const slices: AxisSlice[] = [];
  const shapeEdits: ShapeEdit[] = [];
  const groupEdits: ChannelAnalysis['groupEdits'] = [];
  const scores: ScoreSource[] = [];
  const scoreOf = new Map<string, ScoreSource>();
  const macNodes: MacNode[] = [];
  const consumers: ConsumerInfo[] = [];
  const numel = (name: string) => shapeOf(name)?.reduce((a, b) => a * b, 1);

  /** Slice a constant along an axis, or say why it cannot be. */
  const slice = (name: string, axis: number, segments: Segment[], block: number, node: NodeInfo): string | undefined => {
    if (!sliceable(name)) return `${describe(node)} has input ${name}, which is not a constant used by it alone`;
    slices.push({ tensor: name, axis, segments, block });
    return undefined;
  };
  /** A constant combined elementwise with a tensor of this layout: ok, sliced per channel, or why not. */
  const perChannel = (name: string, layout: Layout, node: NodeInfo): string | undefined => {
    const constant = constants.get(name);
    if (!constant) {
      // A computed tensor of size 1 on the channel axis (an attention mask over heads) broadcasts alike to every channel.
      const dims = shapeOf(name);
      const fits = dims && !layout.flat && layout.rank !== undefined && dims.length <= layout.rank;
      if (fits && (dims.length < layout.axisFromEnd || dims[dims.length - layout.axisFromEnd] === 1)) return undefined;
      return `${describe(node)} combines it with ${name}, which is neither a constant nor a tensor with the same channels`;
    }
    const dims = constant.tensor.dims;
    if (layout.flat) return constant.tensor.numel === 1 ? undefined : `${describe(node)} combines flattened channels with a non-scalar constant`;
    const rank = layout.rank;
    if (rank === undefined ? dims.length > layout.axisFromEnd : dims.length > rank) return `${describe(node)} broadcasts it with a constant of more dimensions`;
    if (dims.length < layout.axisFromEnd) return undefined;
    const d = dims[dims.length - layout.axisFromEnd]!;
    if (d === 1) return undefined;
    const block = layout.block ?? 1;
    if (d !== total(layout.segments) * block) return `${describe(node)} combines it with a constant of ${d} channels`;
    return slice(name, dims.length - layout.axisFromEnd, layout.segments, block, node);
  };
  /** Channel axis as an absolute index, when the rank is known. */
  const absolute = (layout: Layout) => (layout.rank === undefined ? undefined : layout.rank - layout.axisFromEnd);
  const ints = (name: string): number[] | undefined => {
    const c = constants.get(name);
    if (!c || (c.tensor.dataType !== 7 && c.tensor.dataType !== 6)) return undefined;
    const bytes = readTensorBytes(model, c.tensor);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: number[] = [];
    for (let i = 0; i < c.tensor.numel; i++) out.push(c.tensor.dataType === 7 ? Number(view.getBigInt64(8 * i, true)) : view.getInt32(4 * i, true));
    return out;
  };
  const floats = (name: string): number[] | undefined => {
    const c = constants.get(name);
    if (!c || c.tensor.dataType !== 1) return undefined;
    const bytes = readTensorBytes(model, c.tensor);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: c.tensor.numel }, (_, i) => view.getFloat32(4 * i, true));
  };
  const pass = (node: NodeInfo, layout: Layout) => {
    note(layout.segments, node);
    for (const out of node.outputs) if (out) layouts.set(out, { ...layout, segments: [...layout.segments] });
  };
  const taints = new Map<string, ShapeTaint>();
  /** Entries of an integer tensor: a constant's, else the measured value's. */
  const valueOf = (name: string) => ints(name) ?? values.get(name);
  /**
   * Shape values followed from Shape of a tensor with channels through Cast, Identity, Slice and Gather on axis 0
   * with constant indices, Squeeze/Unsqueeze of a scalar, Concat on axis 0: the taint of the node's output (or
   * null when it holds no channel count any more), or why the channel count is used in a way not followed.
   */
  const followShape = (node: NodeInfo, op: string, derived: ReadonlyArray<ShapeTaint | undefined>): ShapeTaint | null | string => {
    const t = derived[0];
    const attr = (name: string) => intsAttribute(node, name);
    const only = derived.every((d, i) => i === 0 || !d);
    const of = (at: number[], length: number, from: ShapeTaint): ShapeTaint | null => (at.length ? { segments: from.segments, at, length } : null);
    if ((op === 'Cast' || op === 'Identity') && t && only) return t;
    if ((op === 'Squeeze' || op === 'Unsqueeze') && t && only && t.length === 1) return t;
    if (op === 'Slice' && t && only) {
      const [starts, ends, axes, steps] = node.inputs.length > 1 ? [1, 2, 3, 4].map((i) => (node.inputs[i] ? ints(node.inputs[i]!) : undefined)) : [attr('starts'), attr('ends'), node.attributes.some((a) => a.name === 'axes') ? attr('axes') : undefined, undefined];
      if (!starts || !ends || starts.length !== 1 || ends.length !== 1 || (axes && (axes.length !== 1 || (axes[0] !== 0 && axes[0] !== -1))) || (steps && (steps.length !== 1 || steps[0] !== 1))) return 'slices it with computed or strided bounds';
      const clamp = (v: number) => Math.min(t.length, Math.max(0, v < 0 ? v + t.length : v));
      const [from, to] = [clamp(starts[0]!), clamp(ends[0]!)];
      return of(t.at.filter((p) => p >= from && p < to).map((p) => p - from), Math.max(0, to - from), t);
    }
    if (op === 'Gather' && t && only && intAttribute(node, 'axis', 0) === 0) {
      const indices = node.inputs[1] ? ints(node.inputs[1]) : undefined;
      if (!indices) return 'gathers from it with computed indices';
      const at = indices.flatMap((index, i) => (t.at.includes(index < 0 ? index + t.length : index) ? [i] : []));
      return of(at, indices.length, t);
    }
    if (op === 'Concat' && intAttribute(node, 'axis', 0) === 0) {
      let offset = 0;
      const at: number[] = [];
      let first: ShapeTaint | undefined;
      for (const [i, name] of node.inputs.entries()) {
        const d = derived[i];
        const length = d?.length ?? valueOf(name)?.length;
        if (length === undefined) return 'concatenates it with a value of unknown length';
        if (d) {
          if (first && d.segments !== first.segments && (d.segments.length !== first.segments.length || d.segments.some((s, k) => find(s.group) !== find(first!.segments[k]!.group)))) return 'concatenates the channel counts of different groups';
          first ??= d;
          at.push(...d.at.map((p) => p + offset));
        }
        offset += length;
      }
      return of(at, offset, first!);
    }
    return 'computes with it';
  };

  for (const node of scope.nodes) {
    const tracked = node.inputs.map((n) => (n ? layouts.get(n) : undefined));
    const first = tracked[0];
    const refuse = (reason: string) => {
      for (const layout of tracked) if (layout) mark(layout.segments, reason);
    };
    const onlyFirst = () => tracked.every((t, i) => i === 0 || !t);
    const standard = node.domain === '' || node.domain === 'ai.onnx';
    const op = standard ? node.opType : `${node.domain}.${node.opType}`;
    const stacked = tracked.find((t) => t?.stacked);
    if (stacked) {
      const standardOp = node.domain === '' || node.domain === 'ai.onnx';
      if (tracked[0] !== stacked || tracked.some((t, i) => i > 0 && t) || !standardOp) refuse(`${describe(node)} takes query, key and value fused`);
      else stackedOp(node, node.opType, stacked);
      continue;
    }
    const blocked = tracked.find((t) => t?.block);
    if (blocked && !BLOCK_AWARE.has(op)) {
      refuse(`${describe(node)} takes channels that are blocks of ${blocked.block} features (attention heads)`);
      continue;
    }
    if (op === 'MatMul' && !constants.has(node.inputs[1]!)) {
      batchedMatMul(node, tracked);
      continue;
    }
    if (op === 'Conv' || op === 'ConvTranspose' || op === 'Gemm' || op === 'MatMul') {
      handleWeighted(node, op, tracked);
      continue;
    }
    if (op === 'LSTM' || op === 'GRU' || op === 'RNN') {
      handleRecurrent(node, op, tracked);
      continue;
    }
    // Shape of a tensor with channels: its value is followed (see followShape) to a Reshape, which then keeps
    // the channel count by itself; any other use of the count leaves the group intact.
    if (op === 'Shape' && first && onlyFirst()) {
      const rank = first.rank;
      if (rank === undefined) {
        refuse(`${describe(node)} reads the shape of a tensor of unknown rank`);
        continue;
      }
      const clamp = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
      const [from, to] = [clamp(intAttribute(node, 'start', 0)), clamp(node.attributes.some((a) => a.name === 'end') ? intAttribute(node, 'end', rank) : rank)];
      const channel = rank - first.axisFromEnd;
      note(first.segments, node);
      if (channel >= from && channel < to) taints.set(node.outputs[0]!, { segments: first.segments, at: [channel - from], length: to - from });
      continue;
    }
    // A Reshape's shape and a Resize's sizes may hold the channel count taken by Shape: followed there, below.
    const derived = node.inputs.map((n, i) => (n && !(op === 'Reshape' && i === 1) && !(op === 'Resize' && i === 3) ? taints.get(n) : undefined));
    if (derived.some(Boolean)) {
      const followed = standard ? followShape(node, op, derived) : 'computes with it';
      if (typeof followed === 'string') {
        for (const d of derived) if (d) mark(d.segments, `${describe(node)} ${followed}: the channel count taken by a Shape node`);
        refuse(`${describe(node)} takes it`);
      } else {
        for (const d of derived) if (d) note(d.segments, node);
        if (followed) taints.set(node.outputs[0]!, followed);
      }
      continue;
    }
    const shapeTaint = op === 'Reshape' && node.inputs[1] ? taints.get(node.inputs[1]) : undefined;
    if (shapeTaint && !(first && onlyFirst())) mark(shapeTaint.segments, `${describe(node)} reshapes another tensor to a shape computed from the channel count`);
    const sizesTaint = op === 'Resize' && node.inputs[3] ? taints.get(node.inputs[3]) : undefined;
    if (sizesTaint && !first) mark(sizesTaint.segments, `${describe(node)} resizes another tensor to sizes computed from the channel count`);
    if (!tracked.some(Boolean)) continue;
    if (!standard) {
      refuse(`${describe(node)} (domain ${node.domain}) takes it`);
      continue;
    }
    const extraOutputsUsed = node.outputs.slice(1).some((o) => o && (uses.has(o) || outputs.has(o) || inner.has(o)));
    if (UNARY.has(op) || op === 'Dropout' || op === 'Clip') {
      if (!first || !onlyFirst()) refuse(`${describe(node)} takes it as a parameter`);
      else if (op === 'Clip' && node.inputs.slice(1).some((n) => n && !constants.has(n))) refuse(`${describe(node)} has computed bounds`);
      else if (op === 'Dropout' && extraOutputsUsed) refuse(`${describe(node)}'s mask output is used`);
      else pass(node, first);
      continue;
    }
    if (BINARY.has(op) || VARIADIC.has(op)) {
      // Every tensor with channels must line up with the first (their groups join: residual Add, Sum of branches, a
      // gate's Mul); every other input is a scalar or per-channel constant, or a tensor of size 1 on the channel axis.
      const present = tracked.flatMap((t) => (t ? [t] : []));
      const ref = present[0]!;
      const lined = (t: Layout) => !t.flat && !ref.flat && t.axisFromEnd === ref.axisFromEnd && (t.block ?? 1) === (ref.block ?? 1) && t.segments.length === ref.segments.length && t.segments.every((s, k) => s.count === ref.segments[k]!.count);
      if (!present.every(lined)) {
        // Same channel count laid out in different groups (a Concat added to one Conv's output): cut each at the others' boundaries.
        const plain = present.every((t) => !t.flat && !t.block && t.axisFromEnd === ref.axisFromEnd && total(t.segments) === total(ref.segments));
        if (plain) for (const t of present) for (const u of present) if (t !== u) cutAt(t.segments, boundaries(u.segments));
        refuse(`${describe(node)} combines tensors whose channels do not line up`);
        continue;
      }
      for (const t of present.slice(1)) t.segments.forEach((s, k) => join(ref.segments[k]!.group, s.group));
      const reason = node.inputs.map((name, i) => (!name || tracked[i] ? undefined : perChannel(name, ref, node))).find(Boolean);
      const ranks = present.map((t) => t.rank);
      if (op === 'PRelu' && !tracked[0]) refuse(`${describe(node)} takes it as its slope`);
      else if (reason) refuse(reason);
      else pass(node, { ...ref, ...(ranks.every((r) => r !== undefined) ? { rank: Math.max(...(ranks as number[])) } : {}) });
      continue;
    }
    if (op === 'Concat') {
      const axis = intAttribute(node, 'axis', 0);
      const head = tracked[0];
      const aligned = (t: Layout | undefined): t is Layout => !!t && !t.flat && t.axisFromEnd === head?.axisFromEnd;
      if (!tracked.every(aligned)) {
        refuse(`${describe(node)} joins it with a tensor whose channels are not followed`);
        continue;
      }
      const layouts0 = tracked as Layout[];
      const a = head!.axisFromEnd;
      const rank = layouts0.find((t) => t.rank !== undefined)?.rank;
      const onChannel = axis < 0 ? -axis === a : rank !== undefined && rank - axis === a;
      const offChannel = axis < 0 ? -axis !== a : rank !== undefined && rank - axis !== a;
      if (onChannel) pass(node, { segments: layouts0.flatMap((t) => t.segments), axisFromEnd: a, ...(rank !== undefined ? { rank } : {}) });
      else if (offChannel && layouts0.every((t) => t.segments.length === head!.segments.length && t.segments.every((s, i) => s.count === head!.segments[i]!.count))) {
        for (const t of layouts0) t.segments.forEach((s, i) => join(s.group, head!.segments[i]!.group));
        pass(node, head!);
      } else {
        if (offChannel && layouts0.every((t) => total(t.segments) === total(head!.segments))) {
          const all = [...new Set(layouts0.flatMap((t) => boundaries(t.segments)))];
          for (const t of layouts0) cutAt(t.segments, all);
        }
        refuse(`${describe(node)} concatenates along an axis that cannot be matched to the channels`);
      }
      continue;
    }
    if (!first || !onlyFirst()) {
      refuse(`${describe(node)} takes it as a parameter`);
      continue;
    }
    const abs = absolute(first);
    if (POOLS.has(op)) {
      if (first.flat || abs !== 1) refuse(`${describe(node)} pools a tensor whose channel axis is not axis 1`);
      else if (extraOutputsUsed) refuse(`${describe(node)}'s indices output is used`);
      else pass(node, first);
    } else if (op === 'BatchNormalization' || op === 'InstanceNormalization') {
      const params = node.inputs.slice(1);
      const reason = first.flat || abs !== 1 ? `${describe(node)} normalises a tensor whose channel axis is not axis 1` : extraOutputsUsed ? `${describe(node)}'s training outputs are used` : undefined;
      const failed = reason ?? params.map((p) => slice(p, 0, first.segments, 1, node)).find(Boolean);
      if (failed) {
        refuse(failed);
        continue;
      }
      const source = scoreOf.get(node.inputs[0]!);
      if (op === 'BatchNormalization' && source && !source.batchNorm && uses.get(node.inputs[0]!) === 1) {
        source.batchNorm = { scale: params[0]!, variance: params[3]!, epsilon: attributeFloat(node, 'epsilon', 1e-5) };
      }
      pass(node, first);
    } else if (op === 'Flatten') {
      const axis = intAttribute(node, 'axis', 1);
      if (first.flat || (first.rank === 2 && first.axisFromEnd === 1)) {
        if (axis === 1) pass(node, first);
        else refuse(`${describe(node)} flattens at axis ${axis}`);
      } else if (axis === 1 && abs === 1) pass(node, { segments: first.segments, axisFromEnd: 1, rank: 2, flat: true });
      else refuse(`${describe(node)} flattens at axis ${axis} a tensor whose channel axis is ${abs ?? 'unknown'}`);
    } else if (op === 'Reshape' && reshapeHeads(node, first)) {
      continue;
    } else if (op === 'Reshape' && first.block) {
      refuse(`${describe(node)} reshapes heads in a way that is not followed`);
    } else if (op === 'Reshape') {
      // A constant shape, or one computed (its measured value): from a Shape node, the channel count in it follows
      // the pruned tensor; computed otherwise, it does not depend on the channels at all.
      const constant = ints(node.inputs[1]!);
      const computed = taints.get(node.inputs[1]!);
      const target = constant ?? values.get(node.inputs[1]!);
      const input = shapeOf(node.inputs[0]!);
      const output = shapeOf(node.outputs[0]!);
      const channels = total(first.segments);
      let reason: string | undefined;
      if (computed) {
        // The count sits at one entry of the target: the channel axis moves there if every axis before it holds what the input's axes before its channel axis held.
        const p = computed.at[0]!;
        const before = (dims: readonly number[] | undefined, n: number) => dims?.slice(0, n).reduce((a, b) => a * b, 1);
        const same = computed.segments.length === first.segments.length && computed.segments.every((s, k) => find(s.group) === find(first.segments[k]!.group));
        if (!target || !same || computed.at.length !== 1 || first.flat || abs === undefined || !output || output[p] !== channels || before(output, p) !== before(input, abs)) {
          const why = `${describe(node)} reshapes with a shape computed from the channel count that is not proven to keep the channel axis`;
          refuse(why);
          mark(computed.segments, why);
        } else pass(node, { segments: first.segments, axisFromEnd: output.length - p, rank: output.length });
        continue;
      }
      if (!target) reason = `${describe(node)} has a computed shape`;
      else if (first.flat || abs !== 1) reason = `${describe(node)} reshapes a tensor whose channel axis is not axis 1`;
      else if (target.length !== 2) reason = `${describe(node)} reshapes to ${target.length} dimensions`;
      else {
        const keepsBatch = target[0] === 0 || (input !== undefined && (target[0] === input[0] || (target[0] === -1 && target[1] === input.slice(1).reduce((a, b) => a * b, 1))));
        if (!keepsBatch) reason = `${describe(node)} may not keep the batch axis (shape [${target.join(', ')}])`;
        else if (target[1]! > 0) {
          if (target[1]! % channels !== 0) reason = `${describe(node)} reshapes ${channels} channels to ${target[1]} features`;
          else {
            // A constant shape, or a computed one ([N, 200] from Shape and a Concat with a Cast constant) whose entry a constant holds.
            const place = constant ? editable(node, 1) && { ...editable(node, 1)!, index: 1 } : locate(node, 1, 1);
            if (!place) reason = constant ? `${describe(node)}'s shape is a graph input` : `${describe(node)} reshapes to a computed feature count (${target[1]})`;
            else shapeEdits.push({ ...place, segments: first.segments, block: target[1]! / channels });
          }
        }
      }
      if (reason) refuse(reason);
      else pass(node, { segments: first.segments, axisFromEnd: 1, rank: 2, flat: true });
    } else if (op === 'Pad') {
      const pads = node.inputs[1] ? ints(node.inputs[1]) : intsAttribute(node, 'pads');
      const rank = first.rank;
      if (first.flat || rank === undefined || abs === undefined || !pads || pads.length !== 2 * rank || node.inputs[3]) refuse(`${describe(node)} pads in a way that is not proven to spare the channel axis`);
      else if (pads[abs] !== 0 || pads[rank + abs] !== 0) refuse(`${describe(node)} pads the channel axis`);
      else pass(node, first);
    } else if (op === 'Squeeze' || op === 'Unsqueeze') {
      // Axes from the input (opset 13) or the attribute; Squeeze without axes drops every axis of measured size 1.
      const rank = first.rank;
      const given = node.inputs[1] ? ints(node.inputs[1]) : node.attributes.some((a) => a.name === 'axes') ? intsAttribute(node, 'axes') : undefined;
      const inputShape = shapeOf(node.inputs[0]!);
      const axes = given ?? (op === 'Squeeze' && inputShape ? inputShape.flatMap((d, i) => (d === 1 ? [i] : [])) : undefined);
      const outRank = rank === undefined || !axes ? undefined : op === 'Squeeze' ? rank - axes.length : rank + axes.length;
      const normal = axes && outRank !== undefined ? axes.map((x) => (x < 0 ? x + (op === 'Squeeze' ? rank! : outRank) : x)) : undefined;
      if (first.flat || abs === undefined || !normal || outRank === undefined || (node.inputs[1] && !given)) refuse(`${describe(node)} has axes that are not proven to spare the channel axis`);
      else if (op === 'Squeeze' && normal.includes(abs)) refuse(`${describe(node)} squeezes the channel axis`);
      else {
        // Squeeze: axes before the channel axis move it left; Unsqueeze: output positions at or before its new place move it right.
        let moved = abs;
        if (op === 'Squeeze') moved -= normal.filter((x) => x < abs).length;
        else for (const x of [...normal].sort((p, q) => p - q)) if (x <= moved) moved++;
        pass(node, { ...first, axisFromEnd: outRank - moved, rank: outRank });
      }
    } else if (REDUCES.has(op)) {
      // Reduced along axes that spare the channel axis (x.mean((2, 3)) in a squeeze-excitation): per channel. Axes from
      // the attribute, or from input 1 (ReduceSum from opset 13, every Reduce from 18).
      const rank = first.rank;
      const given = node.inputs[1] ? ints(node.inputs[1]) : node.attributes.some((a) => a.name === 'axes') ? intsAttribute(node, 'axes') : undefined;
      const axes = rank === undefined ? undefined : given?.map((a) => (a < 0 ? a + rank : a));
      if (first.flat || abs === undefined || rank === undefined || !axes || axes.length === 0 || (node.inputs[1] && !given)) refuse(`${describe(node)} reduces axes that are not proven to spare the channel axis`);
      else if (axes.includes(abs)) refuse(`${describe(node)} reduces across the channel axis`);
      else if (intAttribute(node, 'keepdims', 1)) pass(node, first);
      else pass(node, { ...first, axisFromEnd: rank - axes.length - (abs - axes.filter((a) => a < abs).length), rank: rank - axes.length });
    } else if (op === 'Softmax' || op === 'LogSoftmax') {
      // Normalised along one axis (from opset 13; before it, over every axis from `axis` on): per channel when the channel axis is not among them.
      const rank = first.rank;
      const version = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13;
      const axis = intAttribute(node, 'axis', version >= 13 ? -1 : 1);
      const from = rank === undefined ? undefined : axis < 0 ? axis + rank : axis;
      const spared = first.flat || abs === undefined || from === undefined ? false : version >= 13 ? from !== abs : abs < from;
      if (spared) pass(node, first);
      else refuse(`${describe(node)} normalises across the channel axis`);
    } else if (op === 'Split') {
      splitChannels(node, first);
    } else if (op === 'Slice') {
      sliceChannels(node, first);
    } else if (op === 'Transpose') {
      const rank = first.rank;
      const perm = rank === undefined ? [] : intsAttribute(node, 'perm', Array.from({ length: rank }, (_, i) => rank - 1 - i));
      if (first.flat || rank === undefined || abs === undefined || perm.length !== rank) refuse(`${describe(node)} transposes a tensor whose channel axis is not known`);
      else pass(node, { ...first, axisFromEnd: rank - perm.indexOf(abs) });
    } else if (op === 'Resize' || op === 'Upsample') {
      const scalesName = op === 'Upsample' || node.inputs.length === 2 ? node.inputs[1] : node.inputs[2];
      const scales = scalesName ? floats(scalesName) : undefined;
      const sizes = op === 'Resize' ? node.inputs[3] : undefined;
      if (sizes) {
        // Output sizes [N, C, H, W] (F.interpolate(x, size=...)): the channel entry must follow the kept count, taken
        // by Shape of this very tensor (then it follows by itself), or held by a constant that is rewritten.
        const taint = taints.get(sizes);
        const value = ints(sizes) ?? values.get(sizes);
        const rank = first.rank;
        const own = taint && taint.at.length === 1 && taint.at[0] === abs && taint.length === rank && taint.segments.length === first.segments.length && taint.segments.every((t, k) => find(t.group) === find(first.segments[k]!.group));
        const place = !taint && value && abs !== undefined && value[abs] === total(first.segments) ? locate(node, 3, abs) : undefined;
        if (first.flat || abs === undefined || node.attributes.some((a) => a.name === 'axes') || (!own && !place)) {
          refuse(`${describe(node)} resizes to sizes whose channel entry is not proven to follow the kept channels`);
          if (taint) mark(taint.segments, `${describe(node)} resizes another tensor to sizes computed from the channel count`);
        } else {
          if (place) shapeEdits.push({ ...place, segments: first.segments, block: 1 });
          if (taint) note(taint.segments, node);
          pass(node, first);
        }
      } else if (first.flat || abs === undefined || !scales || scales[abs] !== 1) refuse(`${describe(node)} is not proven to keep the channel count (scales must be a constant with 1 on the channel axis)`);
      else pass(node, first);
    } else refuse(`${describe(node)} takes it (${op} is not followed by structured pruning)`);
  }

  for (const [name, layout] of [...layouts, ...taints]) {
    const owner = scope.returned.get(name);
    if (owner) mark(layout.segments, `it is returned by a body of ${describe(owner)} as ${name}`);
    else if (outputs.has(name)) mark(layout.segments, `it reaches graph output ${name}`);
    else if (inner.has(name)) mark(layout.segments, `tensor ${name} is used inside a subgraph`);
  }
  for (const { segments, node } of together) {
    if (segments.some((s) => find(s.group) !== find(segments[0]!.group))) mark(segments, `${describe(node)} splits query, key and value whose heads are not proven to be kept alike`);
  }
  const tensors = new Map<string, Segment[]>();
  for (const [name, layout] of layouts) tensors.set(name, layout.segments);
  const groups: ChannelGroup[] = [];
  for (let g = 0; g < parent.length; g++) {
    if (find(g) !== g) continue;
    groups.push({ id: g, channels: channels[g]!, ...(groupBlock[g]! > 1 ? { block: groupBlock[g]! } : {}), ...(groupCopies[g]! > 1 ? { copies: groupCopies[g]! } : {}), members: [...members[g]!], ...(intact[g] ? { intact: intact[g] } : {}) });
  }
  const requested = new Map<string, Set<number>>();
  for (const { group, offset } of wanted) {
    const root = find(group);
    // Every raw group joined with it lines up with it channel by channel: each is cut at the same place.
    for (let r = 0; r < parent.length; r++) {
      const from = origin[r]!;
      if (find(r) !== root || from.producer === undefined) continue;
      const set = requested.get(from.producer) ?? new Set<number>();
      set.add(from.offset + offset * from.block);
      requested.set(from.producer, set);
    }
  }
  const blocking = new Map<string, Map<number, number>>();
  for (const { group, offset, block } of wantedBlocks) {
    const root = find(group);
    for (let r = 0; r < parent.length; r++) {
      const from = origin[r]!;
      if (find(r) !== root || from.producer === undefined) continue;
      const parts = blocking.get(from.producer) ?? new Map<number, number>();
      parts.set(from.offset + offset * from.block, block);
      blocking.set(from.producer, parts);
    }
  }
  const tying = new Map<string, number>();
  for (const { group, copies } of wantedTies) {
    const root = find(group);
    for (let r = 0; r < parent.length; r++) if (find(r) === root && origin[r]!.producer !== undefined && origin[r]!.offset === 0) tying.set(origin[r]!.producer!, copies);
  }
  return { analysis: { groups, slices, shapeEdits, groupEdits, scores, consumers, macNodes, tensors, constants, root: find }, requested, blocking, tying };

  /**
   * Attention heads. A Reshape that splits the channel (last) axis into [heads, head size] makes the heads the
   * channels, on the next-to-last axis: when the producers already give channels as heads (blocks of head-size
   * features) the layout moves there and the heads entry of the shape follows the kept count; otherwise it asks for
   * them to (next round). A Reshape that merges [heads, head size] back makes the heads blocks of the last axis.
   * The shape may be a constant or computed by a Concat of pieces (x.size()[:-1] + (heads, size)): the entry is
   * rewritten where a constant piece holds it. Returns false when the Reshape is neither.
   */
  function reshapeHeads(node: NodeInfo, first: Layout): boolean {
    const [input, output] = [shapeOf(node.inputs[0]!), shapeOf(node.outputs[0]!)];
    const rank = input?.length;
    if (first.flat || !input || !output || rank === undefined || (first.rank !== undefined && first.rank !== rank)) return false;
    const same = (n: number) => input.slice(0, n).every((d, i) => d === output[i]);
    const block = first.block ?? 1;
    const count = total(first.segments);
    const target = ints(node.inputs[1]!) ?? values.get(node.inputs[1]!);
    if (first.stacked) return false;
    const fused = first.axisFromEnd === 1 && output.length === rank + 2 && same(rank - 1) && output[rank - 1]! > 1 && output[rank + 1]! > 1 && output[rank - 1]! * output[rank]! * output[rank + 1]! === input[rank - 1];
    if (fused) return fusedHeads(node, first, output[rank - 1]!, output[rank]!, output[rank + 1]!, rank, target);
    const splits = first.axisFromEnd === 1 && output.length === rank + 1 && same(rank - 1) && output[rank]! > 1 && output[rank - 1]! * output[rank]! === input[rank - 1];
    const merges = first.axisFromEnd === 2 && block === 1 && output.length === rank - 1 && same(rank - 2) && output[rank - 2] === input[rank - 2]! * input[rank - 1]!;
    // [.., k, C] -> [.., k·C] with the channels last (a bidirectional layer's two directions side by side): the
    // channel segments k times over.
    const repeats = first.axisFromEnd === 1 && block === 1 && rank >= 2 && output.length === rank - 1 && same(rank - 2) && output[rank - 2] === input[rank - 2]! * input[rank - 1]!;
    if (repeats) {
      const k = input[rank - 2]!;
      const segments = Array.from({ length: k }, () => first.segments).flat();
      if (!followEntry(node, first, target, rank - 2, segments, 1, 'merged feature count')) return true;
      note(first.segments, node);
      pass(node, { segments, axisFromEnd: 1, rank: rank - 1 });
      return true;
    }
    if (!splits && !merges) return false;
    const refuse = (reason: string) => mark(first.segments, reason);
    const [at, size] = splits ? [rank - 1, output[rank]!] : [rank - 2, input[rank - 1]!];
    if (splits && block !== size) {
      if (block === 1 && first.segments.length === 1 && count % size === 0) wantedBlocks.push({ group: first.segments[0]!.group, offset: 0, block: size });
      refuse(`${describe(node)} splits the channels into heads of ${size} that are not produced as whole heads`);
      return true;
    }
    if (!followEntry(node, first, target, at, first.segments, splits ? 1 : size, 'head count')) return true;
    note(first.segments, node);
    if (splits) pass(node, { segments: first.segments, axisFromEnd: 2, rank: rank + 1 });
    else pass(node, { segments: first.segments, axisFromEnd: 1, rank: rank - 1, block: size });
    return true;
  }

  /**
   * Entry `at` of a Reshape's shape, which holds a channel count: -1 (inferred) needs nothing; a value held by a
   * constant (or a constant piece of the Concat that builds it) is rewritten to the kept count of `segments` x
   * `block`. False, with the group left intact, when neither.
   */
  function followEntry(node: NodeInfo, first: Layout, target: readonly number[] | undefined, at: number, segments: Segment[], block: number, what: string): boolean {
    const entry = target?.[at];
    if (entry === -1) return true;
    const place = entry === undefined || entry === 0 ? undefined : locate(node, 1, at);
    if (!place) {
      mark(first.segments, `${describe(node)} has its ${what} in a shape entry that is not known or not held by a constant`);
      return false;
    }
    shapeEdits.push({ ...place, segments, block });
    return true;
  }

  /**
   * Fused query/key/value (timm, SVTR): [..., P·H·D] reshaped to [..., P, H, D]. Each of the P parts is its own
   * group of H heads of D features (asked for from the producers as cuts and heads, next round); the tensor carries
   * them stacked on the P axis until a Slice, Gather or Split takes them apart. The H entry of the shape follows the
   * kept heads, so every part must keep as many: checked at the end (attention joins them).
   */
  function fusedHeads(node: NodeInfo, first: Layout, parts: number, heads: number, size: number, rank: number, target: readonly number[] | undefined): boolean {
    const refuse = (reason: string) => mark(first.segments, reason);
    const ready = (first.block ?? 1) === size && first.segments.length === parts && first.segments.every((s) => s.count === heads);
    if (!ready) {
      if (!first.block && first.segments.length === 1) {
        const part = heads * size;
        for (let p = 0; p < parts; p++) {
          if (p > 0) wanted.push({ group: first.segments[0]!.group, offset: p * part });
          wantedBlocks.push({ group: first.segments[0]!.group, offset: p * part, block: size });
        }
      }
      refuse(`${describe(node)} splits the channels into ${parts} parts of ${heads} heads of ${size} that are not produced so`);
      return true;
    }
    if (!followEntry(node, first, target, rank, [first.segments[0]!], 1, 'head count')) return true;
    together.push({ segments: first.segments, node });
    note(first.segments, node);
    pass(node, { segments: first.segments, axisFromEnd: 2, rank: rank + 2, stacked: 3 });
    return true;
  }

  /**
   * Ops on a fused query/key/value tensor: Transpose moves both axes; a Slice, Split or Gather of the stacked axis
   * takes parts out (a Squeeze of that axis, once it holds one part, or a scalar Gather, leaves a plain layout).
   */
  function stackedOp(node: NodeInfo, op: string, first: Layout): void {
    const refuse = (reason: string) => mark(first.segments, reason);
    const rank = first.rank;
    if (rank === undefined) return refuse(`${describe(node)} takes query, key and value fused in a tensor of unknown rank`);
    const [channel, stack] = [rank - first.axisFromEnd, rank - first.stacked!];
    const parts = first.segments;
    if (op === 'Transpose') {
      const perm = intsAttribute(node, 'perm', Array.from({ length: rank }, (_, i) => rank - 1 - i));
      if (perm.length !== rank) return refuse(`${describe(node)} has a perm of another rank`);
      return pass(node, { ...first, axisFromEnd: rank - perm.indexOf(channel), stacked: rank - perm.indexOf(stack) });
    }
    const out = (segments: Segment[], outRank: number, stackAt: number | undefined, channelAt: number) =>
      pass(node, { segments, axisFromEnd: outRank - channelAt, rank: outRank, ...(stackAt === undefined ? {} : { stacked: outRank - stackAt }) });
    if (op === 'Slice') {
      const fromInputs = node.inputs.length > 1;
      const read = (input: number, name: string) => (fromInputs ? (node.inputs[input] ? ints(node.inputs[input]!) : undefined) : node.attributes.some((a) => a.name === name) ? intsAttribute(node, name) : undefined);
      const [starts, ends, axes, steps] = [read(1, 'starts'), read(2, 'ends'), read(3, 'axes'), fromInputs ? read(4, '') : undefined];
      if (!starts || !ends || (fromInputs && ((node.inputs[3] && !axes) || (node.inputs[4] && !steps)))) return refuse(`${describe(node)} slices with computed bounds or axes`);
      const list = (axes ?? starts.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a));
      if (list.includes(channel)) return refuse(`${describe(node)} slices the heads of a fused query, key and value`);
      const k = list.indexOf(stack);
      if (k < 0) return pass(node, first);
      const bound = (v: number) => Math.min(parts.length, Math.max(0, v < 0 ? v + parts.length : v));
      if ((steps?.[k] ?? 1) !== 1) return refuse(`${describe(node)} slices query, key and value with a step`);
      return out(parts.slice(bound(starts[k]!), bound(ends[k]!)), rank, stack, channel);
    }
    if (op === 'Split') {
      const axis = intAttribute(node, 'axis', 0);
      if ((axis < 0 ? axis + rank : axis) !== stack) return refuse(`${describe(node)} splits a fused query, key and value along another axis`);
      const sizes = node.inputs[1] ? ints(node.inputs[1]) : node.attributes.some((a) => a.name === 'split') ? intsAttribute(node, 'split') : node.outputs.map(() => parts.length / node.outputs.length);
      if (!sizes || sizes.length !== node.outputs.length || sizes.some((n) => n !== 1) || sizes.length !== parts.length) return refuse(`${describe(node)} splits a fused query, key and value other than one part each`);
      note(parts, node);
      node.outputs.forEach((name, i) => name && layouts.set(name, { segments: [parts[i]!], axisFromEnd: first.axisFromEnd, rank, stacked: first.stacked! }));
      return;
    }
    if (op === 'Gather') {
      const axis = intAttribute(node, 'axis', 0);
      const indices = node.inputs[1] ? ints(node.inputs[1]) : undefined;
      const dims = node.inputs[1] ? constants.get(node.inputs[1])?.tensor.dims : undefined;
      if ((axis < 0 ? axis + rank : axis) !== stack || !indices || indices.length !== 1 || !dims) return refuse(`${describe(node)} gathers from a fused query, key and value other than one part by a constant index`);
      const part = parts[indices[0]! < 0 ? indices[0]! + parts.length : indices[0]!];
      if (!part) return refuse(`${describe(node)} gathers a part that does not exist`);
      // A scalar index drops the axis; a one-element index keeps it (of size 1).
      return dims.length === 0 ? out([part], rank - 1, undefined, channel - (stack < channel ? 1 : 0)) : out([part], rank, stack, channel);
    }
    if (op === 'Squeeze') {
      const given = node.inputs[1] ? ints(node.inputs[1]) : node.attributes.some((a) => a.name === 'axes') ? intsAttribute(node, 'axes') : undefined;
      const axes = given?.map((a) => (a < 0 ? a + rank : a));
      if (!axes || axes.includes(channel)) return refuse(`${describe(node)} has axes that are not proven to spare the heads`);
      if (axes.includes(stack) && parts.length !== 1) return refuse(`${describe(node)} squeezes a fused query, key and value of several parts`);
      const shift = (x: number) => x - axes.filter((a) => a < x).length;
      return out(parts, rank - axes.length, axes.includes(stack) ? undefined : shift(stack), shift(channel));
    }
    refuse(`${describe(node)} takes query, key and value fused (${op} is not followed there)`);
  }

  /** A constant integer input of a node, rewritten in place when the node alone uses it, else as a copy of its own. */
  function editable(node: NodeInfo, input: number): Pick<ShapeEdit, 'tensor' | 'private'> | undefined {
    const name = node.inputs[input];
    if (!name || !constants.has(name) || graphInputs.has(name)) return undefined;
    return sliceable(name) ? { tensor: name } : { tensor: name, private: { node, input } };
  }

  /**
   * Where entry `index` of input `input` of a node is held by a constant that may be rewritten: the input itself,
   * or a piece of the Concat (through Cast, Identity, Squeeze, Unsqueeze) that computes it, used by this path alone.
   */
  function locate(node: NodeInfo, input: number, index: number): (Pick<ShapeEdit, 'tensor' | 'private'> & { index: number }) | undefined {
    const name = node.inputs[input]!;
    if (ints(name)) {
      const place = editable(node, input);
      return place && { ...place, index };
    }
    if (uses.get(name) !== 1 || outputs.has(name) || inner.has(name)) return undefined;
    const producer = producers.get(name);
    if (!producer || !(producer.domain === '' || producer.domain === 'ai.onnx')) return undefined;
    if (producer.opType === 'Concat' && intAttribute(producer, 'axis', 0) === 0) {
      let offset = 0;
      for (const [i, piece] of producer.inputs.entries()) {
        const length = valueOf(piece)?.length;
        if (length === undefined) return undefined;
        if (index < offset + length) return locate(producer, i, index - offset);
        offset += length;
      }
      return undefined;
    }
    if (['Cast', 'Identity', 'Unsqueeze', 'Squeeze'].includes(producer.opType)) return locate(producer, 0, index);
    return undefined;
  }

  /**
   * MatMul of two computed tensors (attention scores, context): multiply-adds counted; a tensor with channels on a
   * batch axis (heads) passes them on; both operands with heads there join them (the query's heads are the key's);
   * channels on a multiplied axis, or against another tensor that is not size 1 there, leave the group intact.
   */
  function batchedMatMul(node: NodeInfo, tracked: Array<Layout | undefined>): void {
    const [a, b] = [tracked[0], tracked[1]];
    const out = node.outputs[0]!;
    const mac: MacNode = { node: node.name || out, macs: undefined };
    macNodes.push(mac);
    const k = shapeOf(node.inputs[0]!)?.at(-1);
    const outCount = numel(out);
    if (outCount !== undefined && k !== undefined) mac.macs = outCount * k;
    if (!a && !b) return;
    const refuse = (reason: string) => {
      for (const layout of [a, b]) if (layout) mark(layout.segments, reason);
    };
    if ([a, b].some((t) => t && (t.flat || t.block || t.axisFromEnd < 3))) return refuse(`${describe(node)} multiplies along the channel axis`);
    if (a && b) {
      if (a.axisFromEnd !== b.axisFromEnd || a.segments.length !== b.segments.length || a.segments.some((s, i) => s.count !== b.segments[i]!.count)) return refuse(`${describe(node)} multiplies two tensors whose channels do not line up`);
      a.segments.forEach((s, i) => join(s.group, b.segments[i]!.group));
    } else {
      const t = (a ?? b)!;
      const other = node.inputs[a ? 1 : 0]!;
      const dims = shapeOf(other);
      if (!dims || (dims.length >= t.axisFromEnd && dims[dims.length - t.axisFromEnd] !== 1)) return refuse(`${describe(node)} multiplies it with ${other}, whose channels are not followed`);
    }
    const layout = (a ?? b)!;
    mac.output = layout.segments;
    pass(node, { segments: layout.segments, axisFromEnd: layout.axisFromEnd, ...(shapeOf(out) ? { rank: shapeOf(out)!.length } : {}) });
  }

  /** Whether `axis` of a tensor with this layout is its channel axis (undefined: not known). */
  function isChannelAxis(layout: Layout, axis: number): boolean | undefined {
    if (axis < 0) return -axis === layout.axisFromEnd;
    return layout.rank === undefined ? undefined : layout.rank - axis === layout.axisFromEnd;
  }

  /**
   * Split: along another axis every output carries the channels; along the channel axis each output carries the
   * groups between its bounds (cut at producers where a bound falls inside one), and its size entry is rewritten to
   * their kept count (the `split` input constant, or the attribute before opset 13).
   */
  function splitChannels(node: NodeInfo, first: Layout): void {
    const refuse = (reason: string) => mark(first.segments, reason);
    const onChannel = first.flat ? undefined : isChannelAxis(first, intAttribute(node, 'axis', 0));
    if (onChannel === undefined) return refuse(`${describe(node)} splits a tensor whose channel axis is not known`);
    if (!onChannel) return pass(node, first);
    const fromInput = node.inputs[1];
    const sizes = fromInput ? ints(fromInput) : node.attributes.some((a) => a.name === 'split') ? intsAttribute(node, 'split') : undefined;
    const count = total(first.segments);
    if (!sizes) return refuse(fromInput ? `${describe(node)} splits the channels by computed sizes` : `${describe(node)} splits the channels into equal parts (no sizes to rewrite)`);
    if (sizes.length !== node.outputs.length || sizes.reduce((a, b) => a + b, 0) !== count || sizes.some((n) => n < 0)) return refuse(`${describe(node)} splits ${count} channels into [${sizes.join(', ')}]`);
    const bounds = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    if (!cutAt(first.segments, bounds)) return refuse(`${describe(node)} splits inside a group's channels`);
    note(first.segments, node);
    const target = fromInput ? editable(node, 1) : { attribute: { node, name: 'split' } };
    if (!target) return refuse(`${describe(node)}'s split sizes are a graph input`);
    node.outputs.forEach((out, i) => {
      const segments = within(first.segments, bounds[i]!, bounds[i]! + sizes[i]!)!;
      shapeEdits.push({ ...target, index: i, segments, block: 1 });
      if (out) layouts.set(out, { ...first, segments });
    });
  }

  /**
   * Slice: bounds on other axes pass the channels on; a step-1 range of the channel axis carries the groups inside
   * it (cut at producers where a bound falls inside one), and its start and end are rewritten to the kept counts
   * before them (the constant inputs, or the attributes before opset 10).
   */
  function sliceChannels(node: NodeInfo, first: Layout): void {
    const refuse = (reason: string) => mark(first.segments, reason);
    const fromInputs = node.inputs.length > 1;
    const read = (input: number, name: string) => (fromInputs ? (node.inputs[input] ? ints(node.inputs[input]!) : undefined) : node.attributes.some((a) => a.name === name) ? intsAttribute(node, name) : undefined);
    const [starts, ends, axes, steps] = [read(1, 'starts'), read(2, 'ends'), read(3, 'axes'), fromInputs ? read(4, '') : undefined];
    const computed = !starts || !ends || (fromInputs && ((node.inputs[3] && !axes) || (node.inputs[4] && !steps)));
    if (first.flat || computed) return refuse(`${describe(node)} slices with computed bounds or axes`);
    const onChannel = (axes ?? starts.map((_, i) => i)).map((axis) => isChannelAxis(first, axis));
    if (onChannel.some((c) => c === undefined)) return refuse(`${describe(node)} slices axes that are not proven to spare the channel axis`);
    const k = onChannel.indexOf(true);
    if (k < 0) return pass(node, first);
    const count = total(first.segments);
    const bound = (v: number) => Math.min(count, Math.max(0, v < 0 ? v + count : v));
    const [from, to, step] = [bound(starts[k]!), bound(ends[k]!), steps?.[k] ?? 1];
    if (step !== 1) return refuse(`${describe(node)} slices the channels with step ${step}`);
    if (to <= from) return refuse(`${describe(node)} takes no channels`);
    const segments = within(first.segments, from, to);
    if (!segments) return refuse(`${describe(node)} slices inside a group's channels`);
    const before = (position: number) => first.segments.filter((_, i) => total(first.segments.slice(0, i + 1)) <= position);
    const target = (input: number, name: string) => (fromInputs ? editable(node, input) : { attribute: { node, name } });
    const [startAt, endAt] = [target(1, 'starts'), target(2, 'ends')];
    if (!startAt || !endAt) return refuse(`${describe(node)}'s bounds are graph inputs`);
    shapeEdits.push({ ...startAt, index: k, segments: before(from), block: 1, always: true });
    shapeEdits.push({ ...endAt, index: k, segments: before(to), block: 1, always: true });
    note(first.segments, node);
    pass(node, { ...first, segments });
  }

  /** A Conv or ConvTranspose (group 1) reading tracked channels: its weight's input axis is sliced (already recorded). */
  function convConsumer(node: NodeInfo, kind: 'Conv' | 'ConvTranspose', axis: number, segments: Segment[], mac: MacNode): ConsumerInfo {
    note(segments, node);
    mac.input = segments;
    const consumer: ConsumerInfo = { node, kind, input: node.inputs[0]!, weight: node.inputs[1]!, axis, segments, block: 1, ...(node.inputs[2] ? { bias: node.inputs[2] } : {}) };
    consumers.push(consumer);
    return consumer;
  }

  /** A Conv or ConvTranspose (group 1) starts a group: its output channels, on `axis` of its weight and axis 0 of its bias. */
  function convProducer(node: NodeInfo, axis: number, rank: number, mac: MacNode, consumer: ConsumerInfo | undefined, copies = 1): void {
    const [weightName, bias] = [node.inputs[1]!, node.inputs[2]];
    if (!sliceable(weightName) || (bias && !sliceable(bias))) return;
    const count = constants.get(weightName)!.tensor.dims[axis]!;
    const { segments, block } = produce(count, node, copies);
    slices.push({ tensor: weightName, axis, segments, block });
    if (bias) slices.push({ tensor: bias, axis: 0, segments, block });
    const source: ScoreSource = { tensor: weightName, axis, segments, block };
    scores.push(source);
    scoreOf.set(node.outputs[0]!, source);
    mac.output = segments;
    if (consumer) consumer.output = segments;
    layouts.set(node.outputs[0]!, { segments, axisFromEnd: rank - 1, rank, ...(block > 1 ? { block } : {}) });
  }

  /**
   * A depthwise Conv or ConvTranspose (weight [C, 1, k...], group C): input and output channels are one set, passed on;
   * its weight's and bias's axis 0 and `group` follow. Its multiply-adds scale once with the kept channels.
   */
  function passDepthwise(node: NodeInfo, input: Layout, rank: number, mac: MacNode): void {
    const weightName = node.inputs[1]!;
    const reason = slice(weightName, 0, input.segments, 1, node) ?? (node.inputs[2] ? slice(node.inputs[2], 0, input.segments, 1, node) : undefined);
    if (reason) {
      mark(input.segments, reason);
      return;
    }
    groupEdits.push({ node, segments: input.segments });
    const source: ScoreSource = { tensor: weightName, axis: 0, segments: input.segments };
    scores.push(source);
    scoreOf.set(node.outputs[0]!, source);
    mac.output = input.segments;
    pass(node, { ...input, rank });
  }

  /**
   * A grouped ConvTranspose's outputs: weight [C_in, C_out / group, k...], so its axis 1 holds one block's channels;
   * the output is that group laid out once per block (tied), the bias likewise.
   */
  function groupedTransposeProducer(node: NodeInfo, group: number, rank: number, mac: MacNode): void {
    const [weightName, bias] = [node.inputs[1]!, node.inputs[2]];
    if (!sliceable(weightName) || (bias && !sliceable(bias))) return;
    const per = constants.get(weightName)!.tensor.dims[1]!;
    const { segments } = produce(per * group, node, group);
    slices.push({ tensor: weightName, axis: 1, segments: [segments[0]!], block: 1 });
    if (bias) slices.push({ tensor: bias, axis: 0, segments, block: 1 });
    const source: ScoreSource = { tensor: weightName, axis: 1, segments: [segments[0]!] };
    scores.push(source);
    scoreOf.set(node.outputs[0]!, source);
    mac.output = segments;
    layouts.set(node.outputs[0]!, { segments, axisFromEnd: rank - 1, rank });
  }

  /**
   * LSTM, GRU, RNN (forward, reverse or bidirectional): input channels X [T, N, I] slice W [D, gates·H, I] on axis 2;
   * the hidden units are a group of H channels, every gate's rows of W, R and B together with R's columns, the
   * peepholes, constant initial states and `hidden_size` (both directions keep the same units: one slice of each
   * tensor's axis serves both); Y [T, D, N, H], Y_h and Y_c carry them on their last axis.
   */
  function handleRecurrent(node: NodeInfo, op: 'LSTM' | 'GRU' | 'RNN', tracked: Array<Layout | undefined>): void {
    const input = tracked[0];
    const refuse = (reason: string) => {
      for (const layout of tracked) if (layout) mark(layout.segments, reason);
    };
    if (tracked.some((t, i) => i > 0 && t)) {
      refuse(`${describe(node)} takes it as a weight or state`);
      return;
    }
    const gates = op === 'LSTM' ? 4 : op === 'GRU' ? 3 : 1;
    const [wName, rName, bName] = [node.inputs[1]!, node.inputs[2]!, node.inputs[3]];
    const [w, r] = [constants.get(wName)?.tensor, constants.get(rName)?.tensor];
    const hidden = intAttribute(node, 'hidden_size', 0);
    const directions = stringAttribute(node, 'direction', 'forward') === 'bidirectional' ? 2 : 1;
    const mac: MacNode = { node: node.name || node.outputs[0]!, macs: undefined };
    macNodes.push(mac);
    const steps = shapeOf(node.inputs[0]!);
    if (w && r && steps && steps.length === 3) {
      // Per step and batch row: gates·H·I for the input part and gates·H·H for the recurrence (counted with the input part's scaling).
      mac.macs = directions * steps[0]! * steps[1]! * w.dims[1]! * (w.dims[2]! + r.dims[2]!);
    }
    if (!w || !r || w.dims.length !== 3 || w.dims[0] !== directions || hidden <= 0 || w.dims[1] !== gates * hidden) {
      if (input) refuse(`${describe(node)} is not an ${op} with constant weights`);
      return;
    }
    let consumer: ConsumerInfo | undefined;
    if (input) {
      const reason = input.flat || input.axisFromEnd !== 1 || total(input.segments) !== w.dims[2] ? `${describe(node)} does not see the channels on its input's last axis` : slice(wName, 2, input.segments, 1, node);
      if (reason) {
        refuse(reason);
        return;
      }
      note(input.segments, node);
      mac.input = input.segments;
      consumer = { node, kind: 'Recurrent', input: node.inputs[0]!, weight: wName, axis: 2, segments: input.segments, block: 1 };
      consumers.push(consumer);
    }
    // The hidden units: every constant that holds them must be used by this node alone.
    const [initialH, initialC, peepholes] = [node.inputs[5], op === 'LSTM' ? node.inputs[6] : undefined, op === 'LSTM' ? node.inputs[7] : undefined];
    const parts = [rName, bName, initialH, initialC, peepholes].filter((n): n is string => !!n);
    if (!sliceable(wName) || parts.some((n) => !sliceable(n))) return;
    const g = newGroup(hidden, node);
    const unit = { group: g, count: hidden };
    const times = (n: number) => Array.from({ length: n }, () => ({ ...unit }));
    slices.push({ tensor: wName, axis: 1, segments: times(gates), block: 1 });
    slices.push({ tensor: rName, axis: 1, segments: times(gates), block: 1 });
    slices.push({ tensor: rName, axis: 2, segments: [unit], block: 1 });
    if (bName) slices.push({ tensor: bName, axis: 1, segments: times(2 * gates), block: 1 });
    for (const state of [initialH, initialC]) if (state) slices.push({ tensor: state, axis: 2, segments: [unit], block: 1 });
    if (peepholes) slices.push({ tensor: peepholes, axis: 1, segments: times(3), block: 1 });
    groupEdits.push({ node, segments: [unit], attribute: 'hidden_size' });
    const source: ScoreSource = { tensor: wName, axis: 1, segments: times(gates) };
    scores.push(source);
    mac.output = [unit];
    if (consumer) consumer.output = [unit];
    note([unit], node);
    node.outputs.forEach((out, i) => out && layouts.set(out, { segments: [unit], axisFromEnd: 1, rank: i === 0 ? 4 : 3 }));
  }

  function handleWeighted(node: NodeInfo, op: 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul', tracked: Array<Layout | undefined>): void {
    const input = tracked[0];
    const refuse = (reason: string) => {
      for (const layout of tracked) if (layout) mark(layout.segments, reason);
    };
    if (tracked.some((t, i) => i > 0 && t)) {
      refuse(`${describe(node)} takes it as a weight`);
      return;
    }
    const weightName = node.inputs[1]!;
    const weight = constants.get(weightName);
    const dims = weight?.tensor.dims;
    const out = node.outputs[0]!;
    const mac: MacNode = { node: node.name || out, macs: undefined };
    macNodes.push(mac);
    const outCount = numel(out);
    let consumer: ConsumerInfo | undefined;
    if (!weight || !dims) {
      // Activations times activations (attention): counted, never changed.
      const k = shapeOf(node.inputs[0]!)?.at(-1);
      if (op === 'MatMul' && outCount !== undefined && k !== undefined) mac.macs = outCount * k;
      if (input) refuse(`${describe(node)} has a weight that is not a constant`);
      return;
    }
    if (op === 'ConvTranspose') {
      // Weight [C_in, C_out / group, k...]: input channels on axis 0, output channels on axis 1 (group 1 only).
      const group = intAttribute(node, 'group', 1);
      const rank = dims.length;
      const inCount = numel(node.inputs[0]!);
      if (inCount !== undefined) mac.macs = inCount * dims.slice(1).reduce((a, b) => a * b, 1);
      // Depthwise ([C, 1, k...], group C): input and output channels are one set, passed on as a depthwise Conv does.
      const depthwise = group > 1 && dims[0] === group && dims[1] === 1;
      if (input) {
        if (input.flat || input.axisFromEnd !== rank - 1) {
          refuse(`${describe(node)} does not see the channels on axis 1`);
          return;
        }
        if (depthwise) {
          if (total(input.segments) !== group) refuse(`${describe(node)} is a grouped transposed convolution (group ${group}) over ${total(input.segments)} channels`);
          else passDepthwise(node, input, rank, mac);
          return;
        }
        if (group > 1) {
          // Grouped: input block j feeds output block j; each block must keep as many channels: produced tied (asked for).
          const first = input.segments[0]!;
          const tied = input.segments.length === group && input.segments.every((s) => s.count === first.count && find(s.group) === find(first.group));
          if (!tied) {
            if (input.segments.length === 1 && first.count % group === 0) wantedTies.push({ group: first.group, copies: group });
            refuse(`${describe(node)} is a grouped transposed convolution (group ${group}) whose input channels are not produced alike in every group`);
            return;
          }
          const reason = slice(weightName, 0, input.segments, 1, node);
          if (reason) {
            refuse(reason);
            return;
          }
          note(input.segments, node);
          mac.input = input.segments;
        } else {
          const reason = slice(weightName, 0, input.segments, 1, node);
          if (reason) {
            refuse(reason);
            return;
          }
          consumer = convConsumer(node, 'ConvTranspose', 0, input.segments, mac);
        }
      }
      if (group === 1) convProducer(node, 1, rank, mac, consumer);
      else if (!depthwise) groupedTransposeProducer(node, group, rank, mac);
      return;
    }
    if (op === 'Conv') {
      const group = intAttribute(node, 'group', 1);
      const rank = dims.length;
      if (outCount !== undefined) mac.macs = outCount * dims.slice(1).reduce((a, b) => a * b, 1);
      if (input) {
        const channelsIn = total(input.segments);
        if (input.flat || input.axisFromEnd !== rank - 1) {
          refuse(`${describe(node)} does not see the channels on axis 1`);
          return;
        }
        if (group !== 1 && !(group === channelsIn && dims[0] === group && dims[1] === 1)) {
          // Grouped: input block j feeds only output block j, and the weight's input axis holds one block's channels,
          // so the same positions must be kept in every input block: channels produced tied (asked for, next round).
          const per = channelsIn / group;
          const first = input.segments[0]!;
          const tied = Number.isInteger(per) && dims[1] === per && input.segments.length === group && input.segments.every((s) => s.count === per && find(s.group) === find(first.group));
          if (!tied) {
            if (Number.isInteger(per) && dims[1] === per && input.segments.length === 1) wantedTies.push({ group: first.group, copies: group });
            refuse(`${describe(node)} is a grouped convolution (group ${group}) whose input channels are not produced alike in every group`);
            return;
          }
          const reason = slice(weightName, 1, [first], 1, node);
          if (reason) {
            refuse(reason);
            return;
          }
          // Not a re-fit or bias-compensation consumer: those fit a dense Conv's weight.
          note(input.segments, node);
          mac.input = input.segments;
          convProducer(node, 0, rank, mac, undefined, group);
          return;
        }
        if (group !== 1) {
          if (group !== channelsIn || dims[0] !== group || dims[1] !== 1) refuse(`${describe(node)} is a grouped convolution (group ${group}) that is not depthwise with one output per channel`);
          else passDepthwise(node, input, rank, mac);
          return;
        }
        const reason = slice(weightName, 1, input.segments, 1, node);
        if (reason) {
          refuse(reason);
          return;
        }
        consumer = convConsumer(node, 'Conv', 1, input.segments, mac);
      }
      if (group === 1) convProducer(node, 0, rank, mac, consumer);
      else if (!input && dims[0]! % group === 0) convProducer(node, 0, rank, mac, undefined, group);
      return;
    }
    const transA = op === 'Gemm' ? intAttribute(node, 'transA', 0) : 0;
    const transB = op === 'Gemm' ? intAttribute(node, 'transB', 0) : 0;
    if (dims.length !== 2) {
      if (input) refuse(`${describe(node)} has a weight of ${dims.length} dimensions`);
      return;
    }
    const k = transB ? dims[1]! : dims[0]!;
    const n = transB ? dims[0]! : dims[1]!;
    if (outCount !== undefined) mac.macs = outCount * k;
    let rank = op === 'Gemm' ? 2 : (input?.rank ?? shapeOf(out)?.length);
    if (input) {
      const channelsIn = total(input.segments);
      let reason: string | undefined;
      if (transA) reason = `${describe(node)} transposes its input`;
      else if (input.axisFromEnd !== 1) reason = `${describe(node)} does not see the channels on the last axis`;
      else if (k % channelsIn !== 0 || (!input.flat && k !== channelsIn * (input.block ?? 1))) reason = `${describe(node)} takes ${k} features from ${channelsIn} channels`;
      else reason = slice(weightName, transB ? 1 : 0, input.segments, k / channelsIn, node);
      if (reason) {
        refuse(reason);
        return;
      }
      note(input.segments, node);
      mac.input = input.segments;
      if (input.flat) rank = 2;
      consumer = { node, kind: op, input: node.inputs[0]!, weight: weightName, axis: transB ? 1 : 0, segments: input.segments, block: k / channelsIn, ...(op === 'Gemm' && node.inputs[2] ? { bias: node.inputs[2] } : {}) };
      consumers.push(consumer);
    }
    if (!sliceable(weightName)) return;
    const bias = op === 'Gemm' ? node.inputs[2] : undefined;
    const { segments, block } = produce(n, node);
    const layout: Layout = { segments, axisFromEnd: 1, ...(rank !== undefined ? { rank } : {}), ...(block > 1 ? { block } : {}) };
    if (bias) {
      const reason = perChannel(bias, { ...layout, rank: 2 }, node);
      if (reason) mark(segments, reason);
    }
    slices.push({ tensor: weightName, axis: transB ? 0 : 1, segments, block });
    const source: ScoreSource = { tensor: weightName, axis: transB ? 0 : 1, segments, block };
    scores.push(source);
    scoreOf.set(out, source);
    mac.output = segments;
    if (consumer) consumer.output = segments;
    layouts.set(out, layout);
  }
}

/** A float attribute of a node, or `fallback`. */
export function attributeFloat(node: NodeInfo, name: string, fallback: number): number {
  const attribute = node.attributes.find((a) => a.name === name);
  const field = attribute?.message.last(2);
  if (!field) return fallback;
  const bytes = attribute!.message.bytes;
  return new DataView(bytes.buffer, bytes.byteOffset + field.valueStart, 4).getFloat32(0, true);
}
