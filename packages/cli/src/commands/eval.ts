import path from 'node:path';
import { statRegularFile } from '@specprune/onnx-io/node';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { printJson, type Io } from '../io.js';
import { evaluate } from '../eval/evaluate.js';
import { parseShapes, parseValues } from '../eval/inputs.js';
import { renderEvalText } from '../eval/render.js';

interface EvalArgs {
  original: string;
  pruned: string;
  inputs?: string;
  samples?: number;
  shape?: string[];
  value?: string[];
  seed?: number;
  json?: boolean;
}

export const evalCommand = defineCommand<EvalArgs>({
  command: 'eval <original> <pruned>',
  describe: 'Run both models in onnxruntime-node on the same inputs and compare their outputs',
  builder: (yargs) =>
    yargs
      .positional('original', { type: 'string', describe: 'reference model', demandOption: true })
      .positional('pruned', { type: 'string', describe: 'model to compare against it', demandOption: true })
      .option('inputs', { type: 'string', describe: 'folder of .npy samples (one per sample, or INPUTNAME.K.npy); random inputs when absent' })
      .option('samples', { type: 'number', default: 16, describe: 'number of random input samples' })
      .option('shape', { type: 'string', array: true, describe: 'fix symbolic input dims: NAME=1x3x224x224 (repeatable)' })
      .option('value', { type: 'string', array: true, describe: 'fill an input with a constant: NAME=NUMBER, e.g. sr=16000 (repeatable)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random inputs' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 eval model.onnx model.pruned.onnx --shape x=1x3x224x224', 'cosine, max abs error and top-1 agreement per output, 16 random inputs')
      .example('$0 eval vad.onnx vad.pruned.onnx --shape input=1x512 --value sr=16000', 'an audio model: a 512-sample frame, the sample rate a constant')
      .example('$0 eval model.onnx model.pruned.onnx --inputs samples/', 'on your own .npy samples (they size the inputs)'),
  run: async (args, io) => runEval(args, io),
});

async function runEval(args: EvalArgs, io: Io): Promise<number> {
  const samples = args.samples ?? 16;
  if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples ${args.samples} must be a whole number >= 1.`);
  const files = [args.original, args.pruned].map((f) => {
    const file = path.resolve(io.cwd, f);
    statRegularFile(file, { label: f, advice: 'check the path of the model' }); // a FIFO would hang the runtime
    return { file, label: f };
  });
  const result = await evaluate(files[0]!, files[1]!, {
    ...(args.inputs ? { inputs: path.resolve(io.cwd, args.inputs) } : {}),
    samples,
    shapes: parseShapes(args.shape),
    values: parseValues(args.value),
    seed: args.seed ?? 0,
  });
  if (args.json) {
    printJson(io, result);
    return 0;
  }
  io.stdout.write(renderEvalText(result, args.inputs));
  return 0;
}
