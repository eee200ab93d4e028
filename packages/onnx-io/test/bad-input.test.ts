import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '@specprune/core/random';
import { findWeights, OnnxInputError, parseModel, readModel, readWeight, updateWeight, writeModel, countNonzero } from '../src/node.js';
import { PYTHON, REAL_MODELS, tempDir } from './helpers.js';

let dir: string;

/** Writes a model with one hand-corrupted initializer, made by python3-onnx. */
function makeBroken(name: string, code: string): string {
  const file = path.join(dir, `${name}.onnx`);
  const script = `
import onnx, numpy as np
from onnx import helper as h, numpy_helper as nh, TensorProto as T
t = nh.from_array(np.ones((4, 3), dtype=np.float32), 'W')
${code}
g = h.make_graph([h.make_node('MatMul', ['x', 'W'], ['y'])], 'g', [h.make_tensor_value_info('x', T.FLOAT, [1, 4])], [h.make_tensor_value_info('y', T.FLOAT, [1, 3])], initializer=[t])
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8
open(${JSON.stringify(file)}, 'wb').write(m.SerializeToString())
`;
  execFileSync(PYTHON, ['-c', script]);
  return file;
}

function expectInputError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected an OnnxInputError matching ${pattern}`).toBeInstanceOf(OnnxInputError);
  expect((caught as Error).message).toMatch(pattern);
  expect((caught as OnnxInputError).exitCode).toBe(2);
}

beforeAll(() => {
  dir = tempDir('specprune-bad-');
});

describe('bad input gives one clear error naming the file (and tensor)', () => {
  it('zero-length file', () => {
    const file = path.join(dir, 'empty.onnx');
    writeFileSync(file, '');
    expectInputError(() => readModel(file), /empty\.onnx is empty \(0 bytes\); it is not an ONNX model/);
  });

  it('missing file and folder', () => {
    expectInputError(() => readModel(path.join(dir, 'nope.onnx')), /nope\.onnx does not exist/);
    expectInputError(() => readModel(dir), /is a folder/);
  });

  it('random bytes', () => {
    const file = path.join(dir, 'random.onnx');
    writeFileSync(file, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)));
    expectInputError(() => readModel(file), /random\.onnx is not an ONNX model/);
  });

  it('a text file', () => {
    const file = path.join(dir, 'notes.onnx');
    writeFileSync(file, 'this is not a model\n');
    expectInputError(() => readModel(file), /notes\.onnx is not an ONNX model/);
  });

  it('a real model truncated at many points', () => {
    const bytes = readFileSync(REAL_MODELS.wakeword);
    for (let cut = 1; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expectInputError(() => parseModel(bytes.subarray(0, cut), { label: `cut-${cut}.onnx` }), new RegExp(`cut-${cut}\\.onnx (is not an ONNX model|is truncated or corrupt)`));
    }
  });

  it('raw_data length that disagrees with dims x dtype', () => {
    const file = makeBroken('rawlen', `t.raw_data = t.raw_data[:-4]`);
    expectInputError(() => readModel(file), /rawlen\.onnx: tensor "W" has 44 bytes of raw_data, but dims \[4, 3\] of float32 need 48/);
  });

  it('negative and overflowing dims', () => {
    const negative = makeBroken('negdim', `del t.dims[:]; t.dims.extend([-4, 3])`);
    expectInputError(() => readModel(negative), /negdim\.onnx: tensor "W" has a negative dimension \(-4\)/);
    const overflow = makeBroken('bigdim', `del t.dims[:]; t.dims.extend([2**40, 2**40])`);
    expectInputError(() => readModel(overflow), /bigdim\.onnx: tensor "W" has dims \[1099511627776, 1099511627776\] whose product overflows/);
  });

  it('unknown dtype', () => {
    const file = makeBroken('dtype', `t.data_type = 99`);
    expectInputError(() => readModel(file), /dtype\.onnx: tensor "W" has an unknown data type \(99\)/);
  });

  it('external data paths that escape the folder, are absolute, or are missing', () => {
    const escape = makeBroken('escape', `t.ClearField('raw_data'); t.data_location = 1; e = t.external_data.add(); e.key = 'location'; e.value = '../secret.bin'`);
    expectInputError(() => readModel(escape), /escape\.onnx: tensor "W" has an unsafe external data location "\.\.\/secret\.bin"/);
    const absolute = makeBroken('absolute', `t.ClearField('raw_data'); t.data_location = 1; e = t.external_data.add(); e.key = 'location'; e.value = '/etc/passwd'`);
    expectInputError(() => readModel(absolute), /absolute\.onnx: tensor "W" has an unsafe external data location "\/etc\/passwd"/);
    const missing = makeBroken('missing', `t.ClearField('raw_data'); t.data_location = 1; e = t.external_data.add(); e.key = 'location'; e.value = 'weights.bin'`);
    const model = readModel(missing);
    const weight = findWeights(model)[0]!;
    expectInputError(() => readWeight(model, weight), /missing\.onnx: tensor "W" is stored in external file "weights\.bin", which does not exist next to the model/);
    const short = makeBroken('short', `t.ClearField('raw_data'); t.data_location = 1; e = t.external_data.add(); e.key = 'location'; e.value = 'short.bin'`);
    writeFileSync(path.join(dir, 'short.bin'), Buffer.alloc(20));
    const shortModel = readModel(short);
    expectInputError(() => countNonzero(shortModel, findWeights(shortModel)[0]!), /short\.onnx: tensor "W" needs 48 bytes but its external data holds 20/);
  });
});

/** The fuzz mutations' seeded uniform numbers in [0, 1), from the project's one PRNG. */
function prng(seed: number): () => number {
  const random = createRandom(seed);
  return () => random.nextDouble();
}

describe('fuzz', () => {
  it('1,000+ seeded mutations of a real model: no uncaught exception, no hang, no partial output', () => {
    const original = readFileSync(REAL_MODELS.wakeword);
    const donor = readFileSync(REAL_MODELS.paddleCls);
    const seed = Number(process.env.SPECPRUNE_FUZZ_SEED ?? 20261124);
    const random = prng(seed);
    const out = path.join(dir, 'fuzz');
    mkdirSync(out);
    const outcomes = { parsed: 0, rejected: 0, written: 0 };
    const iterations = 1200;
    for (let i = 0; i < iterations; i++) {
      const bytes = Buffer.from(original);
      const kind = i % 4;
      let mutated: Buffer;
      if (kind === 0) {
        for (let k = 0, n = 1 + Math.floor(random() * 8); k < n; k++) bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8);
        mutated = bytes;
      } else if (kind === 1) {
        mutated = bytes.subarray(0, Math.floor(random() * bytes.length));
      } else if (kind === 2) {
        const at = Math.floor(random() * bytes.length);
        const from = Math.floor(random() * donor.length);
        mutated = Buffer.concat([bytes.subarray(0, at), donor.subarray(from, from + Math.floor(random() * 64)), bytes.subarray(at + Math.floor(random() * 64))]);
      } else {
        // Mutations aimed at headers: flip bytes in the first 2 kB, where the graph structure lives.
        for (let k = 0; k < 3; k++) bytes[Math.floor(random() * Math.min(2048, bytes.length))] = Math.floor(random() * 256);
        mutated = bytes;
      }
      const target = path.join(out, `m${i}.onnx`);
      try {
        const model = parseModel(mutated, { label: `mutation ${i}` });
        outcomes.parsed++;
        for (const w of findWeights(model)) {
          const values = readWeight(model, w);
          updateWeight(model, w, values, i % 2 ? 'sparse' : 'dense');
        }
        writeModel(model, target);
        outcomes.written++;
      } catch (error) {
        if (!(error instanceof OnnxInputError)) throw new Error(`mutation ${i} (seed ${seed}) threw ${String(error)}`);
        outcomes.rejected++;
      }
    }
    expect(outcomes.parsed + outcomes.rejected).toBe(iterations);
    expect(outcomes.rejected).toBeGreaterThan(100);
    expect(outcomes.parsed).toBeGreaterThan(100);
    // Only complete outputs: one per successful write, no temp files left behind.
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(out).length).toBe(outcomes.written);
  });
});
