/**
 * Models with hostile *structure* (issue 17, "Models: exit 2, never an internal error or a hang"): every
 * command that reads them exits 2 with a message naming the node and attribute (or the tensor), in
 * bounded time. Models come from fixtures/make_hostile.py (python3-onnx) or are built byte by byte
 * (wire-builder.ts) where python-onnx cannot express them (lengths that wrap, 10,000 levels of nesting).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { findWeights, readModel } from '../src/node.js';
import { runCli } from './cli-run.js';
import { PYTHON, tempDir } from './helpers.js';
import { concat, floatTensor, int, len, model, nestedLoops, node, tag, valueInfo, varint } from './wire-builder.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string;

beforeAll(() => {
  dir = tempDir('specprune-hostile-');
  execFileSync(PYTHON, [path.join(here, 'fixtures/make_hostile.py'), dir], { stdio: 'pipe' });
});

const file = (name: string) => path.join(dir, `${name}.onnx`);

function write(name: string, bytes: Uint8Array): string {
  writeFileSync(file(name), bytes);
  return file(name);
}

/** inspect, a magnitude prune and spectrum all exit 2 with `pattern` on stderr and nothing on stdout. */
async function expectRefused(name: string, pattern: RegExp): Promise<void> {
  const commands = [
    ['inspect', file(name), '--json'],
    ['prune', file(name), '-o', path.join(dir, `${name}.out.onnx`), '--method', 'magnitude', '--allocation', 'uniform', '--min-params', '0'],
    ['spectrum', file(name), file(name), '--json'],
  ];
  for (const argv of commands) {
    const result = await runCli(argv, dir);
    expect(result.code, `${argv[0]} ${name}: ${result.stderr}`).toBe(2);
    expect(result.stderr, `${argv[0]} ${name}`).toMatch(pattern);
    expect(result.stderr).not.toMatch(/internal error/);
    expect(result.stdout, `${argv[0]} ${name}`).toBe('');
  }
}

describe('Conv / ConvTranspose group and shape', () => {
  it.each([
    ['conv_group_0', /node "conv1" \(Conv\) in graph main, attribute "group" is 0; it must be a positive integer/],
    ['conv_group_negative', /node "conv1" \(Conv\) in graph main, attribute "group" is -2/],
    ['conv_group_absurd', /node "conv1" \(Conv\) in graph main, attribute "group" is 4611686018427387904/],
    ['conv_group_not_dividing', /node "conv1" \(Conv\).*attribute "group" is 4, which does not divide the 6 output channels of weight "W" \[6, 1, 3, 3\]/],
    ['conv_rank_2', /node "conv1" \(Conv\).*weight "W" \[6, 36\] of rank 2/],
    ['convtranspose_group_0', /node "conv1" \(ConvTranspose\).*attribute "group" is 0/],
    ['convtranspose_group_not_dividing', /node "conv1" \(ConvTranspose\).*attribute "group" is 2, which does not divide the 5 input channels of weight "W"/],
  ])('%s', async (name, pattern) => expectRefused(name, pattern));
});

describe('Gemm operands of the wrong rank', () => {
  it.each([
    ['gemm_rank_3', /node "gemm1" \(Gemm\).*weight "B" \[2, 4, 3\] of rank 3 at input 1; Gemm takes 2-D matrices/],
    ['gemm_rank_4', /node "gemm1" \(Gemm\).*weight "B" \[1, 1, 4, 3\] of rank 4/],
  ])('%s', async (name, pattern) => expectRefused(name, pattern));
});

describe('LSTM / GRU / RNN weights that disagree with hidden_size or direction', () => {
  it.each([
    ['lstm_hidden_mismatch', /node "rnn1" \(LSTM\).*attribute "hidden_size" is 5 but W = weight "W" \[1, 16, 3\] has 16 rows, not 4 x 5/],
    ['lstm_direction_mismatch', /node "rnn1" \(LSTM\).*attribute "direction" is bidirectional \(2 directions\) but W = weight "W" \[1, 16, 3\] has 1/],
    ['gru_r_mismatch', /node "rnn1" \(GRU\).*R = weight "R" \[1, 12, 5\] with 5 columns, but attribute "hidden_size" is 4/],
    ['rnn_hidden_0', /node "rnn1" \(RNN\).*attribute "hidden_size" is 0/],
    ['lstm_rank_2', /node "rnn1" \(LSTM\).*W = weight "W" \[16, 3\] of rank 2/],
    ['lstm_gates_not_dividing', /node "rnn1" \(LSTM\).*weight "W" \[1, 10, 3\], whose 10 rows do not split into 4 gates/],
  ])('%s', async (name, pattern) => expectRefused(name, pattern));
});

