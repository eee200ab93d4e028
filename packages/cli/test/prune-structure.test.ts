import { existsSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { MODELS, runCli, tempDir } from './helpers.js';

describe('prune --structure channels (CLI)', () => {
  it('writes a smaller dense model of the text-direction classifier that runs with the same output shape; --json has structure', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'cls.fast.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--shape', 'x=1x3x48x192', '--structure', 'channels', '--flops', '0.5', '--threads', '1', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<{ sparsity: number; structure: { macs: { before: number; after: number }; params: { before: number; after: number }; groups: Array<{ members: string[]; channels: { before: number; after: number } }>; intact: Array<{ reason: string }>; latency: { shapes: Record<string, number[]>; p50BeforeMs: number; p50AfterMs: number; speedup: number } }; output: { bytes: number }; input: { bytes: number } }>();
    expect(report.sparsity).toBe(0);
    expect(report.structure.macs.after).toBeLessThan(report.structure.macs.before * 0.55);
    expect(report.structure.params.after).toBeLessThan(report.structure.params.before);
    expect(report.output.bytes).toBeLessThan(report.input.bytes * 0.75);
    // The Shape before the classifier's Reshape is followed (its batch entry only); the Reshape's [N, 200] comes from a
    // Constant behind a Cast and a Concat, rewritten there: the last group prunes; only the 2 classes (Softmax) stay.
    expect(report.structure.groups.find((g) => g.members.includes('p2o.Reshape.36'))?.channels.before).toBe(200);
    expect(report.structure.intact.map((g) => g.reason)).toEqual(['Softmax node p2o.Softmax.0 normalises across the channel axis']);
    // Measured latency of both, at the shape given; the ratio is the two p50s'.
    const { latency } = report.structure;
    expect(latency.shapes).toEqual({ x: [1, 3, 48, 192] });
    expect(latency.p50BeforeMs).toBeGreaterThan(0);
    expect(latency.p50AfterMs).toBeGreaterThan(0);
    expect(latency.speedup).toBeCloseTo(latency.p50BeforeMs / latency.p50AfterMs, 2);
    const session = await ort.InferenceSession.create(out);
    const x = new ort.Tensor('float32', new Float32Array(3 * 48 * 192).fill(0.1), [1, 3, 48, 192]);
    const output = await session.run({ x });
    expect(output[session.outputNames[0]!]!.dims).toEqual([1, 2]);
    await session.release();
  });

  it('the human summary says what structured pruning removed', async () => {
    const out = path.join(tempDir(), 'cls.fast.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--shape', 'x=1x3x48x192', '--structure', 'channels', '--flops', '0.7', '--channel-multiple', '4', '--threads', '1']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Structured pruning removed [\d,]+ channels in \d+ group\(s\) \(1 left intact, see --json\); multiply-adds [\d,]+ -> [\d,]+ \(\d+\.\d%\)/);
    // The milliseconds, measured at the --shape given.
    expect(result.stdout).toMatch(/Measured p50 latency \d+\.\d\d -> \d+\.\d\d ms \(\d+\.\d\dx\) at x=1x3x48x192\./);
    expect(result.stdout).toContain('No unstructured pruning (give --sparsity for it)');
  });

  it('--speedup a classifier cannot reach is exit 2 naming the measured latencies, and no output file', async () => {
    const out = path.join(tempDir(), 'never.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--shape', 'x=1x3x48x192', '--structure', 'channels', '--speedup', '100', '--threads', '1']);
    expect(result.code).toBe(2);
    // Found after measuring: the phases that ran say so first (a line each), then the one sentence.
    const lines = result.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^specprune: --speedup 100 cannot be reached for .*: with every prunable group at its smallest \(\d+\.\d% of the multiply-adds\) the measured p50 latency goes from [\d.]+ to [\d.]+ ms \([\d.]+x\); ask for less, or give --flops F\.$/);
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^specprune: (statistics|group sensitivity|candidates): \d+ step\(s\) in [\d.]+ s; peak memory so far /);
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    [['--flops', '0.5'], '--flops sets how much --structure channels removes; add --structure channels or drop --flops.'],
    [['--structure', 'channels'], '--structure channels needs a target: add --flops F, the fraction of multiply-adds to keep (e.g. --flops 0.5), or --speedup X, how many times lower the p50 latency must be (e.g. --speedup 1.5).'],
    [['--speedup', '1.5'], '--speedup sets how much faster --structure channels makes the model; add --structure channels or drop --speedup.'],
    [['--structure', 'channels', '--speedup', '1'], '--speedup 1 is out of range; use a number in (1, 100], e.g. --speedup 1.5 for a p50 latency 1.5 times lower.'],
    [['--structure', 'channels', '--speedup', '1.5', '--flops', '0.5'], '--speedup and --flops are two targets for the same thing; give one of them.'],
    [['--structure', 'channels', '--flops', '0'], '--flops 0 is out of range; use a number in (0, 1], e.g. --flops 0.5.'],
    [['--structure', 'channels', '--flops', '0.5', '--channel-multiple', '0'], '--channel-multiple 0 must be a whole number in [1, 1024], e.g. 8.'],
  ])('%j is exit 2 with one sentence and no output file', async (flags, message) => {
    const out = path.join(tempDir(), 'never.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--shape', 'x=1x3x48x192', ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`specprune: ${message}`);
    expect(result.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });
});
