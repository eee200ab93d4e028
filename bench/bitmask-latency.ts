/**
 * Benchmark: does onnxruntime-node fold the bitmask decode at session creation? The same 50%-pruned MLP is
 * written dense and with bitmask storage (onnx-io's updateWeight); each is loaded and run, and the p50 of
 * single-sample runs is compared. The bitmask model is also run with graph optimisations disabled, where the
 * decode runs on every inference, to show what folding saves.
 * Peak RSS is measured in a fresh process per model (create the session, run once).
 * Usage: tsx bench/bitmask-latency.ts [LAYERS] [WIDTH] [RUNS]   (defaults 8 1024 300). Prints a markdown table.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { findWeights, readModel, readWeight, serializeModel, updateWeight, type Storage } from '../packages/onnx-io/src/node.js';

if (process.argv[2] === '--peak-rss') {
  // Child mode: load one model, run it once, print the peak RSS in bytes.
  const session = await ort.InferenceSession.create(process.argv[3]!, { intraOpNumThreads: 1, ...(process.argv[5] === 'unfolded' ? { graphOptimizationLevel: 'disabled' as const } : {}) });
  const n = Number(process.argv[4]);
  await session.run({ x: new ort.Tensor('float32', new Float32Array(n), [1, n]) });
  console.log(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024);
  process.exit(0);
}

const [layers = '8', width = '1024', runs = '300'] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'specprune-bitmask-bench-'));
const source = path.join(dir, 'mlp.onnx');
execFileSync('/usr/bin/python3', [path.join(here, 'make_large_model.py'), source, layers, width]);

/** The source with every weight magnitude-pruned to 50%, stored as `storage`. */
function write(storage: Storage): string {
  const model = readModel(source);
  for (const weight of findWeights(model)) {
    const values = readWeight(model, weight);
    const threshold = Float32Array.from(values, Math.abs).sort()[values.length >> 1]!;
    for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) < threshold) values[i] = 0;
    updateWeight(model, weight, values, storage);
  }
  const file = path.join(dir, `${storage}.onnx`);
  writeFileSync(file, serializeModel(model));
  return file;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;

async function measure(file: string, options: ort.InferenceSession.SessionOptions = {}) {
  const creates: number[] = [];
  let session!: ort.InferenceSession;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, ...options });
    creates.push(performance.now() - start);
    if (i < 4) await session.release();
  }
  const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: Number(width) }, (_, i) => Math.sin(i)), [1, Number(width)]) };
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const times: number[] = [];
  let output: Float32Array | undefined;
  for (let i = 0; i < Number(runs); i++) {
    const start = performance.now();
    const result = await session.run(feeds);
    times.push(performance.now() - start);
    output = result.y!.data as Float32Array;
  }
  await session.release();
  const peak = Number(execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--peak-rss', file, width, options.graphOptimizationLevel === 'disabled' ? 'unfolded' : 'folded']).toString().trim());
  return { create: median(creates), p50: median(times), bytes: statSync(file).size, peak, output: output! };
}

const dense = await measure(write('dense'));
const bitmaskFile = write('bitmask');
const bitmask = await measure(bitmaskFile);
const unfolded = await measure(bitmaskFile, { graphOptimizationLevel: 'disabled' });
const maxAbs = Math.max(...Array.from(dense.output, (v, i) => Math.abs(v - bitmask.output[i]!)));
const row = (what: string, m: typeof dense) =>
  `| ${what} | ${(m.bytes / 1e6).toFixed(2)} MB (${(m.bytes / dense.bytes).toFixed(3)}x) | ${m.create.toFixed(1)} ms | ${m.p50.toFixed(3)} ms | ${(m.peak / 1e6).toFixed(0)} MB |`;
console.log(`MLP ${layers} x MatMul [${width}, ${width}] float32, 50% magnitude-pruned; onnxruntime-node ${ort.env.versions.common}, 1 intra-op thread, ${runs} runs, batch 1; max |dense - bitmask| = ${maxAbs}`);
console.log('| model | file | session creation (median of 5) | p50 per run | peak RSS (fresh process: load, 1 run) |');
console.log('| --- | --- | --- | --- | --- |');
console.log(row('dense', dense));
console.log(row('bitmask (default session options: decode folded)', bitmask));
console.log(row('bitmask, graphOptimizationLevel disabled (decode every run)', unfolded));
rmSync(dir, { recursive: true, force: true });
