#!/usr/bin/env node
// Benchmark (issue 15, "bytes that match the sparsity"): raw, gzip and brotli size of the ResNet-50-shaped model
// (generated with python3-onnx, 25.5M weights, 102 MB) pruned to 50% in each storage and value precision.
// The pruning is `--method magnitude --allocation uniform` (the same zeros in every row, seconds instead of
// minutes): the value precision is then applied as asked, without the per-weight measurement the default
// pruning makes (see docs/how-it-works.md#lower-precision-values---values-float16int8).
// Goals: <= 0.56x raw with float32 values, <= 0.30x with float16, <= 0.18x with int8 (bitmask storage).
// Usage: node bench/values-bytes.mjs (uses the built CLI; run `pnpm build` first). Prints a markdown table.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const work = path.join(os.tmpdir(), 'specprune-bench');
mkdirSync(work, { recursive: true });
const model = path.join(work, 'resnet50.onnx');
if (!existsSync(model)) {
  console.error('bench bytes: generating the ResNet-50-shaped model with python3-onnx ...');
  execFileSync('/usr/bin/python3', [path.join(root, 'bench/make_resnet50.py'), model], { stdio: 'inherit' });
}

const rows = [
  { label: 'dense, float32 values', flags: ['--storage', 'dense'], goal: undefined },
  { label: 'bitmask, float32 values', flags: ['--storage', 'bitmask'], goal: 0.56 },
  { label: 'bitmask, float16 values', flags: ['--storage', 'bitmask', '--values', 'float16'], goal: 0.3 },
  { label: 'bitmask, int8 values', flags: ['--storage', 'bitmask', '--values', 'int8'], goal: 0.18 },
  { label: 'dense, int8 values (no sparsity gain: for models too old for bitmask storage)', flags: ['--storage', 'dense', '--values', 'int8'], goal: undefined },
];

const original = JSON.parse(execFileSync(process.execPath, [path.join(root, 'packages/cli/dist/bin.js'), 'inspect', model, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
const lines = [];
let before;
for (const row of rows) {
  const out = path.join(work, 'resnet50.bytes.onnx');
  console.error(`bench bytes: ${row.label} ...`);
  const started = Date.now();
  const report = JSON.parse(
    execFileSync(process.execPath, [path.join(root, 'packages/cli/dist/bin.js'), 'prune', model, '-o', out, '--sparsity', '0.5', '--method', 'magnitude', '--allocation', 'uniform', '--no-spectral-error', '--json', ...row.flags], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 256 << 20,
    }),
  );
  before ??= report.input;
  const after = report.output;
  const ratio = (a, b) => (a === null || b === null ? 'n/a' : `${(a / b).toFixed(3)}x`);
  const verdict = row.goal === undefined ? '' : after.bytes / before.bytes <= row.goal ? ` (goal <= ${row.goal}x: met)` : ` (goal <= ${row.goal}x: NOT met)`;
  lines.push(
    `| ${row.label} | ${mb(after.bytes)} ${ratio(after.bytes, before.bytes)}${verdict} | ${mb(after.gzipBytes)} ${ratio(after.gzipBytes, before.gzipBytes)} | ${mb(after.brotliBytes)} ${ratio(after.brotliBytes, before.brotliBytes)} | ${report.fidelity.measured ? report.fidelity.minCosine.toFixed(4) : 'n/a'} | ${((Date.now() - started) / 1000).toFixed(0)} s |`,
  );
}
console.log(`ResNet-50-shaped CNN (${original.weights.length} weights, ${(statSync(model).size / 1e6).toFixed(1)} MB: raw ${mb(before.bytes)}, gzip ${mb(before.gzipBytes)}, brotli ${mb(before.brotliBytes)}), magnitude-pruned to 50% (uniform)\n`);
console.log('| storage and values | raw | gzip | brotli | output cosine (4 random inputs) | prune time |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const line of lines) console.log(line);
