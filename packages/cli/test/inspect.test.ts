import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS, ROOT, runCli, tempDir } from './helpers.js';

interface InspectJson {
  model: { path: string; bytes: number; irVersion: number; opsets: Array<{ domain: string; version: number }> };
  weights: Array<{ name: string; graph: string; op: string; location: string; shape: number[]; dtype: string; numel: number; nnz: number }>;
  totals: { count: number; numel: number; nnz: number };
}

describe('specprune inspect', () => {
  it('prints the CLI.md JSON document, agreeing with the python3-onnx oracle', async () => {
    const oracle = JSON.parse(
      execFileSync('/usr/bin/python3', [path.join(ROOT, 'packages/onnx-io/test/fixtures/oracle_weights.py'), MODELS.sileroLegacy]).toString(),
    )[MODELS.sileroLegacy] as Array<{ numel: number; nnz: number; name: string }>;
    const result = await runCli(['inspect', MODELS.sileroLegacy, '--json']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const doc = result.json<InspectJson>();
    expect(doc.model).toMatchObject({ path: MODELS.sileroLegacy, bytes: statSync(MODELS.sileroLegacy).size, irVersion: 8 });
    expect(doc.model.opsets).toContainEqual({ domain: '', version: 16 });
    expect(doc.weights.map((w) => w.name)).toEqual(oracle.map((w) => w.name));
    expect(doc.totals).toEqual({
      count: oracle.length,
      numel: oracle.reduce((s, w) => s + w.numel, 0),
      nnz: oracle.reduce((s, w) => s + w.nnz, 0),
      sparsity: expect.any(Number),
    });
    const lstm = doc.weights.find((w) => w.op === 'LSTM')!;
    expect(lstm.graph).toMatch(/^main\/If_25\/(then|else)_branch\/If_\d+\/(then|else)_branch$/);
    expect(Object.keys(doc.weights[0]!)).toEqual(expect.arrayContaining(['name', 'graph', 'op', 'location', 'shape', 'dtype', 'numel', 'nnz']));
  });

  it('prints a readable table for humans', async () => {
    const result = await runCli(['inspect', MODELS.paddleCls]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/IR 8, opsets ai\.onnx 9/);
    expect(result.stdout).toMatch(/conv2d_0\.w_0\s+main\s+Conv\s+constant\s+float32\s+8x3x3x3\s+216\s+216\s+0\.0%/);
    expect(result.stdout).toMatch(/54 weights, 124,072 parameters/);
  });

  it('exits 2 with one sentence, no stack, for missing, empty and corrupt models', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'empty.onnx'), '');
    writeFileSync(path.join(dir, 'junk.onnx'), Buffer.from('\x0a\xff\xff\xff\x0fjunk'));
    for (const [file, pattern] of [
      ['missing.onnx', /missing\.onnx does not exist/],
      ['empty.onnx', /empty\.onnx is empty/],
      ['junk.onnx', /junk\.onnx is not an ONNX model/],
    ] as const) {
      const result = await runCli(['inspect', file], { cwd: dir });
      expect(result.code, file).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(pattern);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at \S+ \(/);
    }
    expect(readdirSync(dir).sort()).toEqual(['empty.onnx', 'junk.onnx']);
  });

  it('exits 2 for bad flags and unknown commands, and --help teaches', async () => {
    expect((await runCli(['inspect'])).code).toBe(2);
    const unknown = await runCli(['inspekt', MODELS.wakeword]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/specprune --help/);
    const bad = await runCli(['inspect', MODELS.wakeword, '--frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown argument: frobnicate/);
    const help = await runCli(['inspect', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--json/);
    expect(help.stdout).toMatch(/Examples:/);
  });
});
