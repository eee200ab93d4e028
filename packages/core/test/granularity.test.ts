import { describe, expect, it } from 'vitest';
import { createRandom, deriveSeed, fingerprint, formatGranularity, groupKeep, parseGranularity } from '../src/index.js';

describe('parseGranularity', () => {
  it.each([
    ['unstructured', { kind: 'unstructured' }],
    ['2:4', { kind: 'nm', n: 2, m: 4 }],
    ['4:8', { kind: 'nm', n: 4, m: 8 }],
    ['block:4x1', { kind: 'block', r: 4, c: 1 }],
    [' block:16x16 ', { kind: 'block', r: 16, c: 16 }],
  ])('reads %j', (text, expected) => {
    expect(parseGranularity(text)).toEqual(expected);
    expect(parseGranularity(formatGranularity(parseGranularity(text)))).toEqual(expected);
  });
  it.each(['', 'structured', '4:2', '0:4', '2:0', '2:4:8', 'block:4', 'block:0x4', 'block:4x4x4', '2.5:4'])('rejects %j with a sentence', (text) => {
    expect(() => parseGranularity(text)).toThrow(RangeError);
    expect(() => parseGranularity(text)).toThrow(/Granularity '.*' .*; use 'unstructured', 'N:M'/);
  });
});

describe('groupKeep', () => {
  it('keeps n in full groups and ceil(n·L/m) in a trailing partial group', () => {
    expect(groupKeep(2, 4, 4)).toBe(2);
    expect(groupKeep(2, 4, 3)).toBe(2);
    expect(groupKeep(2, 4, 1)).toBe(1);
    expect(groupKeep(1, 4, 2)).toBe(1);
    expect(groupKeep(4, 8, 5)).toBe(3);
  });
});

describe('random', () => {
  it('is deterministic per seed, differs across seeds and is roughly uniform', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const xs = Array.from({ length: 20_000 }, () => a.nextDouble());
    expect(Array.from({ length: 20_000 }, () => b.nextDouble())).toEqual(xs);
    expect(c.nextDouble()).not.toBe(xs[0]);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(deriveSeed(0, 1)).not.toBe(deriveSeed(0, 2));
    expect(deriveSeed(2 ** 40)).not.toBe(deriveSeed(0));
  });
  it('derives seeds from string labels: stable, distinct per label, the FNV-1a hash as a number label', () => {
    expect(deriveSeed(3, 'conv1/W', 0)).toBe(deriveSeed(3, 'conv1/W', 0));
    expect(deriveSeed(3, 'conv1/W', 0)).not.toBe(deriveSeed(3, 'conv2/W', 0));
    expect(deriveSeed(3, 'verify-inputs', 1)).not.toBe(deriveSeed(3, 'scan-inputs', 1));
    let h = 2166136261;
    for (const c of 'conv1/W') h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    expect(deriveSeed(3, 'conv1/W', 2)).toBe(deriveSeed(3, h >>> 0, 2));
    // Pinned: the seeds of every pruned block and input stream are these numbers; changing them changes outputs.
    expect([deriveSeed(0, 1), deriveSeed(42, 'synthetic-inputs', 0), createRandom(42).nextUint32()]).toEqual([438939900, 774471082, 3000301791]);
  });
  it('fingerprints float arrays by their bits and length: copies and views agree, any flipped bit differs', () => {
    const random = createRandom(5);
    const values = Float32Array.from({ length: 1000 }, () => random.nextGaussian());
    const fp = fingerprint(values);
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(Float32Array.from(values))).toBe(fp);
    const padded = new Float32Array(1003);
    padded.set(values, 3);
    expect(fingerprint(padded.subarray(3))).toBe(fp);
    const words = new Uint32Array(values.buffer);
    for (let trial = 0; trial < 2000; trial++) {
      const [at, bit] = [random.nextUint32() % values.length, random.nextUint32() % 32];
      words[at]! ^= 1 << bit;
      expect(fingerprint(values)).not.toBe(fp);
      words[at]! ^= 1 << bit;
    }
    expect(fingerprint(values)).toBe(fp);
    // Length counts (zeros of every length), and so does the sign of zero (different bits).
    const zeros = new Set(Array.from({ length: 50 }, (_, n) => fingerprint(new Float32Array(n))));
    expect(zeros.size).toBe(50);
    expect(fingerprint(Float32Array.of(-0))).not.toBe(fingerprint(Float32Array.of(0)));
    // Many small random arrays: no two alike.
    const seen = new Set(Array.from({ length: 20_000 }, () => fingerprint(Float32Array.from({ length: 4 }, () => random.nextDouble()))));
    expect(seen.size).toBe(20_000);
  });
});
