/**
 * Seeded fuzz over model STRUCTURE (issue 17, "Proof"): dims, attributes, sparse indices, length fields,
 * nesting, op types and input wiring, plus raw byte flips, applied to the fixture models with the repo's
 * own writer (MessageNode edits + serializeModel). Every case runs `inspect --json` and a magnitude prune;
 * the exit code must be 0 or 2 (never 70, never a hang). Reproduce a failure with SPECPRUNE_FUZZ_SEED.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '@specprune/core/random';
import { parseModel, serializeModel, type GraphInfo, type OnnxModel, type TensorInfo } from '../src/index.js';
import { AttributeField, NodeField, TensorField } from '../src/onnx-fields.js';
import { runCli } from './cli-run.js';
import { makeFixtures, REAL_MODELS, tempDir } from './helpers.js';
import { concat, int, len, model as wrapModel, node as makeNode, tag, varint } from './wire-builder.js';

/** The fuzz mutations' seeded uniform numbers in [0, 1), from the project's one PRNG. */
function prng(seed: number): () => number {
  const random = createRandom(seed);
  return () => random.nextDouble();
}

const INTERESTING = [0n, 1n, 2n, 3n, -1n, -2n, 7n, 1000n, 2n ** 31n, 2n ** 32n + 1n, 2n ** 53n, 2n ** 62n, -(2n ** 63n)];
const WEIGHT_OPS = ['Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN', 'Identity', 'Constant', 'If', 'Loop'];
const ATTRIBUTE_NAMES = ['group', 'hidden_size', 'direction', 'transB', 'transA', 'strides', 'pads', 'dilations', 'kernel_shape', 'value', 'body'];

interface Parts {
  tensors: TensorInfo[];
  graphs: GraphInfo[];
}

function collect(graph: GraphInfo, parts: Parts): Parts {
  parts.graphs.push(graph);
  parts.tensors.push(...graph.initializers);
  for (const s of graph.sparseInitializers) parts.tensors.push(s.values, s.indices);
  for (const n of graph.nodes) {
    for (const a of n.attributes) {
      if (a.tensor) parts.tensors.push(a.tensor);
      if (a.sparseTensor) parts.tensors.push(a.sparseTensor.values, a.sparseTensor.indices);
      for (const g of a.graphs) collect(g, parts);
    }
  }
  return parts;
}

/** One structural or byte-level mutation; returns the new model bytes and what was done. */
function mutate(bytes: Uint8Array, random: () => number): { bytes: Uint8Array; what: string } {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const model: OnnxModel = parseModel(bytes);
  const parts = collect(model.graph, { tensors: [], graphs: [] });
  const nodes = parts.graphs.flatMap((g) => g.nodes);
  const kind = Math.floor(random() * 8);
  switch (kind) {
    case 0: {
      // dims: replace (or add) one dim with an interesting value
      const tensor = parts.tensors.length ? pick(parts.tensors) : undefined;
      if (!tensor) break;
      const dims = tensor.message.all(TensorField.dims);
      const value = pick(INTERESTING);
      if (dims.length && random() < 0.8) tensor.message.replaceField(pick(dims), [int(TensorField.dims, value)]);
      else tensor.message.appendField([int(TensorField.dims, value)]);
      return { bytes: serializeModel(model), what: `dims of tensor "${tensor.name}" -> ${value}` };
    }
    case 1: {
      // attributes: an interesting int, a renamed attribute, or a new one on a random node
      if (!nodes.length) break;
      const n = pick(nodes);
      const value = pick(INTERESTING);
      const name = pick(ATTRIBUTE_NAMES);
      if (n.attributes.length && random() < 0.5) {
        const a = pick(n.attributes);
        const i = a.message.last(AttributeField.i);
        if (i) a.message.replaceField(i, [int(AttributeField.i, value)]);
        else a.message.appendField([int(AttributeField.ints, value)]);
        return { bytes: serializeModel(model), what: `attribute ${a.name} of node ${n.name} -> ${value}` };
      }
      const attr = name === 'direction' ? concat([len(1, name), len(4, pick(['sideways', 'bidirectional', 'reverse'])), int(20, 3)]) : concat([len(1, name), int(3, value), int(20, 2)]);
      n.message.appendField([len(NodeField.attribute, attr)]);
      return { bytes: serializeModel(model), what: `new attribute ${name} on node ${n.name}` };
    }
    case 2: {
      // sparse indices / values: random bytes of the same length, or other dims
      const sparse = parts.graphs.flatMap((g) => g.sparseInitializers);
      const target = sparse.length ? pick(sparse) : undefined;
      if (!target) break;
      const t = random() < 0.7 ? target.indices : target.values;
      const raw = t.message.last(TensorField.rawData);
      if (raw && random() < 0.7) {
        const noise = Uint8Array.from({ length: raw.end - raw.valueStart }, () => Math.floor(random() * 256));
        t.message.replaceField(raw, [len(TensorField.rawData, noise)]);
      } else {
        const dims = t.message.all(TensorField.dims);
        if (dims.length) t.message.replaceField(pick(dims), [int(TensorField.dims, pick(INTERESTING))]);
        else t.message.appendField([int(TensorField.dims, 2n)]);
      }
      return { bytes: serializeModel(model), what: `sparse tensor "${target.name}" ${t === target.indices ? 'indices' : 'values'}` };
    }
    case 3: {
      // a length field that lies (by a little, or by 4 GiB)
      const messages = [model.root, ...parts.graphs.map((g) => g.message), ...nodes.map((n) => n.message), ...parts.tensors.map((t) => t.message)];
      const m = pick(messages);
      const lens = m.fields.filter((f) => f.wireType === 2);
      if (!lens.length) break;
      const f = pick(lens);
      const length = f.end - f.valueStart;
      const lie = pick([length + 1, length - 1, length + 2 ** 32, 2 ** 32 - 1, 0, length * 2 + 7]);
      let tagEnd = f.start;
      while (bytes[tagEnd]! & 0x80) tagEnd++;
      tagEnd++;
      const out = concat([bytes.subarray(0, tagEnd), varint(Math.max(0, lie)), bytes.subarray(f.valueStart)]);
      return { bytes: out, what: `length ${length} at byte ${f.start} -> ${lie}` };
    }
    case 4: {
      // nesting: the main graph becomes the body of Loops nested `depth` deep
      const depth = pick([1, 2, 5, 29, 30, 31, 45, 200]);
      let graph = model.bytes.subarray(model.graph.message.start, model.graph.message.end);
      for (let d = 0; d < depth; d++) graph = len(1, makeNode('Loop', [], [`y${d}`], `wrap${d}`, [concat([len(1, 'body'), int(20, 5), len(6, graph)])]));
      return { bytes: wrapModel(graph), what: `nested ${depth} deep` };
    }
    case 5: {
      // op type swap
      if (!nodes.length) break;
      const n = pick(nodes);
      const op = n.message.last(NodeField.opType);
      const to = pick(WEIGHT_OPS);
      if (op) n.message.replaceField(op, [len(NodeField.opType, to)]);
      else n.message.appendField([len(NodeField.opType, to)]);
      return { bytes: serializeModel(model), what: `node ${n.name} ${n.opType} -> ${to}` };
    }
    case 6: {
      // rewire: a node input now names another tensor (a weight fed to the wrong op or slot)
      if (!nodes.length || !parts.tensors.length) break;
      const n = pick(nodes);
      const inputs = n.message.all(NodeField.input);
      const name = pick(parts.tensors).name;
      if (inputs.length && random() < 0.7) n.message.replaceField(pick(inputs), [len(NodeField.input, name)]);
      else n.message.appendField([len(NodeField.input, name)]);
      return { bytes: serializeModel(model), what: `node ${n.name} input -> ${name}` };
    }
    default:
      break;
  }
  // raw bytes: a few flips (also the fallback when a model has nothing of the chosen kind)
  const out = Uint8Array.from(bytes);
  for (let k = 0, n = 1 + Math.floor(random() * 4); k < n; k++) out[Math.floor(random() * out.length)]! ^= 1 << Math.floor(random() * 8);
  void tag;
  return { bytes: out, what: 'byte flips' };
}

