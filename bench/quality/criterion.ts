/**
 * Which channels to keep and how many per group (issue 16): structured pruning with 64 calibration lines, pruned
 * twice per `--flops`: without and with one kind of candidate (the candidate whose outputs stay closest wins, as
 * `prune` does), task accuracy of each and the time each prune took.
 * SPECPRUNE_COMPARE=criterion (default): activation-scored channels only, against reconstruction candidates added;
 * SPECPRUNE_COMPARE=sensitivity: the score allocations only, against the allocation by measured sensitivity added.
 * `tsx --conditions=specprune-source bench/quality/criterion.ts [rec|cls]`;
 * SPECPRUNE_STRUCTURE_FLOPS=0.75,0.6,0.5,0.45 (default), SPECPRUNE_QUALITY_LINES=N (default 100).
 */
import { prune } from '../../packages/prune/src/index.js';
import { pruneStructured } from '../../packages/prune/src/structure/run.js';
import { ocrTaskRuns, pct, runtime } from './ocr-tasks.js';

const compare = process.env.SPECPRUNE_COMPARE === 'sensitivity' ? 'sensitivity' : 'criterion';
const [without, added] = compare === 'criterion' ? ['activation only', 'with reconstruction'] : ['score allocations only', 'with sensitivity'];

for await (const { task, bytes, calibration, score, dense, lines, flops } of ocrTaskRuns('0.75,0.6,0.5,0.45')) {
  console.log(`\n${task.name}: dense ${pct(dense)}, ${lines} lines, 64 calibration lines, --threads 1\n`);
  console.log(`| --flops | ${without}: score (cosine, s) | ${added}: score (cosine, s) | kept | groups by reconstruction |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const f of flops) {
    const options = { structure: 'channels' as const, flops: f };
    const context = { runtime, calibration, threads: 1 };
    const timed = async (on: boolean) => {
      const started = performance.now();
      const variants = compare === 'criterion' ? { criteria: on ? ('both' as const) : ('activation' as const), sensitivity: false } : { sensitivity: on };
      const result = await pruneStructured(bytes, options, context, prune, { refit: [false, true], ...variants });
      return { result, seconds: (performance.now() - started) / 1000 };
    };
    const a = await timed(false);
    const b = await timed(true);
    const s = b.result.report.structure!;
    const cos = (r: typeof a.result) => (r.report.fidelity.measured ? r.report.fidelity.minCosine.toFixed(3) : '-');
    const byReconstruction = s.groups.filter((g) => g.criterion === 'reconstruction').length;
    if (process.env.SPECPRUNE_VERBOSE) console.error(JSON.stringify(s.allocations));
    console.log(`| ${f} | ${pct(await score(a.result.model))} (${cos(a.result)}, ${a.seconds.toFixed(1)}) | ${pct(await score(b.result.model))} (${cos(b.result)}, ${b.seconds.toFixed(1)}) | ${s.criterion}, ${s.allocation} | ${byReconstruction} of ${s.groups.length} |`);
  }
}
