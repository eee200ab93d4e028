/**
 * Writes N rendered calibration samples as .npy files: tsx bench/quality/make-calibration.ts DIR [N] [SEED] [rec|cls]
 * (rec: text lines 1x3x48xW for the recogniser, the default; cls: lines for the text-direction classifier, half
 * turned 180 degrees, 1x3x48x192).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeNpy } from '../../packages/cli/src/eval/npy.js';
import { renderDirectionSamples } from './direction-task.js';
import { makeLines, renderLines } from './ocr-task.js';

const [dir, count = '64', seed = '7', task = 'rec'] = process.argv.slice(2).filter((a) => a !== '--');
if (!dir || (task !== 'rec' && task !== 'cls')) throw new Error('usage: make-calibration.ts DIR [N] [SEED] [rec|cls]');
mkdirSync(dir, { recursive: true });
const lines = makeLines(Number(count), Number(seed));
const samples =
  task === 'rec'
    ? (await renderLines(lines)).map((image) => ({ dims: [1, 3, 48, image.width], data: image.data }))
    : (await renderDirectionSamples(lines)).map((sample) => ({ dims: [1, 3, 48, 192], data: sample.data }));
samples.forEach((sample, k) => writeFileSync(path.join(dir, `line${String(k).padStart(3, '0')}.npy`), encodeNpy('float32', sample.dims, sample.data)));
console.log(`wrote ${samples.length} ${task} samples to ${dir}`);
