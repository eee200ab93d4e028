/**
 * Reusable scratch arrays. Large typed arrays are expensive to allocate fresh (the kernel must fault in
 * and zero every page), and the `spectral` search sparsifies and measures the same weight a dozen times,
 * so its candidates share one workspace. Contents are undefined on return; callers initialise what they use.
 */
export class Workspace {
  private readonly float64 = new Map<string, Float64Array>();
  private readonly float32 = new Map<string, Float32Array>();

  /** A Float64Array of exactly `length` elements for `name`, reused across calls. */
  float64Array(name: string, length: number): Float64Array {
    let array = this.float64.get(name);
    if (!array || array.length < length) {
      array = new Float64Array(length);
      this.float64.set(name, array);
    }
    return array.length === length ? array : array.subarray(0, length);
  }

  /** A Float32Array of exactly `length` elements for `name`, reused across calls. */
  float32Array(name: string, length: number): Float32Array {
    let array = this.float32.get(name);
    if (!array || array.length < length) {
      array = new Float32Array(length);
      this.float32.set(name, array);
    }
    return array.length === length ? array : array.subarray(0, length);
  }
}
