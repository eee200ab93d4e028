/**
 * Benchmark: `specprune prune --method magnitude` of a large model, in-process, reporting wall time and
 * peak RSS. Usage: tsx bench/prune-large.ts IN.onnx OUT.onnx [--defaults] [extra prune flags...]
 * Without --defaults the flags that take the streaming path are added (dense storage, no spectral error, no
 * sizes); with it, only the method and allocation: what a user who names nothing else gets.
 */
import { readFileSync } from 'node:fs';
import { run } from '../packages/cli/src/run.js';

const [input, output, ...rest] = process.argv.slice(2) as [string, string, ...string[]];
const defaults = rest.includes('--defaults');
const extra = rest.filter((a) => a !== '--defaults');
const streaming = defaults ? [] : ['--storage', 'dense', '--no-spectral-error', '--no-sizes'];
const rssBefore = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
const start = performance.now();
let err = '';
const code = await run({
  argv: ['prune', input, '-o', output, '--method', 'magnitude', '--allocation', 'uniform', ...streaming, '--json', ...extra],
  io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, cwd: process.cwd(), env: {} },
});
const seconds = (performance.now() - start) / 1000;
if (code !== 0) throw new Error(err);
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ seconds, peakRssBytes: Number(hwm?.[1] ?? 0) * 1024, rssBeforeBytes: Number(rssBefore?.[1] ?? 0) * 1024 }));
