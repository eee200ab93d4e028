/** How closely one output of a candidate model agrees with the reference's (`eval` per output, `prune`'s fidelity check). */
export interface OutputFidelity {
  name: string;
  cosine: number;
  maxAbsError: number;
  top1Agreement: number | null;
  nonFinite: number;
  /**
   * How much the inputs move the reference's (the original's) own output: the share of its energy (squares summed
   * over the inputs) that differs from input to input, Σ‖x_k − x̄‖² / Σ‖x_k‖² (x̄ its mean over the inputs); null
   * with one input. Near 0 (under INPUT_BLIND_VARIATION) the output is nearly the same whatever these inputs, and
   * `cosine` cannot tell a model that computes what the reference does from one that gives that output regardless.
   */
  referenceVariation: number | null;
}

/** Accumulates agreement statistics between reference and candidate outputs over many samples. */
export class OutputAgreement {
  private dot = 0;
  private normA = 0;
  private normB = 0;
  private maxAbs = 0;
  private top1Same = 0;
  private top1Total = 0;
  private nonFinite = 0;
  /** The reference's sum over the inputs and its squares' total (for referenceVariation). */
  private sum: Float64Array | undefined;
  private squares = 0;
  private inputs = 0;

  constructor(
    readonly name: string,
    /** Outputs with a last dimension >= 2 are treated as class scores (top-1 over the last axis). */
    readonly classes: number | undefined,
  ) {}

  add(reference: ArrayLike<number>, candidate: ArrayLike<number>): void {
    this.sum ??= new Float64Array(reference.length);
    if (this.sum.length === reference.length) {
      for (let i = 0; i < reference.length; i++) {
        this.sum[i]! += reference[i]!;
        this.squares += reference[i]! * reference[i]!;
      }
      this.inputs++;
    }
    for (let i = 0; i < reference.length; i++) {
      const a = reference[i]!;
      const b = candidate[i]!;
      if (!Number.isFinite(b) && Number.isFinite(a)) this.nonFinite++;
      this.dot += a * b;
      this.normA += a * a;
      this.normB += b * b;
      const d = Math.abs(a - b);
      if (d > this.maxAbs || Number.isNaN(d)) this.maxAbs = Number.isNaN(d) ? Infinity : d;
    }
    const c = this.classes;
    if (c && c >= 2) {
      for (let row = 0; row + c <= reference.length; row += c) {
        this.top1Total++;
        if (argmax(reference, row, c) === argmax(candidate, row, c)) this.top1Same++;
      }
    }
  }

  result(): OutputFidelity {
    const cosine = this.normA === 0 && this.normB === 0 ? 1 : this.normA === 0 || this.normB === 0 ? 0 : this.dot / Math.sqrt(this.normA * this.normB);
    return {
      name: this.name,
      cosine: Number.isFinite(cosine) ? Math.min(1, cosine) : 0,
      maxAbsError: this.maxAbs,
      top1Agreement: this.top1Total ? this.top1Same / this.top1Total : null,
      nonFinite: this.nonFinite,
      referenceVariation: this.variation(),
    };
  }

  private variation(): number | null {
    if (this.inputs < 2 || !this.sum) return null;
    if (this.squares === 0) return 0;
    let common = 0;
    for (const v of this.sum) common += v * v;
    const share = 1 - common / (this.inputs * this.squares);
    return Number.isFinite(share) ? Math.min(1, Math.max(0, share)) : null;
  }
}

function argmax(values: ArrayLike<number>, start: number, count: number): number {
  let best = start;
  for (let i = start + 1; i < start + count; i++) if (values[i]! > values[best]!) best = i;
  return best - start;
}