describe('sparse tensors', () => {
  it.each([
    ['sparse_out_of_range', /sparse tensor "S" \(dims \[4, 3\]\) has index 12 at entry 2, outside its 12 elements/],
    ['sparse_negative', /sparse tensor "S" \(dims \[4, 3\]\) has index -1 at entry 0/],
    ['sparse_unsorted', /sparse tensor "S" .* has index 0 at entry 1 after 5; indices must be sorted/],
    ['sparse_duplicate', /sparse tensor "S" .* has index 5 at entry 2 after 5; indices must not repeat/],
    ['sparse_coo_out_of_range', /sparse tensor "S" .* has coordinate 3 on axis 1 at index entry 1, outside \[0, 3\)/],
    ['sparse_coo_unsorted', /sparse tensor "S" .* indices must be sorted/],
    ['sparse_coo_wrong_rank', /sparse tensor "S" .* has 2 values but indices of shape \[2, 3\]; indices must be \[2\] \(linear\) or \[2, 2\]/],
    ['sparse_indices_2x_values', /sparse tensor "S" .* has 2 values but indices of shape \[4\]/],
    ['sparse_indices_rank_3', /sparse tensor "S" .* indices of shape \[2, 1, 1\]/],
    ['sparse_too_many_values', /sparse tensor "S" \(dims \[4, 3\]\) has 13 values but only 12 elements/],
    ['sparse_float_indices', /sparse tensor "S" .* has indices of type float32; indices must be integers/],
  ])('%s', async (name, pattern) => expectRefused(name, pattern));

  it('a valid sparse initializer still reads (the checks are not over-strict)', async () => {
    const result = await runCli(['inspect', file('sparse_ok'), '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).weights[0]).toMatchObject({ name: 'S', location: 'sparse_initializer', numel: 12, nnz: 3 });
  });
});

describe('dims that overflow or claim more bytes than the data holds', () => {
  it.each([
    ['dims_overflow', /tensor "W" has dims \[134217728, 134217728\] whose product overflows/],
    ['dims_claim_more', /tensor "W" has 64 bytes of raw_data, but dims \[1000, 1000\] of float32 need 4000000/],
  ])('%s', async (name, pattern) => expectRefused(name, pattern));
});

describe('wire-level lengths and varints', () => {
  const W = floatTensor('W', [4, 4]);
  const graph = (init: Uint8Array) => concat([len(5, init), len(1, node('MatMul', ['x', 'W'], ['y'], 'mm1')), len(11, valueInfo('x')), len(12, valueInfo('y'))]);

  it('a control model built the same way is accepted', async () => {
    write('wire_ok', model(graph(W)));
    const result = await runCli(['inspect', file('wire_ok'), '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).weights).toHaveLength(1);
  });

  it('a raw_data length of 4 GiB + 64 does not wrap to 64', async () => {
    // Same payload, but the length varint says 2^32 + 64: a 32-bit reader would see exactly 64 and accept it.
    const lying = concat([int(1, 4), int(1, 4), int(2, 1), len(8, 'W'), len(9, new Uint8Array(64), 2 ** 32 + 64)]);
    write('wrap_raw', model(graph(lying)));
    await expectRefused('wrap_raw', /wrap_raw\.onnx is truncated or corrupt( in a tensor \(initializer of graph main\))? \(protobuf: a field of 4294967360 bytes runs past the end/);
  });

  it('a graph length of 4 GiB + n does not wrap', async () => {
    const g = graph(W);
    write('wrap_graph', concat([int(1, 8), len(8, int(2, 13)), len(7, g, 2 ** 32 + g.byteLength)]));
    await expectRefused('wrap_graph', /wrap_graph\.onnx (is not an ONNX model|is truncated or corrupt) \(protobuf: a field of \d+ bytes runs past the end of its message at byte \d+\)/);
  });

  it('a length beyond 2^53 and an over-long (11-byte) varint', async () => {
    write('huge_length', model(graph(concat([int(1, 4), int(2, 1), tag(9, 2), varint(2n ** 60n)]))));
    await expectRefused('huge_length', /huge_length\.onnx is truncated or corrupt( in a tensor \(initializer of graph main\))? \(protobuf: (varint \d+ is too large|a field of \d+ bytes runs past)/);
    const overlong = Uint8Array.from([0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    write('overlong_varint', concat([tag(1, 0), overlong, len(7, graph(W))]));
    await expectRefused('overlong_varint', /overlong_varint\.onnx (is not an ONNX model|is truncated or corrupt) \(protobuf: overlong varint \(more than 10 bytes\) at byte 1\)/);
  });

  it('an int64 attribute of 10 bytes (a negative value) is still a valid varint', async () => {
    const group = concat([len(1, 'group'), int(3, -1n), int(20, 2)]);
    const g = concat([len(5, floatTensor('W', [6, 4, 3, 3])), len(1, node('Conv', ['x', 'W'], ['y'], 'conv1', [group])), len(11, valueInfo('x'))]);
    write('negative_group_wire', model(g));
    await expectRefused('negative_group_wire', /node "conv1" \(Conv\) in graph main, attribute "group" is -1/);
  });
});

describe('deep nesting', () => {
  it('Loop bodies nested 10,000 deep: exit 2 naming the node and attribute, no stack overflow', async () => {
    write('deep_loops', nestedLoops(10_000));
    await expectRefused('deep_loops', /deep_loops\.onnx: node "loop31" \(Loop\), attribute "body": subgraphs are nested more than 30 levels deep/);
    write('deep_graphs', nestedLoops(10_000, 'graphs'));
    await expectRefused('deep_graphs', /node "loop31" \(Loop\), attribute "body": subgraphs are nested more than 30 levels deep/);
  });

  it('30 levels are read, with the weight found from the innermost body', async () => {
    write('loops_30', nestedLoops(30));
    const result = await runCli(['inspect', file('loops_30'), '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const weight = JSON.parse(result.stdout).weights[0];
    expect(weight.name).toBe('W');
    expect(weight.consumers[0].graph.split('/body').length - 1).toBe(30);
  });

  it('100,000 nested groups in an unknown field are skipped without recursion', async () => {
    const depth = 100_000;
    const open = tag(1000, 3);
    const close = tag(1000, 4);
    const groups = concat([...Array.from({ length: depth }, () => open), ...Array.from({ length: depth }, () => close)]);
    const g = concat([len(5, floatTensor('W', [4, 4])), len(1, node('MatMul', ['x', 'W'], ['y'], 'mm1')), len(11, valueInfo('x'))]);
    write('deep_groups', concat([model(g), groups]));
    const result = await runCli(['inspect', file('deep_groups'), '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const pruned = await runCli(['prune', file('deep_groups'), '-o', path.join(dir, 'deep_groups.out.onnx'), '--method', 'magnitude', '--allocation', 'uniform', '--min-params', '0'], dir);
    expect(pruned.code, pruned.stderr).toBe(0);
    write('deep_groups_unclosed', concat([model(g), groups.subarray(0, groups.byteLength - 2)]));
    await expectRefused('deep_groups_unclosed', /deep_groups_unclosed\.onnx (is not an ONNX model|is truncated or corrupt) \(protobuf: unterminated group/);
  });

  it('python-onnx (protobuf) itself refuses the nesting depth we refuse', () => {
    write('loops_40', nestedLoops(40));
    const script = `
import onnx, sys
for name in sys.argv[1:]:
    try:
        onnx.load(name); print('ok')
    except Exception as e:
        print('refused')
`;
    const out = execFileSync(PYTHON, ['-c', script, file('loops_30'), file('loops_40')]).toString().trim().split('\n');
    expect(out).toEqual(['ok', 'refused']);
  });
});

describe('zero-sized weights are listed with 0 elements and skipped, never hang', () => {
  it.each(['zero_rows', 'zero_cols', 'zero_batch', 'zero_and_normal'])('%s', async (name) => {
    const inspect = await runCli(['inspect', file(name), '--json'], dir);
    expect(inspect.code, inspect.stderr).toBe(0);
    const weights = JSON.parse(inspect.stdout).weights as Array<{ name: string; numel: number; nnz: number }>;
    const empty = weights.filter((w) => w.numel === 0);
    expect(empty).toHaveLength(1);
    expect(empty[0]!.nnz).toBe(0);
    const spectrum = await runCli(['spectrum', file(name), file(name), '--json'], dir);
    expect(spectrum.code, spectrum.stderr).toBe(0);
    expect(spectrum.ms).toBeLessThan(10_000);
    expect(JSON.parse(spectrum.stdout).weights.map((w: { name: string }) => w.name)).not.toContain(empty[0]!.name);
    expect(spectrum.stderr).toMatch(/has shape \[[\d,]+\] with no elements; skipped/);
    const prune = await runCli(['prune', file(name), '-o', path.join(dir, `${name}.pruned.onnx`), '--method', 'magnitude', '--allocation', 'uniform', '--min-params', '0', '--json'], dir);
    expect([0, 2], prune.stderr).toContain(prune.code);
    if (name === 'zero_and_normal') {
      expect(prune.code, prune.stderr).toBe(0);
      const report = JSON.parse(prune.stdout);
      const normal = report.weights.find((w: { name: string }) => w.name === 'W');
      expect(normal.sparsity).toBeCloseTo(0.5, 2);
    }
  });
});

describe('an initializer that is also a graph input', () => {
  it('IR >= 4: still a weight (the default the model runs with), marked overridable; IR 3: a plain weight', () => {
    const ir8 = readModel(file('initializer_as_input_ir8'));
    const byName = Object.fromEntries(findWeights(ir8).map((w) => [w.name, w]));
    expect(byName.W!.overridable).toBe(true);
    expect(byName.V!.overridable).toBeUndefined();
    // Before IR 4 every initializer had to be an input, so it says nothing about overriding.
    const ir3 = readModel(file('initializer_as_input_ir3'));
    expect(findWeights(ir3).map((w) => [w.name, w.overridable ?? false])).toEqual([
      ['W', false],
      ['V', false],
    ]);
  });

  it('inspect reports it as overridable and prune prunes the default', async () => {
    const inspect = await runCli(['inspect', file('initializer_as_input_ir8'), '--json'], dir);
    expect(inspect.code, inspect.stderr).toBe(0);
    const w = JSON.parse(inspect.stdout).weights.find((x: { name: string }) => x.name === 'W');
    expect(w.overridable).toBe(true);
    const out = path.join(dir, 'initializer_as_input_ir8.pruned.onnx');
    const prune = await runCli(['prune', file('initializer_as_input_ir8'), '-o', out, '--method', 'magnitude', '--allocation', 'uniform', '--min-params', '0', '--json'], dir);
    expect(prune.code, prune.stderr).toBe(0);
    const pruned = readModel(out);
    expect(pruned.graph.inputs).toContain('W');
    const after = await runCli(['inspect', out, '--json'], dir);
    const wa = JSON.parse(after.stdout).weights.find((x: { name: string }) => x.name === 'W');
    expect(wa.nnz).toBe(256);
  });
});

describe('a graph of 200,000 nodes', () => {
  it('inspect and the weight finder run in bounded (linear) time', async () => {
    // 100,000 Constant nodes (each a scope entry) interleaved with 100,000 Loop nodes whose bodies use a
    // weight: a scope copied per subgraph would cost 10^10 steps.
    const parts: Uint8Array[] = [len(5, floatTensor('W', [8, 8])), len(11, valueInfo('x'))];
    const body = concat([len(1, node('MatMul', ['x', 'W'], ['b'], 'inner')), len(12, valueInfo('b'))]);
    const constant = concat([len(1, 'value'), int(20, 4), len(5, floatTensor('', [1]))]);
    const loopAttr = concat([len(1, 'body'), int(20, 5), len(6, body)]);
    for (let i = 0; i < 100_000; i++) {
      parts.push(len(1, node('Constant', [], [`c${i}`], `const${i}`, [constant])));
      parts.push(len(1, node('Loop', [], [`l${i}`], `loop${i}`, [loopAttr])));
    }
    write('wide', model(concat(parts)));
    const started = performance.now();
    const result = await runCli(['inspect', file('wide'), '--json'], dir);
    const ms = performance.now() - started;
    expect(result.code, result.stderr).toBe(0);
    const weights = JSON.parse(result.stdout).weights;
    expect(weights).toHaveLength(1);
    expect(weights[0].consumers).toHaveLength(100_000);
    expect(ms).toBeLessThan(20_000);
  }, 60_000);
});
