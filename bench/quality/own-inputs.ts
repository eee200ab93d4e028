/**
 * Scratch comparison (issue 16): structured pruning with 64 calibration lines, the kept candidate re-fit on the
 * original model's inputs (first pass only) against re-fit again on its own inputs (the second pass), task
 * accuracy of each. `tsx --conditions=specprune-source bench/quality/own-inputs.ts [rec|cls]`;
 * SPECPRUNE_STRUCTURE_FLOPS=0.75,0.6,0.5 (default), SPECPRUNE_QUALITY_LINES=N (default 100).
 */
import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { prune, type OrtRuntime, type Feeds } from '../../packages/prune/src/index.js';
import { pruneStructured } from '../../packages/prune/src/structure/run.js';
import { CLS_MODEL, renderDirectionSamples, scoreDirection } from './direction-task.js';
import { makeLines, REC_MODEL, renderLines, scoreRecognizer } from './ocr-task.js';

const runtime = ort as unknown as OrtRuntime;
const lines = Number(process.env.SPECPRUNE_QUALITY_LINES ?? 100);
const flops = (process.env.SPECPRUNE_STRUCTURE_FLOPS ?? '0.75,0.6,0.5').split(',').map(Number);
const only = process.argv.slice(2).filter((a) => a !== '--');
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims) as unknown as Feeds[string];

const tasks = [
  {
    name: 'rec',
    model: REC_MODEL,
    calibration: async () => (await renderLines(makeLines(64, 7))).map((image) => ({ x: tensor(image.data, [1, 3, 48, image.width]) })),
    score: async () => {
      const images = await renderLines(makeLines(lines, 1001));
      return async (model: Uint8Array) => (await scoreRecognizer(model, images)).lineAccuracy;
    },
  },
  {
    name: 'cls',
    model: CLS_MODEL,
    calibration: async () => (await renderDirectionSamples(makeLines(64, 7))).map((sample) => ({ x: tensor(sample.data, [1, 3, 48, 192]) })),
    score: async () => {
      const samples = await renderDirectionSamples(makeLines(lines, 1001));
      return async (model: Uint8Array) => scoreDirection(model, samples);
    },
  },
].filter((t) => only.length === 0 || only.includes(t.name));

for (const task of tasks) {
  const bytes = new Uint8Array(readFileSync(task.model));
  const calibration = await task.calibration();
  const score = await task.score();
  const dense = await score(bytes);
  console.log(`\n${task.name}: dense ${pct(dense)}, ${lines} lines, 64 calibration lines\n`);
  console.log('| --flops | first pass: score (cosine) | second pass: score (cosine) | kept | consumers fit on own inputs |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const f of flops) {
    const options = { structure: 'channels' as const, flops: f };
    const context = { runtime, calibration, threads: 1 };
    const first = await pruneStructured(bytes, options, context, prune, { refit: [false, true], ownInputs: false });
    const second = await pruneStructured(bytes, options, context, prune, { refit: [false, true] });
    const s = second.report.structure!;
    const own = s.allocations.find((a) => a.onPrunedInputs);
    const cos = (r: typeof first) => (r.report.fidelity.measured ? r.report.fidelity.minCosine.toFixed(3) : '-');
    const ownModel = s.refitInputs === 'pruned' ? second.model : undefined;
    const ownScore = ownModel ? await score(ownModel) : undefined;
    const firstScore = await score(first.model);
    const onOwn = s.groups.reduce((n, g) => n + (g.refit?.consumers ?? 0), 0);
    console.log(`| ${f} | ${pct(firstScore)} (${cos(first)}) | ${ownScore === undefined ? `not kept (${own?.minCosine?.toFixed(3) ?? 'not built'})` : `${pct(ownScore)} (${cos(second)})`} | ${s.refitInputs ?? '-'} | ${onOwn} |`);
  }
}