let bases: Array<{ name: string; bytes: Uint8Array }>;
let dir: string;

beforeAll(() => {
  const fixtures = makeFixtures();
  bases = Object.keys(fixtures.models)
    .filter((name) => !/external/.test(name))
    .map((name) => ({ name, bytes: readFileSync(fixtures.path(name)) }));
  bases.push({ name: 'wakeword', bytes: readFileSync(REAL_MODELS.wakeword) });
  dir = tempDir('specprune-structure-fuzz-');
});

describe('structure fuzz', () => {
  it('seeded structural mutations of the fixture models: inspect and a magnitude prune exit 0 or 2, each in bounded time', async () => {
    const seed = Number(process.env.SPECPRUNE_FUZZ_SEED ?? 17);
    const random = prng(seed);
    const cases = Number(process.env.SPECPRUNE_FUZZ_CASES ?? 300);
    const codes: Record<string, number> = {};
    const failures: string[] = [];
    const started = performance.now();
    for (let i = 0; i < cases; i++) {
      const base = bases[Math.floor(random() * bases.length)]!;
      let { bytes, what } = mutate(base.bytes, random);
      // Sometimes a second mutation on top of the first (when the first still parses).
      if (random() < 0.3) {
        try {
          const second = mutate(bytes, random);
          bytes = second.bytes;
          what += `; ${second.what}`;
        } catch {
          // the first mutation already broke parsing: keep it
        }
      }
      const file = path.join(dir, `case${i}.onnx`);
      writeFileSync(file, bytes);
      for (const argv of [
        ['inspect', file, '--json', '--verbose'],
        ['prune', file, '-o', path.join(dir, `case${i}.out.onnx`), '--method', 'magnitude', '--allocation', 'uniform', '--min-params', '0', '--verbose'],
      ]) {
        const result = await runCli(argv, dir);
        const key = `${argv[0]}:${result.code}`;
        codes[key] = (codes[key] ?? 0) + 1;
        if ((result.code !== 0 && result.code !== 2) || /internal error/.test(result.stderr) || result.ms > 15_000) {
          failures.push(`case ${i} (seed ${seed}, ${base.name}: ${what}) ${argv[0]} exit ${result.code} in ${Math.round(result.ms)} ms: ${result.stderr.trim().slice(-1500)}`);
        }
      }
    }
    console.log(`structure fuzz, seed ${seed}: ${cases} cases in ${Math.round(performance.now() - started)} ms`, codes);
    expect(failures).toEqual([]);
    // The mutations must exercise both outcomes, or the fuzz tests nothing.
    expect(codes['inspect:0'] ?? 0).toBeGreaterThan(cases / 10);
    expect(codes['inspect:2'] ?? 0).toBeGreaterThan(cases / 10);
  }, 180_000);
});
