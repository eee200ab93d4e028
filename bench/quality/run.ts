/**
 * `pnpm bench:quality`: task accuracy of pruned models on two real tasks, at sparsity 0/30/50/70%:
 * - PaddleOCR PP-OCRv4 text-line recognition (exact-line accuracy / character accuracy) of lines rendered
 *   by headless Chromium;
 * - PaddleOCR's text-direction classifier (upright vs turned 180°) on rendered lines.
 * Policies: plain magnitude (per-layer and global), specprune's data-free defaults, and the defaults with 64
 * calibration samples, plus the data-aware methods alone. Calibration (seed 7) and evaluation (seed 1001)
 * lines are disjoint. Prints markdown tables; `tsx bench/quality/run.ts rec` or `cls` runs one task,
 * SPECPRUNE_QUALITY_POLICIES=wanda,refit only the rows whose label contains one of these, and
 * SPECPRUNE_QUALITY_LINES=N scores N evaluation lines instead of 200, SPECPRUNE_QUALITY_SPARSITIES=0.5 prunes at
 * those sparsities only (default 0.3,0.5,0.7). Each cell also gives the written file's size against the original.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../packages/cli/src/run.js';
import { encodeNpy } from '../../packages/cli/src/eval/npy.js';
import { CLS_MODEL, renderDirectionSamples, scoreDirection } from './direction-task.js';
import { makeLines, REC_MODEL, renderLines, scoreRecognizer } from './ocr-task.js';

interface Task {
  name: string;
  title: string;
  model: string;
  /** Flags that make the data-free scan's random inputs the model's real shape. */
  shape: string[];
  prepare(calibrationDir: string, evalCount: number): Promise<void>;
  /** Task score in [0, 1] and the cell text. */
  score(model: string): Promise<{ value: number; text: string }>;
}

const evalCount = Number(process.env.SPECPRUNE_QUALITY_LINES ?? 200);
const only = process.argv.slice(2).filter((a) => a !== '--');
/** SPECPRUNE_QUALITY_POLICIES=wanda,refit runs only the rows whose label contains one of these. */
const policies = (process.env.SPECPRUNE_QUALITY_POLICIES ?? '').split(',').filter(Boolean);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const sparsities = (process.env.SPECPRUNE_QUALITY_SPARSITIES ?? '0.3,0.5,0.7').split(',').map(Number);

function recTask(): Task {
  let evaluation: Awaited<ReturnType<typeof renderLines>> = [];
  return {
    name: 'rec',
    title: `PP-OCRv4 text-line recogniser (ch_PP-OCRv4_rec, 2.7M weights), ${evalCount} rendered lines; cells: exact-line accuracy / character accuracy`,
    model: REC_MODEL,
    shape: ['--shape', 'x=1x3x48x320'],
    async prepare(dir) {
      evaluation = await renderLines(makeLines(evalCount, 1001));
      (await renderLines(makeLines(64, 7))).forEach((image, k) =>
        writeFileSync(path.join(dir, `line${String(k).padStart(3, '0')}.npy`), encodeNpy('float32', [1, 3, 48, image.width], image.data)),
      );
    },
    async score(model) {
      const s = await scoreRecognizer(model, evaluation);
      return { value: s.lineAccuracy, text: `${pct(s.lineAccuracy)} / ${pct(s.charAccuracy)}` };
    },
  };
}

function clsTask(): Task {
  let evaluation: Awaited<ReturnType<typeof renderDirectionSamples>> = [];
  return {
    name: 'cls',
    title: `PaddleOCR text-direction classifier (ch_ppocr_mobile_v2.0_cls, 124k weights), ${evalCount} rendered lines, half turned 180°; cells: accuracy`,
    model: CLS_MODEL,
    shape: ['--shape', 'x=1x3x48x192'],
    async prepare(dir) {
      evaluation = await renderDirectionSamples(makeLines(evalCount, 1001));
      (await renderDirectionSamples(makeLines(64, 7))).forEach((sample, k) =>
        writeFileSync(path.join(dir, `line${String(k).padStart(3, '0')}.npy`), encodeNpy('float32', [1, 3, 48, 192], sample.data)),
      );
    },
    async score(model) {
      const value = await scoreDirection(model, evaluation);
      return { value, text: pct(value) };
    },
  };
}

