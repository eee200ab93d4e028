import { Worker } from 'node:worker_threads';

export interface ModelSizes {
  bytes: number;
  /** gzip, level 6 (what web servers and app bundles typically use). */
  gzipBytes: number;
  /** brotli, quality 5 (11 is ~50x slower on large models and gains ~1% on weights). */
  brotliBytes: number;
}

/**
 * gzip and brotli over one file, streamed with backpressure (memory stays flat for large models), in a worker
 * thread: node's zlib streams need their thread's event loop between chunks, and the caller's thread is often
 * busy for seconds (parsing, onnxruntime creating a session), which stalled them there. The compression itself
 * runs on libuv's thread pool, both compressors at once.
 */
const COMPRESSORS = `
const { parentPort, workerData } = require('node:worker_threads');
const { createReadStream } = require('node:fs');
const zlib = require('node:zlib');
const compressors = [zlib.createGzip({ level: 6 }), zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } })];
const counts = compressors.map((compressor) => new Promise((resolve, reject) => {
  let total = 0;
  compressor.on('data', (chunk) => (total += chunk.length));
  // Counted once the compressor has emitted its last byte ('end'), not when it has taken the last input.
  compressor.on('end', () => resolve(total));
  compressor.on('error', reject);
}));
let bytes = 0;
const input = createReadStream(workerData.file, { highWaterMark: 1 << 20 });
input.on('data', (chunk) => {
  bytes += chunk.length;
  const full = compressors.filter((compressor) => !compressor.write(chunk));
  if (full.length) {
    input.pause();
    Promise.all(full.map((compressor) => new Promise((resolve) => compressor.once('drain', resolve)))).then(() => input.resume());
  }
});
input.on('end', () => compressors.forEach((compressor) => compressor.end()));
input.on('error', (error) => parentPort.postMessage({ error: error.message }));
Promise.all(counts).then(([gzipBytes, brotliBytes]) => parentPort.postMessage({ bytes, gzipBytes, brotliBytes }), (error) => parentPort.postMessage({ error: error.message }));
`;

/**
 * Raw, gzip and brotli sizes of a file, measured on a worker thread so the caller's own work (also
 * synchronous work) goes on meanwhile. `signal` stops it (the promise rejects).
 */
export async function measureSizes(file: string, options: { signal?: AbortSignal } = {}): Promise<ModelSizes> {
  const { signal } = options;
  signal?.throwIfAborted();
  // A small heap, collected often: the worker holds a few chunks of the file at a time, and its garbage (the
  // chunks read and compressed) would otherwise add tens of MB to the process until a collection.
  const worker = new Worker(COMPRESSORS, { eval: true, workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 2 } });
  const measured = new Promise<ModelSizes>((resolve, reject) => {
    worker.once('message', (result: ModelSizes & { error?: string }) => (result.error !== undefined ? reject(new Error(result.error)) : resolve(result)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the compressed sizes of ${file} were not measured (their worker stopped with code ${code})`)));
  });
  const aborted = new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')), { once: true }));
  aborted.catch(() => undefined);
  try {
    return await Promise.race([measured, aborted]);
  } finally {
    void worker.terminate();
  }
}
