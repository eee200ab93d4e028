/**
 * Scratch comparison (issue 16): structured pruning with 64 calibration lines, the kept candidate re-fit on the
 * original model's inputs (first pass only) against re-fit again on its own inputs (the second pass), task
 * accuracy of each. `tsx --conditions=specprune-source bench/quality/own-inputs.ts [rec|cls]`;
 * SPECPRUNE_STRUCTURE_FLOPS=0.75,0.6,0.5 (default), SPECPRUNE_QUALITY_LINES=N (default 100).
 */
import { prune } from '../../packages/prune/src/index.js';
import { pruneStructured } from '../../packages/prune/src/structure/run.js';
import { ocrTaskRuns, pct, runtime } from './ocr-tasks.js';

for await (const { task, bytes, calibration, score, dense, lines, flops } of ocrTaskRuns('0.75,0.6,0.5')) {
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
