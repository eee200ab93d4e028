/**
 * Benchmark: `specprune prune --method magnitude` of a large model, in-process, reporting wall time and
 * peak RSS. Usage: tsx bench/prune-large.ts IN.onnx OUT.onnx [extra prune flags...]
 */
import { readFileSync } from 'node:fs';
import { run } from '../packages/cli/src/run.js';

const [input, output, ...extra] = process.argv.slice(2) as [string, string, ...string[]];
const rssBefore = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
const start = performance.now();
let err = '';
const code = await run({
  argv: ['prune', input, '-o', output, '--method', 'magnitude', '--allocation', 'uniform', '--storage', 'dense', '--no-spectral-error', '--no-sizes', '--json', ...extra],
  io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, cwd: process.cwd(), env: {} },
});
const seconds = (performance.now() - start) / 1000;
if (code !== 0) throw new Error(err);
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ seconds, peakRssBytes: Number(hwm?.[1] ?? 0) * 1024, rssBeforeBytes: Number(rssBefore?.[1] ?? 0) * 1024 }));
