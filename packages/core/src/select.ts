/**
 * Linear-time magnitude selection by radix histograms on the IEEE-754 bits of |w|.
 *
 * For float32, clearing the sign bit leaves a 31-bit key whose unsigned order is the order of |w|
 * (+0 and -0 share key 0; NaN keys sort above Infinity, so NaN counts as the largest magnitude).
 * Two passes of a 2^16 then 2^15-bin histogram pin down the exact key of the keep-th largest
 * magnitude; no sort, no copy of the data.
 */

/** Which entries survive magnitude selection; see {@link magnitudeThreshold}. */
export interface MagnitudeThreshold {
  /** The |w| (a float32 value) of the smallest kept magnitude; Infinity when nothing is kept. */
  threshold: number;
  /** The 31-bit key of `threshold` (sign-cleared float32 bits); 2^31 when nothing is kept. */
  thresholdKey: number;
  /** Entries with |w| > threshold: all kept. */
  above: number;
  /**
   * Entries with |w| === threshold that are kept: the first `tiesKept` of them in array order
   * (arrays in the order given, then by index), so exactly `above + tiesKept` entries survive.
   */
  tiesKept: number;
  /** All entries with |w| === threshold (0 when nothing is kept). */
  tiesTotal: number;
  /** `above + tiesKept`, the number of entries kept. */
  keep: number;
}

const HIGH_SHIFT = 15;
const HIGH_BINS = 1 << 16;
const LOW_BINS = 1 << 15;
const LOW_MASK = LOW_BINS - 1;
const ABS_MASK = 0x7fffffff;
const NOTHING_KEPT_KEY = 0x80000000;

/** The float bits as int32 (V8 keeps int32 loads unboxed; uint32 above 2^31 would become doubles). */
function keysOf(array: Float32Array): Int32Array {
  return new Int32Array(array.buffer, array.byteOffset, array.length);
}

/**
 * Finds the magnitude threshold that keeps exactly `keep` of the largest |w| over all `arrays` together
 * (a global threshold over several weights). Runs in O(total length) with two histogram passes.
 * @param keep number of entries to keep, an integer in [0, total length]
 */
export function magnitudeThreshold(arrays: readonly Float32Array[], keep: number): MagnitudeThreshold {
  let total = 0;
  for (const array of arrays) total += array.length;
  if (!Number.isInteger(keep) || keep < 0 || keep > total) {
    throw new RangeError(`keep ${keep} is out of range; use an integer in [0, ${total}].`);
  }
  if (keep === 0) {
    return { threshold: Infinity, thresholdKey: NOTHING_KEPT_KEY, above: 0, tiesKept: 0, tiesTotal: 0, keep: 0 };
  }

  const high = new Float64Array(HIGH_BINS);
  for (const array of arrays) {
    const keys = keysOf(array);
    for (let i = 0; i < keys.length; i++) high[(keys[i] & ABS_MASK) >>> HIGH_SHIFT]++;
  }
  let above = 0;
  let highBin = HIGH_BINS - 1;
  while (above + high[highBin] < keep) above += high[highBin--];

  const low = new Float64Array(LOW_BINS);
  for (const array of arrays) {
    const keys = keysOf(array);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] & ABS_MASK;
      if (key >>> HIGH_SHIFT === highBin) low[key & LOW_MASK]++;
    }
  }
  let lowBin = LOW_BINS - 1;
  while (above + low[lowBin] < keep) above += low[lowBin--];

  const thresholdKey = ((highBin << HIGH_SHIFT) | lowBin) >>> 0;
  const threshold = new Float32Array(new Uint32Array([thresholdKey]).buffer)[0];
  return { threshold, thresholdKey, above, tiesKept: keep - above, tiesTotal: low[lowBin], keep };
}

/**
 * Keeps the entries chosen by `t` and zeroes the rest (+0, whatever the sign), writing into `targets`
 * (default: in place). `arrays` must be the same arrays, in the same order, that produced `t`.
 * One branch-free pass keeps every |w| >= threshold; when more entries tie at the threshold than are
 * kept, a second pass zeroes the surplus ties (the later ones), so the count is exact.
 * @param energy when given, accumulates Σw² of all entries (`total`) and of the zeroed ones (`removed`) in
 *   the same pass, for the relative Frobenius error without another pass over the data
 * @returns the number of entries kept in each array (kept entries that were already zero included)
 */
