/**
 * The one PRNG of specprune: xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", 2018), seeded through splitmix32 so that nearby seeds give unrelated streams.
 * Nothing uses Math.random: the same seed always gives the same bytes. This file imports nothing and uses
 * only Math.imul and Uint32Array, so the bench payload bundles it for node 18 and browsers
 * (`@specprune/core/random`).
 */

export interface Random {
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** Uniform double in [0, 1) with 53 random bits. */
  nextDouble(): number;
  /** Standard normal deviate (Box–Muller). */
  nextGaussian(): number;
}

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/**
 * The one seed rule: mixes a seed (any finite number, including > 2^32) and stream labels into one 32-bit
 * seed. A label is a number (a round, a block index) or a string (a weight's graph/name, a stream name such
 * as 'verify-inputs'), hashed with FNV-1a, so a derived seed does not depend on the order in which work is done.
 */
export function deriveSeed(seed: number, ...labels: Array<number | string>): number {
  if (!Number.isFinite(seed)) throw new RangeError(`The seed ${seed} is not a finite number.`);
  let state = 0x2545f491;
  const parts = [Math.floor(seed / 0x100000000) | 0, seed >>> 0, ...labels.map((label) => (typeof label === 'string' ? hashString(label) : label) | 0)];
  let out = 0;
  for (const part of parts) {
    [state, out] = splitmix32((state ^ part) | 0);
    state = (state ^ out) | 0;
  }
  return out >>> 0;
}

/** FNV-1a over UTF-16 code units. */
function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A 64-bit fingerprint (16 hex digits) of a float array's bits and length: two MurmurHash3-style 32-bit hashes
 * of its words with different seeds. Equal arrays give equal fingerprints; different ones collide with odds
 * of about 2^-64, so a result computed from the values can be remembered under it.
 */
export function fingerprint(values: Float32Array): string {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let a = 0x9747b28c ^ words.length;
  let b = 0x2545f491 ^ words.length;
  for (let i = 0; i < words.length; i++) {
    const k = Math.imul(rotl(Math.imul(words[i]!, 0xcc9e2d51), 15), 0x1b873593);
    a = (Math.imul(rotl(a ^ k, 13), 5) + 0xe6546b64) | 0;
    b = (Math.imul(rotl(b ^ Math.imul(k, 0x85ebca6b), 17), 9) + 0x7f4a7c15) | 0;
  }
  const mix = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return ((h ^ (h >>> 16)) >>> 0).toString(16).padStart(8, '0');
  };
  return mix(a) + mix(b);
}

/** Creates a xoshiro128** generator from a seed. */
export function createRandom(seed: number): Random {
  let state = deriveSeed(seed);
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) [state, s[i]] = splitmix32(state);
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  let spareGaussian: number | undefined;

  function nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  function nextDouble(): number {
    const high = nextUint32() >>> 5;
    const low = nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }
  function nextGaussian(): number {
    if (spareGaussian !== undefined) {
      const value = spareGaussian;
      spareGaussian = undefined;
      return value;
    }
    let u = 0;
    while (u === 0) u = nextDouble();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * nextDouble();
    spareGaussian = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }
  return { nextUint32, nextDouble, nextGaussian };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A float32 array of standard normal deviates, for tests and benchmarks. */
export function gaussianArray(length: number, seed: number): Float32Array {
  const random = createRandom(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = random.nextGaussian();
  return out;
}
