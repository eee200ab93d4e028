/** Writes N rendered calibration lines as .npy files: tsx bench/quality/make-calibration.ts DIR [N] [SEED] */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeNpy } from '../../packages/cli/src/eval/npy.js';
import { makeLines, renderLines } from './ocr-task.js';

const [dir, count = '64', seed = '7'] = process.argv.slice(2).filter((a) => a !== '--');
if (!dir) throw new Error('usage: make-calibration.ts DIR [N] [SEED]');
mkdirSync(dir, { recursive: true });
const images = await renderLines(makeLines(Number(count), Number(seed)));
images.forEach((image, k) => writeFileSync(path.join(dir, `line${String(k).padStart(3, '0')}.npy`), encodeNpy('float32', [1, 3, 48, image.width], image.data)));
console.log(`wrote ${images.length} lines to ${dir}`);