export function applyMagnitudeThreshold(
  arrays: readonly Float32Array[],
  t: MagnitudeThreshold,
  targets: readonly Float32Array[] = arrays,
  energy?: { total: number; removed: number },
): number[] {
  if (targets.length !== arrays.length) {
    throw new RangeError(`Got ${targets.length} target arrays for ${arrays.length} source arrays.`);
  }
  const thresholdKey = t.thresholdKey;
  const kept = arrays.map((array, index) => {
    const target = targets[index];
    if (target.length !== array.length) {
      throw new RangeError(`Target array ${index} has ${target.length} elements, its source ${array.length}.`);
    }
    const keys = keysOf(array);
    const out = keysOf(target);
    let count = 0;
    if (energy) {
      let total = 0;
      let removed = 0;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        const v = array[i];
        const mask = ~(((key & ABS_MASK) - thresholdKey) >> 31);
        total += v * v;
        removed += (1 - (mask & 1)) * v * v;
        out[i] = key & mask;
        count += mask & 1;
      }
      energy.total += total;
      energy.removed += removed;
      return count;
    }
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      // All ones when |key| >= threshold, else zero: (|key| − T) is negative exactly when below.
      const mask = ~(((key & ABS_MASK) - thresholdKey) >> 31);
      out[i] = key & mask;
      count += mask & 1;
    }
    return count;
  });
  let surplus = t.tiesTotal - t.tiesKept;
  let seen = 0;
  for (let index = 0; index < targets.length && surplus > 0; index++) {
    const out = keysOf(targets[index]);
    for (let i = 0; i < out.length && surplus > 0; i++) {
      if ((out[i] & ABS_MASK) !== thresholdKey) continue;
      if (++seen > t.tiesKept) {
        out[i] = 0;
        kept[index]--;
        surplus--;
        if (energy) energy.removed += t.threshold * t.threshold;
      }
    }
  }
  return kept;
}

/**
 * Marks in `selected` (1 = keep) the `keep` entries of values[start, start+length) with the largest |value|;
 * ties go to the lower index, NaN counts as largest. O(keep * length): meant for short N:M groups.
 */
export function selectLargestInRange(
  values: Float32Array | Float64Array,
  start: number,
  length: number,
  keep: number,
  selected: Uint8Array,
): void {
  const end = start + length;
  for (let picked = 0; picked < keep; picked++) {
    let best = -1;
    let bestMagnitude = -1;
    for (let i = start; i < end; i++) {
      if (selected[i]) continue;
      const raw = Math.abs(values[i]);
      const magnitude = raw === raw ? raw : Infinity;
      if (magnitude > bestMagnitude) {
        best = i;
        bestMagnitude = magnitude;
      }
    }
    if (best < 0) return;
    selected[best] = 1;
  }
}

/**
 * The value of rank `n` (0-based) among `values` in ascending order, NaN above every number (the order of
 * Float64Array.prototype.sort), in expected linear time: quickselect with median-of-three pivots. `values`
 * is reordered.
 * @param n an integer in [0, values.length)
 */
export function nthSmallest(values: Float64Array, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= values.length) throw new RangeError(`rank ${n} is out of range; use an integer in [0, ${values.length}).`);
  // NaNs to the end.
  let numbers = values.length;
  for (let i = 0; i < numbers; ) {
    if (values[i] !== values[i]) {
      values[i] = values[--numbers];
      values[numbers] = Number.NaN;
    } else i++;
  }
  if (n >= numbers) return Number.NaN;
  let lo = 0;
  let hi = numbers - 1;
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    const [a, b, c] = [values[lo], values[mid], values[hi]];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    if (n <= j) hi = j;
    else if (n >= i) lo = i;
    else return values[n];
  }
  // A short range: insertion sort.
  for (let i = lo + 1; i <= hi; i++) {
    const v = values[i];
    let j = i - 1;
    while (j >= lo && values[j] > v) values[j + 1] = values[j--];
    values[j + 1] = v;
  }
  return values[n];
}
