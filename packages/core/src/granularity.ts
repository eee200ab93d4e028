/**
 * Sparsity patterns. Groups and tiles run along the matrix view's columns, the reduction (input)
 * dimension, which is what N:M sparse tensor cores and block-sparse kernels skip over.
 */
export type Granularity =
  | { kind: 'unstructured' }
  /** At most n nonzeros in each aligned run of m consecutive elements of a row; see {@link groupKeep}. */
  | { kind: 'nm'; n: number; m: number }
  /** Whole r x c tiles kept or zeroed; tiles on the bottom and right edges are smaller. */
  | { kind: 'block'; r: number; c: number };

const USAGE = "use 'unstructured', 'N:M' with integers 0 < N <= M (e.g. '2:4'), or 'block:RxC' with positive integers (e.g. 'block:4x4')";

/**
 * Parses `unstructured`, `N:M` (e.g. `2:4`) or `block:RxC` (e.g. `block:4x1`).
 * @throws RangeError naming the bad text and what is allowed
 */
export function parseGranularity(text: string): Granularity {
  const trimmed = text.trim();
  if (trimmed === 'unstructured') return { kind: 'unstructured' };
  const nm = /^(\d+):(\d+)$/.exec(trimmed);
  if (nm) {
    const granularity: Granularity = { kind: 'nm', n: Number(nm[1]), m: Number(nm[2]) };
    assertGranularity(granularity, `Granularity '${text}'`);
    return granularity;
  }
  const block = /^block:(\d+)x(\d+)$/.exec(trimmed);
  if (block) {
    const granularity: Granularity = { kind: 'block', r: Number(block[1]), c: Number(block[2]) };
    assertGranularity(granularity, `Granularity '${text}'`);
    return granularity;
  }
  throw new RangeError(`Granularity '${text}' is not recognised; ${USAGE}.`);
}

/** Formats a granularity the way {@link parseGranularity} reads it. */
export function formatGranularity(granularity: Granularity): string {
  switch (granularity.kind) {
    case 'unstructured':
      return 'unstructured';
    case 'nm':
      return `${granularity.n}:${granularity.m}`;
    case 'block':
      return `block:${granularity.r}x${granularity.c}`;
  }
}

/** Throws a RangeError when the pattern's numbers are not usable. */
export function assertGranularity(granularity: Granularity, label = 'Granularity'): void {
  const positive = (value: number): boolean => Number.isInteger(value) && value > 0;
  if (granularity.kind === 'nm' && !(positive(granularity.n) && positive(granularity.m) && granularity.n <= granularity.m)) {
    throw new RangeError(`${label} has N=${granularity.n}, M=${granularity.m}; ${USAGE}.`);
  }
  if (granularity.kind === 'block' && !(positive(granularity.r) && positive(granularity.c))) {
    throw new RangeError(`${label} has a ${granularity.r}x${granularity.c} block; ${USAGE}.`);
  }
}

/**
 * How many elements an N:M group of `length` elements keeps: n for a full group of m; a trailing partial
 * group (row length not a multiple of m) keeps ceil(n·length/m), which keeps its density near n/m and
 * never exceeds n, so the "at most n in every aligned m" pattern holds.
 */
export function groupKeep(n: number, m: number, length: number): number {
  return length >= m ? n : Math.min(length, Math.ceil((n * length) / m));
}
