#!/usr/bin/env node
// `pnpm bench`: every benchmark, each against the baseline its issue names, measured in the same run.
// Prints a markdown report (machine first) to stdout; progress goes to stderr.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const work = path.join(os.tmpdir(), 'specprune-bench');
mkdirSync(work, { recursive: true });
const only = process.argv.slice(2);
// `speed` takes model names after it (resnet50, minilm, ocr, ocr64, resnet50-channels) and `--baseline GIT-REF`; they select no other section.
const want = (name) => only.length === 0 || only.includes(name);
const python = '/usr/bin/python3';
const tsx = path.join(root, 'node_modules/.bin/tsx');

function json(cmd, args) {
  const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
const s = (x) => `${x.toFixed(2)} s`;

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`## Benchmarks\n\nMachine: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.\n`);

const large = path.join(work, 'large.onnx');
if ((want('io') || want('prune')) && !existsSync(large)) {
  console.error('bench: generating a 200 MB (50M-parameter) model with python3-onnx ...');
  execFileSync(python, [path.join(root, 'bench/make_large_model.py'), large], { stdio: 'inherit' });
}

if (want('io')) {
  console.error('bench: onnx-io read + write ...');
  const r = json(tsx, ['--conditions=specprune-source', 'bench/read-write.ts', large, path.join(work, 'large.rw.onnx')]);
  const identical = Buffer.compare(readFileSync(large), readFileSync(path.join(work, 'large.rw.onnx'))) === 0;
  console.log(`### onnx-io: read + write of a ${mb(r.fileBytes)} model (goal: peak RSS <= 2x file)\n`);
  console.log(`| what | time | peak RSS | RSS / file |\n| --- | --- | --- | --- |`);
  console.log(`| read + find weights + write (unchanged, output ${identical ? 'byte-identical' : 'DIFFERENT'}) | ${s(r.seconds)} | ${mb(r.peakRssBytes)} | ${(r.peakRssBytes / r.fileBytes).toFixed(2)}x |\n`);
}

if (want('prune')) {
  console.error('bench: magnitude pruning, specprune vs onnx + numpy ...');
  const ours = json(tsx, ['--conditions=specprune-source', 'bench/prune-large.ts', large, path.join(work, 'large.pruned.onnx')]);
  const defaults = json(tsx, ['--conditions=specprune-source', 'bench/prune-large.ts', large, path.join(work, 'large.pruned-defaults.onnx'), '--defaults']);
  const theirs = json(python, [path.join(root, 'bench/magnitude_baseline.py'), large, path.join(work, 'large.numpy.onnx'), '0.5']);
  const size = statSync(large).size;
  const row = (what, r) => `| ${what} | ${s(r.seconds)} | ${mb(r.peakRssBytes)} (${mb(r.peakRssBytes - r.rssBeforeBytes)} above the process's ${mb(r.rssBeforeBytes)} at start) | ${(r.peakRssBytes / size).toFixed(2)}x | ${(theirs.seconds / r.seconds).toFixed(2)}x |`;
  console.log(`### Magnitude pruning to 50% of a ${mb(size)} model (goal: >= 4x faster than onnx + numpy with default flags, peak RSS <= 1.5x model)\n`);
  console.log(`| tool | time | peak RSS | RSS / model | speed vs numpy |\n| --- | --- | --- | --- | --- |`);
  console.log(row('specprune prune --method magnitude --allocation uniform (default flags: spectral errors, gzip/brotli sizes, storage auto; written model loaded and checked)', defaults));
  console.log(row('specprune prune --method magnitude --allocation uniform --storage dense --no-spectral-error --no-sizes (the streaming path; written model loaded and checked)', ours));
  console.log(`| python3-onnx + numpy (bench/magnitude_baseline.py; checks nothing) | ${s(theirs.seconds)} | ${mb(theirs.peakRssBytes)} | ${(theirs.peakRssBytes / size).toFixed(2)}x | 1x |\n`);
}

if (want('core')) {
  console.error('bench: core numerics ...');
  console.log('### Core numerics (singular values, magnitude selection)\n\n```');
  const r = spawnSync('node', ['scripts/bench-core.mjs'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(r.stdout.trim());
  console.log('```\n');
}

if (want('startup')) {
  // Issue 13: the installed bin answers --version and --help within 1.8x a bare `node -e 0`.
  console.error('bench: CLI start-up (builds the packages first) ...');
  execFileSync('pnpm', ['-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const bin = path.join(root, 'packages/cli/bin/specprune.js');
  const median = (argv, runs = 21) => {
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, argv, { cwd: work, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return times.sort((a, b) => a - b)[runs >> 1];
  };
  const bare = median(['-e', '0']);
  const rows = [
    ['node -e 0 (baseline)', bare],
    ['specprune --version', median([bin, '--version'])],
    ['specprune --help', median([bin, '--help'])],
    ['specprune prune --help', median([bin, 'prune', '--help'])],
    ['specprune --version --verbose (the whole CLI loaded, as before)', median([bin, '--version', '--verbose'])],
  ];
  console.log('### CLI start-up (goal: --version and --help within 1.8x a bare `node -e 0`)\n');
  console.log('| command | median of 21 runs | ratio to node -e 0 |\n| --- | --- | --- |');
  for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(0)} ms | ${(ms / bare).toFixed(2)}x |`);
  console.log('');
}

if (want('overhead') && existsSync(path.join(root, 'packages/device-runner/bench/overhead.ts'))) {
  console.error('bench: bench harness overhead ...');
  console.log('### `specprune bench --target node` overhead vs a bare onnxruntime-node loop (goal: within 2%)\n\n```');
  const r = spawnSync(tsx, ['--conditions=specprune-source', 'packages/device-runner/bench/overhead.ts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(r.stdout.trim());
  console.log('```\n');
}

if (want('allocation')) {
  console.error('bench: allocation fidelity on real models (about 2 minutes) ...');
  console.log('### Allocation policies: output cosine on held-out random inputs (magnitude method)\n');
  const r = spawnSync(tsx, ['--conditions=specprune-source', 'bench/allocation.ts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(r.stdout.trim(), '\n');
}

if (want('speed')) {
  // Issue 14: default data-free prune of a ResNet-50-shaped CNN, a MiniLM-shaped encoder and the PP-OCRv4
  // recogniser; `node bench/run.mjs speed [resnet50|minilm|ocr ...]` runs only the models named.
  // `--baseline REF` runs that commit on each model too, right before the current code.
  const models = only.filter((name) => ['resnet50', 'minilm', 'ocr', 'ocr64', 'resnet50-channels'].includes(name));
  const at = only.indexOf('--baseline');
  const baseline = at >= 0 && only[at + 1] ? ['--baseline', only[at + 1]] : [];
  console.error('bench: default prune speed (minutes per model today) ...');
  const r = spawnSync('node', ['bench/prune-speed.mjs', ...baseline, ...models], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench/prune-speed.mjs exited ${r.status}`);
  console.log(r.stdout.trim(), '\n');
}

if (want('bytes')) {
  // Issue 15: raw/gzip/brotli of the ResNet-50-shaped model at 50% per storage and value precision.
  console.error('bench: bytes per storage and value precision (builds the packages first) ...');
  execFileSync('pnpm', ['-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  console.log('### Bytes that match the sparsity: storage and value precision (goals: bitmask <= 0.56x raw with float32 values, <= 0.30x with float16, <= 0.18x with int8)\n');
  const r = spawnSync('node', ['bench/values-bytes.mjs'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench/values-bytes.mjs exited ${r.status}`);
  console.log(r.stdout.trim(), '\n');
}
