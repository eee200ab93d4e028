/**
 * `pnpm bench:quality`: task accuracy of pruned models on a real task (PaddleOCR PP-OCRv4 text-line
 * recognition of lines rendered by headless Chromium), at sparsity 0/30/50/70%, for plain magnitude
 * (per-layer and global), specprune's data-free default, and the default with 64 calibration samples.
 * Calibration (seed 7) and evaluation (seed 1001) lines are disjoint. Prints a markdown table.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../packages/cli/src/run.js';
import { encodeNpy } from '../../packages/cli/src/eval/npy.js';
import { makeLines, REC_MODEL, renderLines, scoreRecognizer, type TaskScore } from './ocr-task.js';

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-quality-'));
const evalCount = Number(process.env.SPECPRUNE_QUALITY_LINES ?? 200);
console.error(`quality: rendering ${evalCount} evaluation lines and 64 calibration lines ...`);
const evaluation = await renderLines(makeLines(evalCount, 1001));
const calibration = await renderLines(makeLines(64, 7));
const calibrationDir = path.join(dir, 'calibration');
mkdirSync(calibrationDir);
calibration.forEach((image, k) => writeFileSync(path.join(calibrationDir, `line${String(k).padStart(3, '0')}.npy`), encodeNpy('float32', [1, 3, 48, image.width], image.data)));

async function cli(argv: string[]): Promise<void> {
  let err = '';
  const code = await run({ argv, io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, cwd: process.cwd(), env: {} } });
  if (code !== 0) throw new Error(`specprune ${argv.join(' ')} failed: ${err}`);
}

const configs = [
  { label: 'magnitude, per-layer (uniform)', args: ['--method', 'magnitude', '--allocation', 'uniform'] },
  { label: 'magnitude, global threshold', args: ['--method', 'magnitude', '--allocation', 'global'] },
  { label: 'specprune defaults (spectral method + spectral allocation, data-free)', args: ['--shape', 'x=1x3x48x320'] },
  { label: 'spectral allocation (data-free scan) + magnitude method', args: ['--shape', 'x=1x3x48x320', '--method', 'magnitude'] },
  { label: 'spectral allocation on 64 calibration lines + magnitude method', args: ['--calibration', calibrationDir, '--method', 'magnitude'] },
];
const dense = await scoreRecognizer(REC_MODEL, evaluation);
const fmt = (s: TaskScore) => `${(s.lineAccuracy * 100).toFixed(1)}% / ${(s.charAccuracy * 100).toFixed(1)}%`;
const rows = [`| policy | 0% | 30% | 50% | 70% |`, `| --- | --- | --- | --- | --- |`];
for (const config of configs) {
  const cells = [fmt(dense)];
  for (const sparsity of [0.3, 0.5, 0.7]) {
    const out = path.join(dir, 'pruned.onnx');
    console.error(`quality: ${config.label} at ${sparsity * 100}% ...`);
    await cli(['prune', REC_MODEL, '-o', out, '--sparsity', String(sparsity), '--no-sizes', ...config.args]);
    const score = await scoreRecognizer(out, evaluation);
    cells.push(`${fmt(score)} (${((score.lineAccuracy / dense.lineAccuracy) * 100).toFixed(0)}% of dense)`);
  }
  rows.push(`| ${config.label} | ${cells.join(' | ')} |`);
  console.error(rows[rows.length - 1]);
}
console.log(`PP-OCRv4 text-line recogniser, ${evalCount} rendered lines; cells: exact-line accuracy / character accuracy\n`);
console.log(rows.join('\n'));
