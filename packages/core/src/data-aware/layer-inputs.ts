import { accumulateInputColumns, accumulateInputs, addedVector, pendingBatch, PENDING_STRIDE, type InputStats } from './input-stats.js';

/** Vectors handed to the accumulator at a time, so patch buffers stay small whatever the image size. */
const CHUNK = 256;

/** A 1-D or 2-D convolution as ONNX describes it (NCL / NCHW input, weight [out, in/group, k...]). */
export interface ConvGeometry {
  /** Kernel spatial size: [kw] (1-D) or [kh, kw] (2-D). */
  kernel: number[];
  strides?: number[];
  /** ONNX order: begins then ends, e.g. [top, left, bottom, right]. */
  pads?: number[];
  dilations?: number[];
  group?: number;
  autoPad?: 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
}

interface Resolved2d {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
  outH: number;
  outW: number;
}

/**
 * Accumulates the im2col vectors of a convolution input: for every batch item, output position and
 * group, the receptive field [in/group, kh, kw] flattened the way the weight's matrix view flattens its
 * columns (zero padding included as zeros).
 * @param x input activation, NCL or NCHW
 * @throws RangeError for shapes other than 1-D/2-D convolution or a channel count the groups do not divide
 */
export function accumulateConvInputs(stats: InputStats, x: Float32Array, shape: readonly number[], geometry: ConvGeometry): void {
  const spatial = shape.length - 2;
  if (spatial !== 1 && spatial !== 2) throw new RangeError(`Only 1-D and 2-D convolutions are supported for input statistics; the input has shape [${shape.join(', ')}].`);
  const [batch, channels] = [shape[0], shape[1]];
  const [height, width] = spatial === 2 ? [shape[2], shape[3]] : [1, shape[2]];
  const group = geometry.group ?? 1;
  if (channels % group !== 0) throw new RangeError(`${channels} input channels cannot be split into ${group} groups.`);
  const perGroup = channels / group;
  const r = resolve2d(geometry, spatial, height, width);
  const cols = perGroup * r.kh * r.kw;
  if (cols !== stats.cols || group !== stats.groups) {
    throw new RangeError(`The convolution gives ${group} group(s) of ${cols}-element patches; the statistics expect ${stats.groups} of ${stats.cols}.`);
  }
  const positions = r.outH * r.outW;
  if (r.kh === 1 && r.kw === 1 && r.sh === 1 && r.sw === 1 && r.top === 0 && r.left === 0 && r.outH === height && r.outW === width) {
    // A 1x1 convolution over every position: each group's input planes already hold its vectors as columns.
    for (let g = 0; g < group; g++) {
      for (let n = 0; n < batch; n++) {
        const image = (n * channels + g * perGroup) * height * width;
        accumulateInputColumns(stats, g, x.subarray(image, image + perGroup * positions), positions);
      }
    }
    return;
  }
  if (stats.gram) {
    // Patches go straight into each group's pending batch (column-major) with their norms: the same vectors in
    // the same order as through a row-major patch buffer, one copy fewer.
    const norms = stats.sumSquares;
    const { kh, kw, sh, sw, dh, dw, top, left, outH, outW } = r;
    const planeSize = height * width;
    for (let g = 0; g < group; g++) {
      const normBase = g * cols;
      for (let n = 0; n < batch; n++) {
        const image = (n * channels + g * perGroup) * planeSize;
        const pending = pendingBatch(stats, g);
        const columns = pending.columns;
        for (let oh = 0; oh < outH; oh++) {
          for (let ow = 0; ow < outW; ow++) {
            const at = pending.count;
            const x0 = ow * sw - left;
            let e = 0;
            for (let c = 0; c < perGroup; c++) {
              const plane = image + c * planeSize;
              for (let i = 0; i < kh; i++) {
                const y = oh * sh - top + i * dh;
                const rowStart = plane + y * width;
                const inRow = y >= 0 && y < height;
                for (let j = 0; j < kw; j++, e++) {
                  const xx = x0 + j * dw;
                  const v = inRow && xx >= 0 && xx < width ? x[rowStart + xx] : 0;
                  norms[normBase + e] += v * v;
                  columns[e * PENDING_STRIDE + at] = v;
                }
              }
            }
            addedVector(stats, g, pending);
          }
        }
      }
    }
    return;
  }
  const buffer = new Float32Array(CHUNK * cols);
  for (let g = 0; g < group; g++) {
    for (let n = 0; n < batch; n++) {
      const image = (n * channels + g * perGroup) * height * width;
      for (let start = 0; start < positions; start += CHUNK) {
        const count = Math.min(CHUNK, positions - start);
        buffer.fill(0, 0, count * cols);
        for (let p = 0; p < count; p++) {
          const oh = Math.floor((start + p) / r.outW);
          const ow = (start + p) % r.outW;
          let o = p * cols;
          for (let c = 0; c < perGroup; c++) {
            const plane = image + c * height * width;
            for (let i = 0; i < r.kh; i++) {
              const y = oh * r.sh - r.top + i * r.dh;
              for (let j = 0; j < r.kw; j++, o++) {
                const xx = ow * r.sw - r.left + j * r.dw;
                if (y >= 0 && y < height && xx >= 0 && xx < width) buffer[o] = x[plane + y * width + xx];
              }
            }
          }
        }
        accumulateInputs(stats, g, buffer, count);
      }
    }
  }
}