async function cli(argv: string[]): Promise<void> {
  let err = '';
  const code = await run({ argv, io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, cwd: process.cwd(), env: {} } });
  if (code !== 0) throw new Error(`specprune ${argv.join(' ')} failed: ${err}`);
}

const work = mkdtempSync(path.join(tmpdir(), 'specprune-quality-'));
console.log(`## Task accuracy after pruning (\`pnpm bench:quality\`)\n`);
for (const task of [recTask(), clsTask()].filter((t) => only.length === 0 || only.includes(t.name))) {
  const calibration = path.join(work, `${task.name}-calibration`);
  mkdirSync(calibration);
  console.error(`quality: ${task.name}: rendering ${evalCount} evaluation and 64 calibration samples ...`);
  await task.prepare(calibration, evalCount);
  const configs = [
    { label: 'magnitude, per-layer (uniform)', args: ['--method', 'magnitude', '--allocation', 'uniform'] },
    { label: 'magnitude, global threshold', args: ['--method', 'magnitude', '--allocation', 'global'] },
    { label: '**specprune defaults, data-free**', args: task.shape },
    { label: 'defaults data-free, `--synthetic-samples 0` (no random-input statistics)', args: [...task.shape, '--synthetic-samples', '0'] },
    { label: '**specprune defaults + `--calibration` (64 samples)**', args: ['--calibration', calibration] },
    { label: '`--method wanda --allocation uniform` (64 samples)', args: ['--calibration', calibration, '--method', 'wanda', '--allocation', 'uniform'] },
    { label: '`--method refit --allocation uniform` (64 samples)', args: ['--calibration', calibration, '--method', 'refit', '--allocation', 'uniform'] },
    { label: 'defaults data-free, `--values float16`', args: [...task.shape, '--values', 'float16'] },
    { label: 'defaults data-free, `--values int8`', args: [...task.shape, '--values', 'int8'] },
    { label: 'defaults + `--calibration` (64 samples), `--values float16`', args: ['--calibration', calibration, '--values', 'float16'] },
    { label: '**defaults + `--calibration` (64 samples), `--values int8`**', args: ['--calibration', calibration, '--values', 'int8'] },
  ].filter((c) => policies.length === 0 || policies.some((p) => c.label.includes(p)));
  const dense = await task.score(task.model);
  const rows = [`| policy | 0% | ${sparsities.map((x) => `${x * 100}%`).join(' | ')} |`, `| --- | --- | ${sparsities.map(() => '---').join(' | ')} |`];
  for (const config of configs) {
    const cells = [dense.text];
    for (const sparsity of sparsities) {
      const out = path.join(work, 'pruned.onnx');
      console.error(`quality: ${task.name}: ${config.label} at ${sparsity * 100}% ...`);
      const started = Date.now();
      await cli(['prune', task.model, '-o', out, '--sparsity', String(sparsity), '--no-sizes', '--no-spectral-error', ...config.args]);
      const seconds = (Date.now() - started) / 1000;
      const score = await task.score(out);
      const size = statSync(out).size / statSync(task.model).size;
      cells.push(`${score.text} (${((score.value / dense.value) * 100).toFixed(0)}% of dense; ${size.toFixed(2)}x file; ${seconds.toFixed(0)} s)`);
    }
    rows.push(`| ${config.label} | ${cells.join(' | ')} |`);
    console.error(rows[rows.length - 1]);
  }
  console.log(`${task.title}\n\n${rows.join('\n')}\n`);
}
rmSync(work, { recursive: true, force: true });
