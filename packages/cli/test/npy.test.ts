import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy, readNpy } from '../src/eval/npy.js';
import { MODELS, runCli, tempDir } from './helpers.js';

describe('.npy reader', () => {
  it('reads what numpy writes: float32, float16, int64, uint8 (C order), and rejects the rest clearly', () => {
    const dir = tempDir('specprune-npy-');
    execFileSync('/usr/bin/python3', [
      '-c',
      `
import numpy as np
d = ${JSON.stringify(dir)}
np.save(d + '/f32.npy', np.arange(6, dtype=np.float32).reshape(2, 3) / 4)
np.save(d + '/f16.npy', np.array([1.5, -2.0, 0.25], dtype=np.float16))
np.save(d + '/i64.npy', np.array([[16000]], dtype=np.int64))
np.save(d + '/u8.npy', np.arange(4, dtype=np.uint8))
np.save(d + '/scalar.npy', np.float32(3.5))
np.save(d + '/fortran.npy', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.save(d + '/big.npy', np.ones(3, dtype='>f4'))
np.save(d + '/c64.npy', np.ones(3, dtype=np.complex64))
`,
    ]);
    const f32 = readNpy(path.join(dir, 'f32.npy'));
    expect(f32).toMatchObject({ dtype: 'float32', shape: [2, 3] });
    expect(Array.from(f32.data as Float32Array)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    const f16 = readNpy(path.join(dir, 'f16.npy'));
    expect(f16.dtype).toBe('float16');
    expect(Array.from(f16.data as Uint16Array)).toEqual([0x3e00, 0xc000, 0x3400]);
    const i64 = readNpy(path.join(dir, 'i64.npy'));
    expect(i64.shape).toEqual([1, 1]);
    expect((i64.data as BigInt64Array)[0]).toBe(16000n);
    expect(Array.from(readNpy(path.join(dir, 'u8.npy')).data as Uint8Array)).toEqual([0, 1, 2, 3]);
    expect(readNpy(path.join(dir, 'scalar.npy')).shape).toEqual([]);
    expect(() => readNpy(path.join(dir, 'fortran.npy'))).toThrow(/fortran\.npy is not a valid \.npy file: Fortran-order arrays are not supported/);
    expect(() => readNpy(path.join(dir, 'big.npy'))).toThrow(/dtype >f4 is not supported/);
    expect(() => readNpy(path.join(dir, 'c64.npy'))).toThrow(/dtype <c8 is not supported/);
    const bytes = readFileSync(path.join(dir, 'f32.npy'));
    expect(() => parseNpy(bytes.subarray(0, bytes.length - 4), 'cut.npy')).toThrow(/cut\.npy is not a valid \.npy file: shape \(2, 3\) of float32 needs 24 data bytes, the file has 20/);
    expect(() => parseNpy(Buffer.from('not numpy at all'), 'text.npy')).toThrow(/missing the \\x93NUMPY magic/);
  });

  it('round-trips what encodeNpy writes, and numpy reads it back', () => {
    const dir = tempDir('specprune-npy-');
    const file = path.join(dir, 'mine.npy');
    writeFileSync(file, encodeNpy('float32', [2, 2], new Float32Array([1, 2, 3, 4.5])));
    const back = readNpy(file);
    expect(back.shape).toEqual([2, 2]);
    expect(Array.from(back.data as Float32Array)).toEqual([1, 2, 3, 4.5]);
    const sum = execFileSync('/usr/bin/python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(file)}); print(a.shape, a.sum())`]).toString().trim();
    expect(sum).toBe('(2, 2) 10.5');
  });

  it('eval --inputs runs both models on a folder of samples (INPUTNAME.K.npy for several inputs)', async () => {
    const dir = tempDir('specprune-inputs-');
    const samples = path.join(dir, 'samples');
    mkdirSync(samples);
    for (let k = 0; k < 3; k++) {
      writeFileSync(path.join(samples, `input.${k}.npy`), encodeNpy('float32', [1, 512], Float32Array.from({ length: 512 }, (_, i) => Math.sin((i + k) * 0.05))));
      writeFileSync(path.join(samples, `state.${k}.npy`), encodeNpy('float32', [2, 1, 128], new Float32Array(256)));
      writeFileSync(path.join(samples, `sr.${k}.npy`), encodeNpy('int64', [], new BigInt64Array([16000n])));
    }
    const result = await runCli(['eval', MODELS.sileroV5, MODELS.sileroV5, '--inputs', samples, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<{ samples: number; outputs: Array<{ name: string; cosine: number }> }>();
    expect(doc.samples).toBe(3);
    expect(doc.outputs.every((o) => o.cosine > 0.999999)).toBe(true);
    writeFileSync(path.join(samples, 'extra.0.npy'), encodeNpy('float32', [1], new Float32Array(1)));
    const bad = await runCli(['eval', MODELS.sileroV5, MODELS.sileroV5, '--inputs', samples]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/extra\.0\.npy does not follow INPUTNAME\.K\.npy with INPUTNAME one of input, state, sr/);
  });
});
