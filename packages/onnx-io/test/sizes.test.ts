import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createRandom } from '@specprune/core/random';
import { measureSizes } from '../src/node.js';
import { tempDir } from './helpers.js';

describe('measureSizes', () => {
  // 5 MB of half-compressible bytes: several read chunks and compressor drains.
  const random = createRandom(5);
  const bytes = new Uint8Array(5_000_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 2 ? random.nextUint32() & 0xff : i & 0xff;
  const file = path.join(tempDir('specprune-sizes-'), 'blob.bin');
  writeFileSync(file, bytes);

  it('gives the raw size and exactly the bytes zlib writes at gzip level 6 and brotli quality 5', async () => {
    const sizes = await measureSizes(file);
    expect(sizes).toEqual({
      bytes: bytes.length,
      gzipBytes: gzipSync(bytes, { level: 6 }).length,
      brotliBytes: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }).length,
    });
  });

  it('stops when its signal is aborted (rejects, no result)', async () => {
    const controller = new AbortController();
    const measuring = measureSizes(file, { signal: controller.signal });
    controller.abort();
    await expect(measuring).rejects.toThrow(/abort/i);
  });

  it('a missing file rejects naming it', async () => {
    await expect(measureSizes(file + '.missing')).rejects.toThrow(/blob\.bin\.missing/);
  });
});
