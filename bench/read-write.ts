/**
 * Benchmark: read + write (no change) of a large model with @specprune/onnx-io.
 * Prints JSON { seconds, peakRssBytes, fileBytes }. Usage: tsx bench/read-write.ts IN.onnx OUT.onnx
 */
import { readFileSync, statSync } from 'node:fs';
import { findWeights, readModel, writeModel } from '../packages/onnx-io/src/node.js';

const [input, output] = process.argv.slice(2) as [string, string];
const start = performance.now();
const model = readModel(input);
const weights = findWeights(model);
writeModel(model, output);
const seconds = (performance.now() - start) / 1000;
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ seconds, peakRssBytes: Number(hwm?.[1] ?? 0) * 1024, fileBytes: statSync(input).size, weights: weights.length }));
