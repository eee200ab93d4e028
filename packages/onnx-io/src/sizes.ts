import { Worker } from 'node:worker_threads';

export interface ModelSizes {
  bytes: number;
  /** gzip, level 6 (what web servers and app bundles typically use). */
  gzipBytes: number;
  /** brotli, quality 5 (11 is ~50x slower on large models and gains ~1% on weights). */
  brotliBytes: number;
}

/**
 * One compressor over one file, streamed with backpressure (memory stays flat for large models), in a worker
 * thread of its own: node's zlib streams need their thread's event loop between chunks, and the caller's
 * thread is often busy for seconds (parsing, onnxruntime creating a session), which stalled them there.
 */
const COMPRESSOR = `
const { parentPort, workerData } = require('node:worker_threads');
const { createReadStream } = require('node:fs');
const zlib = require('node:zlib');
const compressor = workerData.kind === 'gzip'
  ? zlib.createGzip({ level: 6 })
  : zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
let bytes = 0;
let compressed = 0;
const input = createReadStream(workerData.file, { highWaterMark: 1 << 20 });
input.on('data', (chunk) => (bytes += chunk.length));
compressor.on('data', (chunk) => (compressed += chunk.length));
// Counted once the compressor has emitted its last byte ('end'), not when it has taken the last input.
compressor.on('end', () => parentPort.postMessage({ bytes, compressed }));
for (const stream of [input, compressor]) stream.on('error', (error) => parentPort.postMessage({ error: error.message }));
input.pipe(compressor);
`;

/**
 * Raw, gzip and brotli sizes of a file. The two compressors run at once, each on a worker thread, so the
 * caller's own work (also synchronous work) goes on meanwhile. `signal` stops them (the promise rejects).
 */
export async function measureSizes(file: string, options: { signal?: AbortSignal } = {}): Promise<ModelSizes> {
  const { signal } = options;
  signal?.throwIfAborted();
  const workers: Worker[] = [];
  const compress = (kind: 'gzip' | 'brotli') =>
    new Promise<{ bytes: number; compressed: number }>((resolve, reject) => {
      const worker = new Worker(COMPRESSOR, { eval: true, workerData: { file, kind } });
      workers.push(worker);
      worker.once('message', (result: { error?: string; bytes: number; compressed: number }) => (result.error !== undefined ? reject(new Error(result.error)) : resolve(result)));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the ${kind} size of ${file} was not measured (its worker stopped with code ${code})`)));
    });
  const stop = () => {
    for (const worker of workers) void worker.terminate();
  };
  const aborted = new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')), { once: true }));
  aborted.catch(() => undefined);
  try {
    const [gzip, brotli] = await Promise.race([Promise.all([compress('gzip'), compress('brotli')]), aborted]);
    return { bytes: gzip.bytes, gzipBytes: gzip.compressed, brotliBytes: brotli.compressed };
  } finally {
    stop();
  }
}
