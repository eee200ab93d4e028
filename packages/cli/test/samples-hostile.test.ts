import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadOrt, loadSampleFeeds } from '../src/eval/inputs.js';
import { encodeNpy, type NpyDType } from '../src/eval/npy.js';
import { runCli, tempDir, type CliResult } from './helpers.js';
import { expectOneSentence, mkfifo, runBin } from './hostile-helpers.js';

/**
 * Models written by python3-onnx for these tests:
 * - conv.onnx: x [batch, 3, 48, width] -> Conv (16x3x3x3) -> ReduceMean over H, W -> MatMul (16x32) -> y [batch, 32];
 *   the declared shape of a text recogniser: open batch and width, fixed channels and height.
 * - pair.onnx: a [batch, 8] + b [batch, 8] -> MatMul (8x64) -> y; two inputs sharing the dim "batch".
 * - reshape.onnx: x [batch, n] -> Reshape to [-1, 2, 16] -> MatMul (16x32): n is open but must be a multiple of 32.
 */
let dir: string;
const conv = () => path.join(dir, 'conv.onnx');
const pair = () => path.join(dir, 'pair.onnx');

beforeAll(() => {
  dir = tempDir('specprune-samples-hostile-');
  execFileSync('/usr/bin/python3', [
    '-c',
    `
import numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto as T
rng = np.random.default_rng(0)
d = ${JSON.stringify(dir)}
def save(nodes, inputs, outputs, inits, name):
    g = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, d + '/' + name + '.onnx')
save([helper.make_node('Conv', ['x', 'W1'], ['c'], pads=[1, 1, 1, 1]),
      helper.make_node('ReduceMean', ['c'], ['r'], axes=[2, 3], keepdims=0),
      helper.make_node('MatMul', ['r', 'W2'], ['y'])],
     [helper.make_tensor_value_info('x', T.FLOAT, ['batch', 3, 48, 'width'])],
     [helper.make_tensor_value_info('y', T.FLOAT, ['batch', 32])],
     {'W1': rng.standard_normal((16, 3, 3, 3)).astype(np.float32), 'W2': rng.standard_normal((16, 32)).astype(np.float32)}, 'conv')
save([helper.make_node('Add', ['a', 'b'], ['s']), helper.make_node('MatMul', ['s', 'W'], ['y'])],
     [helper.make_tensor_value_info('a', T.FLOAT, ['batch', 8]), helper.make_tensor_value_info('b', T.FLOAT, ['batch', 8])],
     [helper.make_tensor_value_info('y', T.FLOAT, ['batch', 64])],
     {'W': rng.standard_normal((8, 64)).astype(np.float32)}, 'pair')
save([helper.make_node('Reshape', ['x', 's'], ['r']), helper.make_node('MatMul', ['r', 'W'], ['y'])],
     [helper.make_tensor_value_info('x', T.FLOAT, ['batch', 'n'])],
     [helper.make_tensor_value_info('y', T.FLOAT, ['batch', 2, 32])],
     {'s': np.array([-1, 2, 16], dtype=np.int64), 'W': rng.standard_normal((16, 32)).astype(np.float32)}, 'reshape')
`,
  ]);
});

function values(shape: number[], seed = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * 0.37 * seed));
}

/** A folder of good samples for conv.onnx (symbolic batch and width differ between them), plus `extra` files. */
function convSamples(extra: Record<string, Uint8Array | ((file: string) => void)> = {}): string {
  const samples = path.join(tempDir('specprune-samples-'), 'samples');
  mkdirSync(samples);
  writeFileSync(path.join(samples, '0.npy'), encodeNpy('float32', [1, 3, 48, 32], values([1, 3, 48, 32])));
  writeFileSync(path.join(samples, '1.npy'), encodeNpy('float32', [2, 3, 48, 64], values([2, 3, 48, 64], 2)));
  for (const [name, content] of Object.entries(extra)) {
    if (typeof content === 'function') content(path.join(samples, name));
    else writeFileSync(path.join(samples, name), content);
  }
  return samples;
}

function npy(shape: number[], fill: (data: Float32Array) => void = () => {}, dtype: NpyDType = 'float32'): Uint8Array {
  const data = values(shape);
  fill(data);
  return encodeNpy(dtype, shape, dtype === 'float64' ? Float64Array.from(data) : data);
}

/** The sample refusal: exit 2, the last stderr line is one sentence matching `names` (prune logs what it starts first), no stack. */
function expectRefused(result: CliResult, names: RegExp): void {
  const lines = result.stderr.trimEnd().split('\n');
  expectOneSentence({ ...result, stderr: `${lines[lines.length - 1]}\n` }, names);
  expect(result.stderr).not.toMatch(/internal error|\n\s+at |onnxruntime|Error:/);
}

