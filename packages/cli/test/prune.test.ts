import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractBlock, findWeights, matrixView, readModel, readWeight } from '@specprune/onnx-io/node';
import ort from 'onnxruntime-node';
import { describeEstimate } from '../src/progress.js';
import { MODELS, runCli, tempDir } from './helpers.js';

interface PruneJson {
  input: { path: string; bytes: number; gzipBytes: number; brotliBytes: number };
  output: { path: string; bytes: number; gzipBytes: number; brotliBytes: number };
  sparsity: number;
  method: string;
  allocation: string;
  weights: Array<{ name: string; graph: string; shape: number[]; sparsity: number; method: string; spectralError: number; frobeniusError: number; storage: string }>;
}

const SHAPES: Record<string, string[]> = {
  [MODELS.paddleCls]: ['--shape', 'x=1x3x48x192'],
  [MODELS.wakeword]: [],
  [MODELS.sileroLegacy]: ['--shape', 'input=1x512', '--shape', 'h=2x1x64', '--shape', 'c=2x1x64', '--value', 'sr=16000'],
  [MODELS.sileroV5]: ['--shape', 'input=1x512', '--shape', 'state=2x1x128', '--value', 'sr=16000'],
};

async function runs(file: string): Promise<boolean> {
  const session = await ort.InferenceSession.create(file);
  await session.release();
  return true;
}

function selectedStats(file: string, minParams = 256): { numel: number; nnz: number; perWeight: Array<{ name: string; numel: number; nnz: number }> } {
  const model = readModel(file);
  const perWeight = findWeights(model)
    .filter((w) => w.numel >= minParams)
    .map((w) => {
      const v = readWeight(model, w);
      let nnz = 0;
      for (const x of v) if (x !== 0) nnz++;
      return { name: w.name, numel: w.numel, nnz };
    });
  return { numel: perWeight.reduce((s, w) => s + w.numel, 0), nnz: perWeight.reduce((s, w) => s + w.nnz, 0), perWeight };
}

