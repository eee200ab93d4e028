/**
 * The two OCR tasks the structured-pruning comparisons run (issue 16): each model with 64 rendered calibration
 * samples (seed 7) and a scorer over `lines` held-out samples (seed 1001). `only` picks tasks by name (`rec`, `cls`).
 */
import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import type { Feeds, OrtRuntime } from '../../packages/prune/src/index.js';
import { CLS_MODEL, renderDirectionSamples, scoreDirection } from './direction-task.js';
import { makeLines, REC_MODEL, renderLines, scoreRecognizer } from './ocr-task.js';

export interface OcrTask {
  name: 'rec' | 'cls';
  model: string;
  calibration: () => Promise<Feeds[]>;
  /** A scorer of model bytes: the recogniser's line accuracy, the classifier's accuracy. */
  score: () => Promise<(model: Uint8Array) => Promise<number>>;
}

const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims) as unknown as Feeds[string];

export function ocrTasks(lines: number, only: readonly string[]): OcrTask[] {
  const tasks: OcrTask[] = [
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
  ];
  return tasks.filter((t) => only.length === 0 || only.includes(t.name));
}

/**
 * Each task picked on the command line (`rec`, `cls`; none: both) with its model bytes, calibration samples, a
 * scorer and the dense model's score; SPECPRUNE_QUALITY_LINES=N held-out samples (default 100) and
 * SPECPRUNE_STRUCTURE_FLOPS=a,b,... (else `defaultFlops`).
 */
export async function* ocrTaskRuns(defaultFlops: string) {
  const lines = Number(process.env.SPECPRUNE_QUALITY_LINES ?? 100);
  const flops = (process.env.SPECPRUNE_STRUCTURE_FLOPS ?? defaultFlops).split(',').map(Number);
  const only = process.argv.slice(2).filter((a) => a !== '--');
  for (const task of ocrTasks(lines, only)) {
    const bytes = new Uint8Array(readFileSync(task.model));
    const calibration = await task.calibration();
    const score = await task.score();
    yield { task, bytes, calibration, score, dense: await score(bytes), lines, flops };
  }
}

export const runtime = ort as unknown as OrtRuntime;
export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
