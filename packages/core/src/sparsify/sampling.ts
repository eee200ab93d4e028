import type { Random } from '../random.js';

/**
 * Sampling without replacement with prescribed inclusion probabilities and an exact sample size.
 *
 * Inclusion probabilities are π_i = min(1, c·s_i) with c chosen so that Σπ_i = keep (the "probability
 * proportional to size" design with saturation; Särndal, Swensson & Wretman, "Model Assisted Survey
 * Sampling", 1992, §3.6). Saturated entries (π = 1) are taken outright; the others are drawn by ordered
 * systematic sampling (Madow, "On the theory of systematic sampling, II", 1949): one uniform offset u and
 * the points u, u+1, u+2, … on the cumulative sum of π, so exactly keep entries are drawn and entry i is
 * drawn with probability exactly π_i. Scaling a kept entry by 1/π_i therefore makes the result an unbiased
 * (Horvitz–Thompson) estimate of the input. Walking in storage order (row-major) also stratifies the
 * sample across rows.
 */

/**
 * Draws exactly min(keep, number of positive scores) entries of scores[start, start+length).
 * Writes into inclusion[start + i] the inclusion probability π of each drawn entry and 0 elsewhere.
 * Zero, negative and NaN scores are never drawn.
 */
export function sampleByImportance(
  scores: Float64Array,
  start: number,
  length: number,
  keep: number,
  random: Random,
  inclusion: Float64Array,
): void {
  const end = start + length;
  let positives = 0;
  let activeSum = 0;
  for (let i = start; i < end; i++) {
    inclusion[i] = 0;
    const score = scores[i];
    if (score > 0) {
      positives++;
      activeSum += score;
    }
  }
  if (keep >= positives) {
    for (let i = start; i < end; i++) if (scores[i] > 0) inclusion[i] = 1;
    return;
  }
  if (keep <= 0) return;

  // Find c: saturate entries with c·s ≥ 1 until no new entry saturates. The saturated set only grows
  // and c only increases, so this ends after at most `keep` rounds (in practice a handful). Each round
  // sums the still-unsaturated scores afresh for the next round's c, in the same pass.
  let saturated = 0;
  let c = 0;
  for (;;) {
    c = (keep - saturated) / activeSum;
    let nextActiveSum = 0;
    let newlySaturated = 0;
    for (let i = start; i < end; i++) {
      const score = scores[i];
      if (!(score > 0) || inclusion[i] === 1) continue;
      if (c * score >= 1) {
        inclusion[i] = 1;
        newlySaturated++;
      } else {
        nextActiveSum += score;
      }
    }
    saturated += newlySaturated;
    activeSum = nextActiveSum;
    if (newlySaturated === 0 || saturated >= keep) break;
  }
  const remaining = keep - saturated;
  if (remaining <= 0) return;

  // Normalise so the unsaturated probabilities sum to `remaining` exactly in float64.
  let sum = 0;
  for (let i = start; i < end; i++) if (scores[i] > 0 && inclusion[i] !== 1) sum += c * scores[i];
  const factor = (c * remaining) / sum;

  let point = random.nextDouble();
  let cumulative = 0;
  let drawn = 0;
  for (let i = start; i < end; i++) {
    if (!(scores[i] > 0) || inclusion[i] === 1) continue;
    const probability = factor * scores[i];
    cumulative += probability;
    if (cumulative > point && drawn < remaining) {
      inclusion[i] = probability;
      drawn++;
      point += 1;
    }
  }
  // Rounding can leave the last point just past the cumulative total (probability ~1e-15): take the
  // first undrawn entries so that the count stays exact.
  for (let i = start; i < end && drawn < remaining; i++) {
    if (scores[i] > 0 && inclusion[i] === 0) {
      inclusion[i] = Math.min(1, factor * scores[i]);
      drawn++;
    }
  }
}

/**
 * Draws `keep` of the `length` entries scored by scores[0, length) ({@link sampleByImportance}, with
 * inclusion probabilities π written to inclusion[0, length)) and writes each drawn entry of
 * values[offset, offset + length) scaled by 1/π into `out` at the same place: the Horvitz–Thompson step of
 * every sampling method. Entries not drawn are left as they are in `out`.
 */
export function sampleRescaled(
  values: Float32Array,
  offset: number,
  length: number,
  scores: Float64Array,
  keep: number,
  random: Random,
  inclusion: Float64Array,
  out: Float32Array,
): void {
  sampleByImportance(scores, 0, length, keep, random, inclusion);
  for (let t = 0; t < length; t++) if (inclusion[t] > 0) out[offset + t] = values[offset + t] / inclusion[t];
}