describe('specprune prune on real models', () => {
  it('reaches the asked sparsity with every allocation, and every pruned model runs in onnxruntime-node', async () => {
    const dir = tempDir();
    for (const [name, model] of Object.entries(MODELS)) {
      for (const allocation of ['uniform', 'global', 'spectral']) {
        const out = path.join(dir, `${name}.${allocation}.onnx`);
        const result = await runCli(['prune', model, '-o', out, '--sparsity', '0.5', '--allocation', allocation, '--method', 'magnitude', ...(SHAPES[model] ?? []), '--json']);
        expect(result.code, `${name} ${allocation}: ${result.stderr}`).toBe(0);
        const doc = result.json<PruneJson>();
        const stats = selectedStats(out);
        const originalNnz = selectedStats(model);
        // Zeros already present count too; the target is over all selected elements.
        const zeros = stats.numel - stats.nnz;
        expect(Math.abs(zeros - Math.round(0.5 * stats.numel)), `${name} ${allocation}`).toBeLessThanOrEqual(Math.max(1, originalNnz.numel - originalNnz.nnz));
        if (allocation === 'uniform') {
          for (const w of stats.perWeight) expect(Math.abs(w.numel - w.nnz - Math.round(0.5 * w.numel)), w.name).toBeLessThanOrEqual(Math.max(1, w.numel - (originalNnz.perWeight.find((o) => o.name === w.name)!.nnz)));
        }
        expect(doc.sparsity).toBeCloseTo(0.5, 2);
        expect(await runs(out)).toBe(true);
      }
    }
  });

  it('prints the CLI.md JSON document', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'p.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--sparsity', '0.3', ...SHAPES[MODELS.paddleCls]!, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.input).toMatchObject({ path: MODELS.paddleCls, bytes: statSync(MODELS.paddleCls).size });
    expect(doc.output).toMatchObject({ path: out, bytes: statSync(out).size });
    // The output is written and compressed while the pipeline checks it: the sizes are those of the file in place.
    const written = readFileSync(out);
    expect(doc.output).toMatchObject({ gzipBytes: gzipSync(written, { level: 6 }).length, brotliBytes: brotliCompressSync(written, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }).length });
    const original = readFileSync(MODELS.paddleCls);
    expect(doc.input).toMatchObject({ gzipBytes: gzipSync(original, { level: 6 }).length, brotliBytes: brotliCompressSync(original, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }).length });
    expect(doc.method).toBe('spectral');
    expect(doc.allocation).toBe('spectral');
    expect(doc.weights.length).toBeGreaterThan(10);
    for (const w of doc.weights) {
      expect(Object.keys(w)).toEqual(expect.arrayContaining(['name', 'graph', 'shape', 'sparsity', 'method', 'spectralError', 'frobeniusError', 'storage']));
      expect(w.spectralError).toBeGreaterThanOrEqual(0);
      expect(w.spectralError).toBeLessThan(1.5);
      expect(['magnitude', 'l1', 'l2', 'bernstein', 'hybrid', 'refit', 'wanda'].some((m) => w.method.includes(m))).toBe(true);
    }
    const provenance = readModel(out).metadata.find((m) => m.key === 'specprune.options');
    expect(JSON.parse(provenance!.value)).toMatchObject({ method: 'spectral', allocation: 'spectral', seed: 0 });
  });

  it('says at the start how long a long prune will take (its estimate, phase by phase) and how to stop it; --json has the estimate beside the timings', async () => {
    const long = { total: 111.7, at: 0.9, statistics: 19.1, scan: 52.8, prune: 38.3, check: 0.6 };
    expect(describeEstimate(long)).toBe('this prune will take about 1 min 52 s (estimated from its first run: statistics 19 s, sensitivity scan 53 s, pruning 38 s, check 0.6 s); Ctrl-C stops it and writes nothing.');
    expect(describeEstimate({ total: 24, at: 0.5, scan: 12, prune: 9, check: 0.2 })).toBe('this prune will take about 24 s (estimated from its first run: sensitivity scan 12 s, pruning 9.0 s, check 0.2 s); Ctrl-C stops it and writes nothing.');
    // A short prune does not announce itself.
    expect(describeEstimate({ ...long, total: 4 })).toBeUndefined();
    // Revised from the scan's timed measurement: told as a revision after a long first estimate, as the start line after a short one.
    const revised = { total: 41.2, at: 12.5, scan: 18.4, prune: 10.1, check: 0.2 };
    expect(describeEstimate({ ...long, revised })).toBe("revised estimate, from the scan's first timed measurement: about 41 s in all (sensitivity scan 18 s, pruning 10 s, check 0.2 s to come).");
    expect(describeEstimate({ ...long, total: 8, revised })).toBe("this prune will take about 41 s (estimated from the scan's first timed measurement: sensitivity scan 18 s, pruning 10 s, check 0.2 s); Ctrl-C stops it and writes nothing.");
    expect(describeEstimate({ ...long, total: 8, revised: { ...revised, total: 9 } })).toBeUndefined();
    expect(describeEstimate({ ...long, revised: { ...revised, total: 6 } })).toMatch(/^revised estimate, .*: about 6\.0 s in all/);
    // Structured pruning: its own phases, and what each estimate was made from.
    const structured = { total: 991, at: 45, prune: 931, check: 15.5, phases: { candidates: 508, 'second pass': 423, timing: 15.5, check: 0.04 }, from: 'the first re-fit candidate of round 2 of the search' };
    expect(describeEstimate(structured)).toBe(
      'this prune will take about 16 min 31 s (estimated from the first re-fit candidate of round 2 of the search: candidates 8 min 28 s, second pass 7 min 03 s, timing 16 s, check 0.0 s); Ctrl-C stops it and writes nothing.',
    );
    const again = { total: 324, at: 143, prune: 170, check: 11.3, phases: { candidates: 117, 'second pass': 53.3, timing: 10.9, check: 0.3 }, from: 'round 3 of 6 of the search' };
    expect(describeEstimate({ ...structured, revised: again })).toBe('revised estimate, from round 3 of 6 of the search: about 5 min 24 s in all (candidates 1 min 57 s, second pass 53 s, timing 11 s, check 0.3 s to come).');
    const out = path.join(tempDir(), 'p.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--sparsity', '0.3', ...SHAPES[MODELS.paddleCls]!, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { estimate, timings } = result.json<PruneJson & { estimate: Record<string, number>; timings: Record<string, number> }>();
    for (const key of ['total', 'at', 'statistics', 'scan', 'prune', 'check']) expect(estimate[key], key).toBeGreaterThan(0);
    expect(estimate.total).toBeGreaterThan(estimate.at);
    expect(timings.total).toBeGreaterThan(0);
  });

  it('gives byte-identical output for the same seed, and a different output for another seed', async () => {
    const dir = tempDir();
    const args = (out: string, seed: number) => ['prune', MODELS.wakeword, '-o', out, '--method', 'l2', '--sparsity', '0.6', '--seed', String(seed)];
    for (const [file, seed] of [['a.onnx', 7], ['b.onnx', 7], ['c.onnx', 8]] as const) expect((await runCli(args(path.join(dir, file), seed))).code).toBe(0);
    const [a, b, c] = ['a.onnx', 'b.onnx', 'c.onnx'].map((f) => readFileSync(path.join(dir, f)));
    expect(Buffer.compare(a!, b!)).toBe(0);
    expect(Buffer.compare(a!, c!)).not.toBe(0);
  });

  it('--threads 1 and --threads 2 write the same bytes with the defaults (scan, statistics and re-fits on workers); --threads 0 is exit 2', async () => {
    const dir = tempDir();
    const args = (out: string, threads: string) => ['prune', MODELS.paddleCls, '-o', out, '--shape', 'x=1x3x48x192', '--threads', threads];
    const one = await runCli(args(path.join(dir, 'one.onnx'), '1'));
    expect(one.code, one.stderr).toBe(0);
    // Each finished phase says its time and the process's resident high-water mark so far (in-process here:
    // the test runner's, at least what the run itself needed).
    const phases = [...one.stderr.matchAll(/specprune: (statistics|sensitivity scan|pruning|check): \d+ step\(s\) in [\d.]+ s; peak memory so far ([\d.]+) (MB|GB)\n/g)];
    expect(phases.map((m) => m[1])).toEqual(['statistics', 'sensitivity scan', 'pruning', 'check']);
    const peaks = phases.map((m) => Number(m[2]) * (m[3] === 'GB' ? 1000 : 1));
    expect(peaks.every((mb, k) => mb > 50 && (k === 0 || mb >= peaks[k - 1]!))).toBe(true);
    expect((await runCli(args(path.join(dir, 'two.onnx'), '2'))).code).toBe(0);
    expect(Buffer.compare(readFileSync(path.join(dir, 'one.onnx')), readFileSync(path.join(dir, 'two.onnx')))).toBe(0);
    const bad = await runCli(args(path.join(dir, 'bad.onnx'), '0'));
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('specprune: --threads 0 must be a whole number from 1 to 256.');
    expect(existsSync(path.join(dir, 'bad.onnx'))).toBe(false);
  }, 240_000);

  it('honours N:M along the input dimension in every group, for every method', async () => {
    const dir = tempDir();
    for (const method of ['magnitude', 'l2', 'spectral']) {
      const out = path.join(dir, `nm.${method}.onnx`);
      const result = await runCli(['prune', MODELS.wakeword, '-o', out, '--granularity', '2:4', '--method', method, '--json']);
      expect(result.code, result.stderr).toBe(0);
      const model = readModel(out);
      for (const w of findWeights(model).filter((x) => x.numel >= 256)) {
        const values = readWeight(model, w);
        for (const block of matrixView(w).blocks) {
          const m = extractBlock(values, block);
          for (let r = 0; r < block.rows; r++) {
            for (let g = 0; g < block.cols; g += 4) {
              let nz = 0;
              for (let c = g; c < Math.min(g + 4, block.cols); c++) if (m[r * block.cols + c] !== 0) nz++;
              expect(nz, `${method} ${w.name} row ${r} group ${g}`).toBeLessThanOrEqual(2);
            }
          }
        }
      }
      expect(await runs(out)).toBe(true);
    }
  });

  it('meets --target-bytes; at 70% --storage auto is at most 0.7x with onnxruntime-only indices, and never larger with spec-valid int64 ones', async () => {
    const dir = tempDir();
    const original = statSync(MODELS.wakeword).size;
    const target = Math.round(original * 0.6);
    const out = path.join(dir, 'fit.onnx');
    const result = await runCli(['prune', MODELS.wakeword, '-o', out, '--target-bytes', String(target), '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(statSync(out).size).toBeLessThanOrEqual(target);
    expect(await runs(out)).toBe(true);

    const seventy = path.join(dir, 'seventy.onnx');
    const r = await runCli(['prune', MODELS.wakeword, '-o', seventy, '--sparsity', '0.7', '--storage', 'auto', '--min-params', '0', '--ort-only-sparse-indices', '--method', 'magnitude', '--allocation', 'uniform']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(seventy).size / statSync(MODELS.wakeword).size).toBeLessThanOrEqual(0.7);
    for (const model of [MODELS.wakeword, MODELS.paddleCls]) {
      const valid = path.join(dir, `valid.${path.basename(model)}`);
      const v = await runCli(['prune', model, '-o', valid, '--sparsity', '0.7', '--storage', 'auto', '--min-params', '0', '--method', 'magnitude', '--allocation', 'uniform', '--json']);
      expect(v.code, v.stderr).toBe(0);
      // Never larger than the original beyond the provenance metadata (a few hundred bytes).
      expect(statSync(valid).size - statSync(model).size, model).toBeLessThanOrEqual(1024);
    }
    // The classifier's weights live in Constant nodes of an opset-9 model: sparse_value needs opset 11, so dense.
    const cls = await runCli(['prune', MODELS.paddleCls, '-o', path.join(dir, 'cls.onnx'), '--sparsity', '0.9', '--method', 'magnitude', '--allocation', 'uniform', '--json']);
    expect(cls.json<PruneJson>().weights.every((w) => w.storage === 'dense')).toBe(true);
    const forced = await runCli(['prune', MODELS.paddleCls, '-o', path.join(dir, 'cls2.onnx'), '--storage', 'sparse', '--method', 'magnitude']);
    expect(forced.code).toBe(2);
    expect(forced.stderr).toMatch(/--storage sparse cannot be used for .*lives in a Constant node, which takes a sparse value from opset 11 on, and the model imports opset 9/);
  });

  it('leaves excluded and small weights untouched', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'ex.onnx');
    const result = await runCli(['prune', MODELS.wakeword, '-o', out, '--exclude', '^layer1\\.', '--min-params', '100', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson & { skipped: Array<{ name: string; reason: string }> }>();
    expect(doc.skipped.map((s) => s.name).sort()).toEqual(['last_layer.weight', 'layer1.weight']);
    const before = readModel(MODELS.wakeword);
    const after = readModel(out);
    const w = (m: typeof before, n: string) => readWeight(m, findWeights(m).find((x) => x.name === n)!);
    expect(Array.from(w(after, 'layer1.weight'))).toEqual(Array.from(w(before, 'layer1.weight')));
    expect(w(after, 'blocks.0.fcn_layer.weight').filter((v) => v === 0).length).toBe(512);
  });

  it('rejects bad flags with exit 2 naming the flag, and writes nothing', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'x.onnx');
    const cases: Array<[string[], RegExp]> = [
      [['--sparsity', '1.2'], /--sparsity 1\.2 is out of range; use a number in \[0, 1\)/],
      [['--method', 'foo'], /method/],
      [['--granularity', '3:2'], /--granularity 3:2 is not valid/],
      [['--granularity', 'block:0x4'], /--granularity block:0x4 is not valid/],
      [['--exclude', '('], /--exclude "\(" is not a valid regular expression/],
      [['--target-bytes', '10'], /--target-bytes 10 cannot be met/],
      [['--seed', '-1'], /--seed -1 must be a whole number/],
    ];
    for (const [flags, pattern] of cases) {
      const result = await runCli(['prune', MODELS.wakeword, '-o', out, ...flags]);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr, flags.join(' ')).toMatch(pattern);
    }
    expect((await runCli(['prune', MODELS.wakeword])).stderr).toMatch(/-o OUT\.onnx/);
    expect((await runCli(['prune', MODELS.wakeword, '-o', MODELS.wakeword])).stderr).toMatch(/is the input model/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes a self-contained HTML report that renders in headless Chromium', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'r.onnx');
    const report = path.join(dir, 'report.html');
    const result = await runCli(['prune', MODELS.wakeword, '-o', out, '--report', report]);
    expect(result.code, result.stderr).toBe(0);
    const html = readFileSync(report, 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(3);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${report}`);
      expect(await page.title()).toMatch(/specprune report/);
      const svgBoxes = await page.$$eval('svg', (svgs) => svgs.map((s) => s.getBoundingClientRect().width));
      expect(svgBoxes.every((w) => w > 100)).toBe(true);
      const shot = path.join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('specprune spectrum and eval', () => {
  it('spectrum reports top-K singular values and errors per weight', async () => {
    const dir = tempDir();
    const out = path.join(dir, 's.onnx');
    expect((await runCli(['prune', MODELS.wakeword, '-o', out, '--method', 'magnitude', '--allocation', 'uniform'])).code).toBe(0);
    const result = await runCli(['spectrum', MODELS.wakeword, out, '--top', '4', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<{ weights: Array<{ name: string; original: number[]; pruned: number[]; spectralError: number; frobeniusError: number }> }>();
    const layer = doc.weights.find((w) => w.name === 'layer1.weight')!;
    expect(layer.original).toHaveLength(4);
    expect(layer.original[0]!).toBeGreaterThanOrEqual(layer.original[1]!);
    expect(layer.spectralError).toBeGreaterThan(0);
    expect(layer.spectralError).toBeLessThan(1);
    expect(layer.frobeniusError).toBeGreaterThan(0.1);
    // One thread computes in place, two on worker threads: the same document, in model order.
    const one = await runCli(['spectrum', MODELS.wakeword, out, '--top', '4', '--json', '--threads', '1']);
    const two = await runCli(['spectrum', MODELS.wakeword, out, '--top', '4', '--json', '--threads', '2']);
    expect(one.code, one.stderr).toBe(0);
    expect(two.stdout).toBe(one.stdout);
    expect(one.stdout).toBe(result.stdout);
    expect(doc.weights.length).toBeGreaterThan(2);
    const bad = await runCli(['spectrum', MODELS.wakeword, out, '--threads', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--threads 0 must be a whole number/);
    // prune follows the same rule, before any file is written.
    const badPrune = await runCli(['prune', MODELS.wakeword, '-o', path.join(dir, 'x.onnx'), '--threads', '300']);
    expect(badPrune.code).toBe(2);
    expect(badPrune.stderr).toMatch(/--threads 300 must be a whole number from 1 to 256/);
    expect(existsSync(path.join(dir, 'x.onnx'))).toBe(false);
  });

  it('eval: a model against itself has cosine 1; a pruned model a plausible cosine < 1', async () => {
    const same = await runCli(['eval', MODELS.paddleCls, MODELS.paddleCls, ...SHAPES[MODELS.paddleCls]!, '--samples', '4', '--json']);
    expect(same.code, same.stderr).toBe(0);
    const doc = same.json<{ outputs: Array<{ name: string; cosine: number; maxAbsError: number; top1Agreement: number | null }> }>();
    expect(doc.outputs[0]!.cosine).toBeCloseTo(1, 10);
    expect(doc.outputs[0]!.maxAbsError).toBe(0);
    expect(doc.outputs[0]!.top1Agreement).toBe(1);
    const dir = tempDir();
    const out = path.join(dir, 'e.onnx');
    expect((await runCli(['prune', MODELS.paddleCls, '-o', out, '--sparsity', '0.5', ...SHAPES[MODELS.paddleCls]!])).code).toBe(0);
    const pruned = await runCli(['eval', MODELS.paddleCls, out, ...SHAPES[MODELS.paddleCls]!, '--samples', '4', '--json']);
    const cos = pruned.json<{ outputs: Array<{ cosine: number }> }>().outputs[0]!.cosine;
    expect(cos).toBeLessThan(1);
    expect(cos).toBeGreaterThan(0.5);
  });

  it('eval: says when the inputs barely move the reference (the OCR recogniser on random images: a high cosine shows little), not when they do (the classifier)', async () => {
    const rec = path.join(path.dirname(MODELS.paddleCls), 'ch_PP-OCRv4_rec_infer.onnx');
    const blind = await runCli(['eval', rec, rec, '--shape', 'x=1x3x48x320', '--samples', '4']);
    expect(blind.code, blind.stderr).toBe(0);
    expect(blind.stdout).toMatch(/note: these inputs barely move the reference's output softmax_11\.tmp_0 \(\d\.\d% of it differs from one input to another\): a high cosine there shows little; compare on real samples \(--inputs DIR\)\./);
    const json = await runCli(['eval', rec, rec, '--shape', 'x=1x3x48x320', '--samples', '4', '--json']);
    expect(json.json<{ outputs: Array<{ referenceVariation: number }> }>().outputs[0]!.referenceVariation).toBeLessThan(0.02);
    const moved = await runCli(['eval', MODELS.paddleCls, MODELS.paddleCls, ...SHAPES[MODELS.paddleCls]!, '--samples', '4']);
    expect(moved.stdout).not.toMatch(/barely move/);
  });

  it('eval asks for --shape when an input dim is symbolic', async () => {
    const result = await runCli(['eval', MODELS.paddleCls, MODELS.paddleCls]);
    expect(result.code).toBe(2);
    // The batch dim is filled with 1 by itself; the spatial dims get a realistic size in the hint, never 1.
    expect(result.stderr).toMatch(/Input "x" has open dimensions 2, 3 in shape \[p2o.DynamicDimension.0, 3, .*\]; give the size you run it at, e.g. --shape x=1x3x224x224/);
  });
});

export { existsSync };

describe('streaming path for large models', () => {
  it('gives byte-identical output to the in-memory path with --storage dense, and steps aside when auto finds a smaller storage', async () => {
    const dir = tempDir();
    const { execFileSync } = await import('node:child_process');
    const model = path.join(dir, 'mlp.onnx');
    // 6 layers of 200x200 float32: every weight (160 kB) is large enough to be streamed.
    execFileSync('/usr/bin/python3', [path.join(__dirname, '../../../bench/make_large_model.py'), model, '6', '200']);
    const flags = ['--method', 'magnitude', '--allocation', 'uniform', '--no-spectral-error', '--sparsity', '0.4', '--json', '--storage', 'dense'];
    const streamed = await runCli(['prune', model, '-o', path.join(dir, 'a.onnx'), ...flags]);
    const general = await runCli(['prune', model, '-o', path.join(dir, 'b.onnx'), ...flags, '--no-stream']);
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(general.code, general.stderr).toBe(0);
    expect(streamed.stderr).toMatch(/streamed 6 of 6 weights/);
    expect(general.stderr).not.toMatch(/streamed/);
    expect(Buffer.compare(readFileSync(path.join(dir, 'a.onnx')), readFileSync(path.join(dir, 'b.onnx')))).toBe(0);
    const a = streamed.json<PruneJson & { nnz: number }>();
    const b = general.json<PruneJson & { nnz: number }>();
    expect(a.nnz).toBe(b.nnz);
    expect(a.weights.map((w) => w.sparsity)).toEqual(b.weights.map((w) => w.sparsity));
    expect(await runs(path.join(dir, 'a.onnx'))).toBe(true);
    // With auto, at 80% sparse storage is smaller than dense (and bitmask smaller still): the streaming path steps aside.
    const autoFlags = flags.filter((f) => !['0.4', '--sparsity', '--storage', 'dense'].includes(f));
    const sparse = await runCli(['prune', model, '-o', path.join(dir, 'c.onnx'), ...autoFlags, '--sparsity', '0.8', '--storage', 'sparse']);
    expect(sparse.code, sparse.stderr).toBe(0);
    expect(sparse.stderr).not.toMatch(/streamed/);
    expect(sparse.json<PruneJson>().weights.every((w) => w.storage === 'sparse')).toBe(true);
    const auto = await runCli(['prune', model, '-o', path.join(dir, 'd.onnx'), ...autoFlags, '--sparsity', '0.8']);
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).not.toMatch(/streamed/);
    expect(auto.json<PruneJson>().weights.every((w) => w.storage === 'bitmask')).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('prune --calibration', () => {
  it('runs the sensitivity scan on the calibration samples, and refuses a bad folder with exit 2', async () => {
    const { encodeNpy } = await import('../src/eval/npy.js');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const dir = tempDir();
    const samples = path.join(dir, 'calib');
    mkdirSync(samples);
    for (let k = 0; k < 4; k++) {
      writeFileSync(path.join(samples, `img${k}.npy`), encodeNpy('float32', [1, 3, 48, 192], Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => Math.sin(i * 0.01 + k))));
    }
    const out = path.join(dir, 'c.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--calibration', samples, '--sparsity', '0.4', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson & { allocationBasis: string }>();
    expect(doc.allocationBasis).toBe('sensitivity-scan (calibration samples)');
    expect(doc.sparsity).toBeCloseTo(0.4, 3);
    // The scan moves the budget: sparsities differ across weights.
    expect(new Set(doc.weights.map((w) => w.sparsity.toFixed(2))).size).toBeGreaterThan(3);
    expect(await runs(out)).toBe(true);

    const missing = await runCli(['prune', MODELS.paddleCls, '-o', path.join(dir, 'd.onnx'), '--calibration', path.join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--calibration .*nope is not a folder/);
    const ignored = await runCli(['prune', MODELS.paddleCls, '-o', path.join(dir, 'e.onnx'), '--calibration', samples, '--method', 'magnitude', '--allocation', 'global']);
    expect(ignored.code).toBe(2);
    expect(ignored.stderr).toMatch(/--calibration feeds data-aware methods .* with --method magnitude and --allocation global it would be ignored/);
    expect(readdirSync(dir).sort()).toEqual(['c.onnx', 'calib']);
  });
});