function resolve2d(geometry: ConvGeometry, spatial: number, height: number, width: number): Resolved2d {
  const pick = (values: number[] | undefined, fallback: number, count: number): number[] => {
    const v = values && values.length ? values : Array<number>(count).fill(fallback);
    return spatial === 2 ? v : [fallback === 0 ? 0 : 1, ...v];
  };
  if (geometry.kernel.length !== spatial) throw new RangeError(`kernel [${geometry.kernel.join(', ')}] does not match a ${spatial}-D input.`);
  const [kh, kw] = spatial === 2 ? geometry.kernel : [1, geometry.kernel[0]];
  const [sh, sw] = pick(geometry.strides, 1, spatial);
  const [dh, dw] = pick(geometry.dilations, 1, spatial);
  const extentH = dh * (kh - 1) + 1;
  const extentW = dw * (kw - 1) + 1;
  let top = 0;
  let left = 0;
  let bottom = 0;
  let right = 0;
  const autoPad = geometry.autoPad ?? 'NOTSET';
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = (size: number, stride: number, extent: number) => Math.max(0, (Math.ceil(size / stride) - 1) * stride + extent - size);
    const [th, tw] = [total(height, sh, extentH), total(width, sw, extentW)];
    const small = (t: number) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2));
    [top, left] = [small(th), small(tw)];
    [bottom, right] = [th - top, tw - left];
  } else if (autoPad === 'NOTSET' && geometry.pads && geometry.pads.length) {
    const p = geometry.pads;
    if (spatial === 2) [top, left, bottom, right] = p;
    else [left, right] = p;
  }
  const outH = Math.floor((height + top + bottom - extentH) / sh) + 1;
  const outW = Math.floor((width + left + right - extentW) / sw) + 1;
  return { kh, kw, sh, sw, dh, dw, top, left, outH: Math.max(0, outH), outW: Math.max(0, outW) };
}

/** Accumulates input vectors stored as the rows of `x` (e.g. MatMul's A [..., M, K] for a weight B [K, N]). */
export function accumulateRowInputs(stats: InputStats, x: Float32Array): void {
  if (x.length % stats.cols !== 0) throw new RangeError(`${x.length} values are not a whole number of ${stats.cols}-element rows.`);
  accumulateInputs(stats, 0, x, x.length / stats.cols);
}

/**
 * Accumulates input vectors stored as the columns of `x`, shaped [..., K, N] (e.g. MatMul's B for a
 * weight A [M, K]): each of the N columns of each leading batch is one vector of length K.
 */
export function accumulateColumnInputs(stats: InputStats, x: Float32Array, columns: number): void {
  const k = stats.cols;
  if (x.length % (k * columns) !== 0) throw new RangeError(`${x.length} values are not a whole number of [${k}, ${columns}] matrices.`);
  const buffer = new Float32Array(CHUNK * k);
  for (let base = 0; base < x.length; base += k * columns) {
    for (let start = 0; start < columns; start += CHUNK) {
      const count = Math.min(CHUNK, columns - start);
      for (let p = 0; p < count; p++) for (let i = 0; i < k; i++) buffer[p * k + i] = x[base + i * columns + start + p];
      accumulateInputs(stats, 0, buffer, count);
    }
  }
}
