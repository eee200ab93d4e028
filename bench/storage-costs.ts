/**
 * Benchmark (issue 15, "honest costs"): what each storage of the same pruned weights costs where the model runs.
 * Each model (the PP-OCRv4 recogniser, the openWakeWord classifier) is pruned once per storage (magnitude,
 * uniform, 50%: the same zeros every time) and each file is run by `specprune bench` in onnxruntime-node and
 * in onnxruntime-web (headless Chromium): session creation, p50 latency, peak memory. A storage the model
 * cannot take is a row with prune's reason. With `--values` available, float16 and int8 values are rows too.
 * Usage: tsx bench/storage-costs.ts [RUNS] [REPETITIONS]   (defaults 30 3). Prints a markdown table; uses the
 * built CLI (run `pnpm build` first).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REC_MODEL } from './quality/ocr-task.js';

const [runs = '30', repetitions = '3'] = process.argv.slice(2);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'packages/cli/dist/bin.js');
const dir = mkdtempSync(path.join(tmpdir(), 'specprune-storage-costs-'));

function cli(args: string[]): string {
  return execFileSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

const help = cli(['prune', '--help']);
const variants: Array<{ label: string; flags: string[] }> = [
  { label: 'dense', flags: ['--storage', 'dense'] },
  { label: 'sparse (COO, int64 indices)', flags: ['--storage', 'sparse'] },
  { label: 'bitmask, float32 values', flags: ['--storage', 'bitmask'] },
  ...(help.includes('--values')
    ? [
        { label: 'bitmask, float16 values', flags: ['--storage', 'bitmask', '--values', 'float16'] },
        { label: 'bitmask, int8 values', flags: ['--storage', 'bitmask', '--values', 'int8'] },
        { label: 'dense, float16 values (Cast decode)', flags: ['--storage', 'dense', '--values', 'float16'] },
        { label: 'dense, int8 values (Cast/Mul decode)', flags: ['--storage', 'dense', '--values', 'int8'] },
      ]
    : []),
];

interface Bench {
  sessionCreateMs: number;
  latencyMs: { p50: number };
  peakMemoryBytes: number | null;
}

const MODELS = [
  { label: 'PP-OCRv4 recogniser', file: REC_MODEL, shape: ['--shape', 'x=1x3x48x320'] },
  { label: 'openWakeWord classifier', file: path.join(root, 'node_modules/openwakeword-js/models/hello_deepa.onnx'), shape: [] as string[] },
];

try {
  for (const model of MODELS) {
    const original = statSync(model.file).size;
    const rows: string[] = [];
    for (const variant of variants) {
      const file = path.join(dir, `${path.basename(model.file, '.onnx')}${variant.flags.join('-').replace(/-+/g, '-')}.onnx`);
      process.stderr.write(`storage-costs: ${model.label}, ${variant.label} ...\n`);
      try {
        cli(['prune', model.file, '-o', file, '--method', 'magnitude', '--allocation', 'uniform', '--sparsity', '0.5', ...model.shape, '--no-sizes', ...variant.flags]);
      } catch (error) {
        const reason = String((error as { stderr?: string }).stderr ?? error).trim().split('\n').at(-1)!.replace(/^specprune: /, '').replace(/\|/g, '/');
        rows.push(`| ${variant.label} | refused: ${reason} | | | | | | |`);
        continue;
      }
      const bench = (target: string): Bench => JSON.parse(cli(['bench', file, '--target', target, ...model.shape, '--runs', runs, '--warmup', '5', '--repetitions', repetitions, '--json'])) as Bench;
      const [node, browser] = [bench('node'), bench('browser')];
      const mb = (b: number | null) => (b === null ? 'n/a' : `${(b / 1e6).toFixed(1)} MB`);
      const bytes = statSync(file).size;
      rows.push(
        `| ${variant.label} | ${(bytes / 1e6).toFixed(2)} MB (${(bytes / original).toFixed(3)}x) | ${node.sessionCreateMs.toFixed(0)} ms | ${node.latencyMs.p50.toFixed(3)} ms | ${mb(node.peakMemoryBytes)} | ${browser.sessionCreateMs.toFixed(0)} ms | ${browser.latencyMs.p50.toFixed(3)} ms | ${mb(browser.peakMemoryBytes)} |`,
      );
    }
    console.log(`\n${model.label} (${(original / 1e6).toFixed(2)} MB) magnitude-pruned to 50% (uniform)${model.shape.length ? `, ${model.shape[1]}` : ''}; ${runs} runs x ${repetitions} repetitions (medians), specprune bench --target node / browser\n`);
    console.log('| storage | file | node: session creation | node: p50 | node: peak RSS | browser: session creation | browser: p50 | browser: peak wasm memory |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const row of rows) console.log(row);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
