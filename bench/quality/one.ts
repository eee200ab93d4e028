/** Scores one prune configuration on the OCR task: tsx bench/quality/one.ts -- <prune flags...> */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../packages/cli/src/run.js';
import { makeLines, REC_MODEL, renderLines, scoreRecognizer } from './ocr-task.js';

const flags = process.argv.slice(2).filter((a) => a !== '--');
const out = path.join(mkdtempSync(path.join(tmpdir(), 'specprune-one-')), 'p.onnx');
let err = '';
const code = await run({ argv: ['prune', REC_MODEL, '-o', out, '--no-sizes', ...flags], io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, cwd: process.cwd(), env: {} } });
if (code !== 0) throw new Error(err);
const images = await renderLines(makeLines(Number(process.env.SPECPRUNE_QUALITY_LINES ?? 100), 1001));
console.log(flags.join(' '), JSON.stringify(await scoreRecognizer(out, images)));
