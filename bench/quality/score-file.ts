/**
 * Task accuracy of one model file on the rendered-line tasks of `pnpm bench:quality` (100 evaluation lines, seed
 * 1001): `tsx --conditions=specprune-source bench/quality/score-file.ts rec|cls MODEL.onnx [LINES]`.
 */
import { readFileSync } from 'node:fs';
import { renderDirectionSamples, scoreDirection } from './direction-task.js';
import { makeLines, renderLines, scoreRecognizer } from './ocr-task.js';

const [task, file, count = '100'] = process.argv.slice(2).filter((a) => a !== '--');
if ((task !== 'rec' && task !== 'cls') || !file) throw new Error('usage: score-file.ts rec|cls MODEL.onnx [LINES]');
const model = new Uint8Array(readFileSync(file));
const lines = makeLines(Number(count), 1001);
if (task === 'rec') {
  const s = await scoreRecognizer(model, await renderLines(lines));
  console.log(JSON.stringify({ task, file, lines: lines.length, lineAccuracy: s.lineAccuracy, charAccuracy: s.charAccuracy }));
} else console.log(JSON.stringify({ task, file, lines: lines.length, accuracy: await scoreDirection(model, await renderDirectionSamples(lines)) }));