/** The same folder through the three commands that read samples. */
async function throughEveryCommand(samples: string, model = conv()): Promise<Array<[string, CliResult & { ms: number }]>> {
  const out = path.join(path.dirname(samples), 'out.onnx');
  const budget = path.join(path.dirname(samples), 'budget.json');
  writeFileSync(budget, JSON.stringify({ budgets: [{ name: 'm', model, reference: model, inputs: samples, minCosine: 0.5 }] }));
  const timed = async (argv: string[]) => {
    const started = Date.now();
    const result = await runCli(argv);
    return { ...result, ms: Date.now() - started };
  };
  return [
    ['eval --inputs', await timed(['eval', model, model, '--inputs', samples])],
    ['prune --calibration', await timed(['prune', model, '-o', out, '--calibration', samples, '--sparsity', '0.5'])],
    ['check (inputs)', await timed(['check', '--budget', budget])],
  ];
}

describe('sample .npy files: exit 2 naming the file and what the model expects', () => {
  it('a control: samples whose symbolic dims (batch, width) differ between files are accepted by every command', async () => {
    for (const [command, result] of await throughEveryCommand(convSamples())) {
      expect(result.code, `${command}: ${result.stderr}`).toBe(0);
    }
  });

  it.each([
    ['NaN', npy([1, 3, 48, 32], (d) => (d[17] = NaN)), /samples\/3\.npy holds NaN at index 17; --\S+ samples must be finite numbers with \|x\| <= 1e\+30\./],
    ['Infinity', npy([1, 3, 48, 32], (d) => (d[5] = -Infinity)), /samples\/3\.npy holds -Infinity at index 5; /],
    ['a huge value (1e35)', npy([1, 3, 48, 32], (d) => (d[100] = 1e35)), /samples\/3\.npy holds 1\.00e\+35 at index 100; /],
    ['a huge float64 value in the wrong dtype', npy([1, 3, 48, 32], (d) => (d[0] = 1e300), 'float64'), /samples\/3\.npy holds float64 but input x expects float32\./],
    ['the wrong rank', npy([3, 48, 32]), /samples\/3\.npy has shape \[3, 48, 32\] \(rank 3\) but input x expects \[batch, 3, 48, width\] \(rank 4\)\./],
    ['the wrong channels', npy([1, 4, 48, 32]), /samples\/3\.npy has shape \[1, 4, 48, 32\] but input x expects \[batch, 3, 48, width\] \(dim 1 = 3\)\./],
    ['the wrong fixed height', npy([1, 3, 32, 32]), /samples\/3\.npy has shape \[1, 3, 32, 32\] but input x expects \[batch, 3, 48, width\] \(dim 2 = 48\)\./],
    ['zero size', npy([0, 3, 48, 32]), /samples\/3\.npy has shape \[0, 3, 48, 32\], which holds no values; a sample needs at least one\./],
    ['a truncated header', npy([1, 3, 48, 32]).subarray(0, 40), /samples\/3\.npy is not a valid \.npy file: truncated header\./],
    ['a cut magic', npy([1, 3, 48, 32]).subarray(0, 7), /samples\/3\.npy is not a valid \.npy file: missing the \\x93NUMPY magic\./],
    ['truncated data', npy([1, 3, 48, 32]).subarray(0, 1000), /samples\/3\.npy is not a valid \.npy file: shape \(1, 3, 48, 32\) of float32 needs 18432 data bytes, the file has 872\./],
    ['a header without shape', malformed("{'descr': '<f4', 'fortran_order': False, }"), /samples\/3\.npy is not a valid \.npy file: header lacks descr, fortran_order or shape\./],
    ['a hex dimension', malformed("{'descr': '<f4', 'fortran_order': False, 'shape': (0x10,), }"), /samples\/3\.npy is not a valid \.npy file: bad dimension "0x10"\./],
    ['dims whose product overflows', malformed(`{'descr': '<f4', 'fortran_order': False, 'shape': (${Array(8).fill('4294967296').join(', ')}), }`), /samples\/3\.npy is not a valid \.npy file: shape \(4294967296, .*\) is larger than any file\./],
    ['an escape sequence as dtype', malformed("{'descr': '\u001b[2J', 'fortran_order': False, 'shape': (1,), }"), /samples\/3\.npy is not a valid \.npy file: dtype \\u001b\[2J is not supported/],
    ['a directory named 3.npy', (p: string) => mkdirSync(p), /samples\/3\.npy is a directory, not a \.npy file; give a regular file\./],
  ])('%s: every command exits 2 naming the file', async (_case, content, message) => {
    for (const [command, result] of await throughEveryCommand(convSamples({ '3.npy': content }))) {
      expectRefused(result, message);
      expect(result.ms, command).toBeLessThan(10_000);
    }
  });

  it('a FIFO named 3.npy is refused before it is opened (no hang), by every command', () => {
    const samples = convSamples({ '3.npy': mkfifo });
    const work = path.dirname(samples);
    writeFileSync(path.join(work, 'budget.json'), JSON.stringify({ budgets: [{ name: 'm', model: conv(), reference: conv(), inputs: samples, minCosine: 0.5 }] }));
    for (const argv of [
      ['eval', conv(), conv(), '--inputs', samples],
      ['prune', conv(), '-o', path.join(work, 'out.onnx'), '--calibration', samples],
      ['check', '--budget', 'budget.json'],
    ]) {
      const result = runBin(argv, work);
      expect(result.timedOut, argv[0]).toBe(false);
      expect(result.code, `${argv[0]}: ${result.stderr}`).toBe(2);
      expectRefused(result, /samples\/3\.npy is a FIFO, not a \.npy file; give a regular file\./);
    }
  });

  it('two inputs sharing the symbolic dim "batch" must agree within a sample; across samples it may change', async () => {
    const samples = path.join(tempDir('specprune-samples-'), 'samples');
    mkdirSync(samples);
    writeFileSync(path.join(samples, 'a.0.npy'), npy([1, 8]));
    writeFileSync(path.join(samples, 'b.0.npy'), npy([1, 8]));
    writeFileSync(path.join(samples, 'a.1.npy'), npy([3, 8]));
    writeFileSync(path.join(samples, 'b.1.npy'), npy([3, 8]));
    const good = await runCli(['eval', pair(), pair(), '--inputs', samples]);
    expect(good.code, good.stderr).toBe(0);
    writeFileSync(path.join(samples, 'b.1.npy'), npy([2, 8]));
    for (const [, result] of await throughEveryCommand(samples, pair())) {
      expectRefused(result, /samples\/b\.1\.npy has batch = 2 \(dim 0\) but samples\/a\.1\.npy has batch = 3 \(dim 0\); inputs a and b share the model's dim batch\./);
    }
    writeFileSync(path.join(samples, 'b.1.npy'), npy([3, 9]));
    const fixed = await runCli(['eval', pair(), pair(), '--inputs', samples]);
    expectRefused(fixed, /samples\/b\.1\.npy has shape \[3, 9\] but input b expects \[batch, 8\] \(dim 1 = 8\)\./);
  });

  it('a sample that fits the declared shape but not the model (Reshape): exit 2 naming the file, the node and its reason', async () => {
    const samples = path.join(tempDir('specprune-samples-'), 'samples');
    mkdirSync(samples);
    writeFileSync(path.join(samples, '0.npy'), npy([1, 64]));
    const reshape = path.join(dir, 'reshape.onnx');
    const good = await runCli(['eval', reshape, reshape, '--inputs', samples]);
    expect(good.code, good.stderr).toBe(0);
    writeFileSync(path.join(samples, '1.npy'), npy([1, 33]));
    for (const [command, result] of await throughEveryCommand(samples, reshape)) {
      expect(result.code, command).toBe(2);
      const last = result.stderr.trimEnd().split('\n').pop()!;
      expect(last).toMatch(
        /^specprune: \S*reshape\.onnx cannot run on samples\/1\.npy \(x \[1, 33\]\): its Reshape node refused it \(The input tensor cannot be reshaped to the requested shape\. Input shape:\{1,33\}, requested shape:\{-1,2,16\}\); give samples whose shapes and values suit the model\.$/,
      );
      expect(result.stderr).not.toMatch(/internal error|\n\s+at |onnxruntime_src|Error:/);
    }
  });

  it('float16 NaN and Inf are found from their bit patterns', async () => {
    const ort = await loadOrt();
    const samples = path.join(tempDir('specprune-samples-'), 'samples');
    mkdirSync(samples);
    const input = [{ name: 'h', dtype: 'float16', shape: ['n', 4] }];
    writeFileSync(path.join(samples, '0.npy'), encodeNpy('float16', [1, 4], new Uint16Array([0x3c00, 0x7bff, 0xfbff, 0])));
    expect(loadSampleFeeds(ort, samples, input, '--inputs')).toHaveLength(1);
    writeFileSync(path.join(samples, '1.npy'), encodeNpy('float16', [1, 4], new Uint16Array([0x3c00, 0x7e00, 0, 0])));
    expect(() => loadSampleFeeds(ort, samples, input, '--inputs')).toThrow(/samples\/1\.npy holds NaN at index 1; --inputs samples must be finite/);
    writeFileSync(path.join(samples, '1.npy'), encodeNpy('float16', [1, 4], new Uint16Array([0, 0, 0, 0xfc00])));
    expect(() => loadSampleFeeds(ort, samples, input, '--inputs')).toThrow(/samples\/1\.npy holds -Infinity at index 3/);
  });
});

/** A version-1 .npy with the given header text and 64 bytes of data. */
function malformed(header: string): Uint8Array {
  const text = `${header}\n`;
  const out = new Uint8Array(10 + text.length + 64);
  out.set([0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0)), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(new TextEncoder().encode(text), 10);
  return out;
}
