import { topSingularValues } from '@specprune/core';
import { commitStaged, extractBlock, stageFile, type MatrixView, type StagedWrite } from '@specprune/onnx-io/node';
import { formatBytes, formatPercent } from '../format.js';
import { escapeXml, linePlot } from './svg.js';
import { storageCell } from './prune-text.js';
import { RANDOM_INPUT_CAVEAT, type Fidelity } from '@specprune/prune';

export interface ReportWeight {
  name: string;
  graph: string;
  shape: number[];
  numel: number;
  nnz: number;
  sparsity: number;
  method: string;
  spectralError: number | null;
  frobeniusError: number;
  storage: string;
  /** Precision of the stored values (`--values`); float32 means the weight's own dtype. */
  values?: string;
  view: string;
  /** [sparsity, relative spectral error] of magnitude pruning, if measured. */
  curve?: Array<[number, number]>;
  /** What the curve measures: "output distortion" (sensitivity scan) or "spectral error". */
  curveLabel?: string;
  original: Float32Array;
  pruned: Float32Array;
  matrixView?: MatrixView;
}

export interface ReportData {
  title: string;
  input: { path: string; bytes: number; gzipBytes: number | null; brotliBytes: number | null };
  output: { path: string; bytes: number; gzipBytes: number | null; brotliBytes: number | null };
  sparsity: number;
  method: string;
  allocation: string;
  granularity: string;
  weights: ReportWeight[];
  /** Output agreement of the written model with the original (prune's check before success). */
  fidelity?: Fidelity;
  /** How choices were measured, e.g. allocation basis, method basis, statistics source. */
  decisions?: Array<[string, string]>;
  /** Fallbacks, assumptions and weights measured on nothing: what to read before shipping. */
  warnings?: string[];
}

function fidelitySection(data: ReportData): string {
  const fidelity = data.fidelity;
  if (!fidelity) return '';
  const decisions = (data.decisions ?? []).map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('\n');
  const warnings = data.warnings?.length ? `<h3>Warnings</h3><ul>${data.warnings.map((w) => `<li>${escapeXml(w)}</li>`).join('')}</ul>` : '<p>No warnings.</p>';
  let measured: string;
  if (!fidelity.measured) measured = `<p class="bad"><b>Output fidelity was not measured:</b> ${escapeXml(fidelity.reason)}. The pruned model loads, but nothing here says it still computes what the original did.</p>`;
  else {
    const shapes = Object.entries(fidelity.shapes).map(([name, dims]) => `${escapeXml(name)} ${dims.join('×')}`).join(', ');
    const rows = fidelity.outputs
      .map((o) => `<tr><td>${escapeXml(o.name)}</td><td>${o.cosine.toFixed(4)}</td><td>${o.maxAbsError.toPrecision(3)}</td><td>${o.top1Agreement === null ? '–' : `${(o.top1Agreement * 100).toFixed(1)}%`}</td><td>${o.nonFinite}</td></tr>`)
      .join('\n');
    measured = `<p>Measured on the written model: ${fidelity.samples} ${fidelity.inputs} input(s) (${shapes}); lowest cosine <b>${fidelity.minCosine.toFixed(4)}</b>.</p>
<table><tr><th>output</th><th>cosine</th><th>max abs error</th><th>top-1 agreement</th><th>non-finite</th></tr>
${rows}
</table>${fidelity.inputs === 'random' ? `<p class="note">${escapeXml(RANDOM_INPUT_CAVEAT)}</p>` : ''}`;
  }
  return `<h2>Before you ship it</h2>
${measured}
${decisions ? `<table>${decisions}</table>` : ''}
${warnings}`;
}

const TOP_K = 24;

/** Top singular values of a weight viewed as its first matrix block (the whole matrix for most ops). */
function singularValues(values: Float32Array, view: MatrixView | undefined, shape: number[]): Float64Array {
  const block = view?.blocks[0] ?? { offset: 0, rows: shape[0]!, cols: values.length / shape[0]!, rowStride: values.length / shape[0]!, colStride: 1 };
  const data = extractBlock(values, block);
  const k = Math.min(TOP_K, block.rows, block.cols);
  return topSingularValues({ data, rows: block.rows, cols: block.cols }, k, { seed: 1 });
}

/** Writes one self-contained HTML file (inline CSS and SVG, no scripts, no network), atomically. */
export function writeHtmlReport(file: string, data: ReportData): void {
  commitStaged([stageHtmlReport(file, data)]);
}

/** The report in a temporary file beside `file`, renamed into place by commit() (with the model, so neither is left without the other). */
export function stageHtmlReport(file: string, data: ReportData): StagedWrite {
  const rows = data.weights
    .map(
      (w) =>
        `<tr><td>${escapeXml(w.name)}</td><td>${escapeXml(w.graph)}</td><td>${w.shape.join('×')}</td><td>${formatPercent(w.sparsity)}</td><td>${escapeXml(w.method)}</td><td>${w.spectralError === null ? '–' : w.spectralError.toFixed(4)}</td><td>${w.frobeniusError.toFixed(4)}</td><td>${escapeXml(storageCell(w))}</td></tr>`,
    )
    .join('\n');
  const plots = data.weights
    .map((w) => {
      const before = singularValues(w.original, w.matrixView, w.shape);
      const after = singularValues(w.pruned, w.matrixView, w.shape);
      const sv = linePlot({
        title: `${w.name}: singular values`,
        xLabel: 'index',
        yLabel: 'σ',
        series: [
          { label: 'original', color: '#1f6feb', points: Array.from(before, (v, i) => [i + 1, v] as const) },
          { label: 'pruned', color: '#d1242f', dashed: true, points: Array.from(after, (v, i) => [i + 1, v] as const) },
        ],
      });
      const curve = w.curve
        ? linePlot({
            title: `${w.name}: ${w.curveLabel ?? 'error'} vs sparsity`,
            xLabel: 'sparsity of this weight alone (magnitude)',
            yLabel: w.curveLabel === 'output distortion' ? '‖y′−y‖/‖y‖' : '‖W−W′‖₂/‖W‖₂',
            series: [{ label: `${w.curveLabel ?? 'error'} (chosen: ${formatPercent(w.sparsity)})`, color: '#6e40c9', points: w.curve }],
          })
        : '';
      return `<figure><figcaption>${escapeXml(w.graph)} / ${escapeXml(w.name)} · ${escapeXml(w.view)}</figcaption>${sv}${curve}</figure>`;
    })
    .join('\n');
  const overall = linePlot({
    title: 'Relative spectral error per weight',
    xLabel: 'weight sparsity',
    yLabel: 'spectral error',
    width: 520,
    series: [
      {
        label: 'weights (sorted by sparsity)',
        color: '#1f6feb',
        points: data.weights
          .filter((w) => w.spectralError !== null)
          .map((w) => [w.sparsity, w.spectralError!] as const)
          .sort((a, b) => a[0] - b[0]),
      },
    ],
  });
  const size = (label: string, a: number | null, b: number | null) =>
    a === null || b === null
      ? `<tr><th>${label}</th><td>–</td><td>–</td><td>–</td></tr>`
      : `<tr><th>${label}</th><td>${formatBytes(a)}</td><td>${formatBytes(b)}</td><td>${a ? (b / a).toFixed(2) : '–'}×</td></tr>`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(data.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px}table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:8px;border:1px solid #d0d7de;padding:6px}
figcaption{font-size:12px;color:#57606a;max-width:720px}.summary td{min-width:90px}.bad{color:#d1242f}.note{color:#57606a;max-width:760px}
</style></head><body>
<h1>${escapeXml(data.title)}</h1>
<p>Sparsity <b>${formatPercent(data.sparsity)}</b> over the pruned weights · method <b>${escapeXml(data.method)}</b> · allocation <b>${escapeXml(data.allocation)}</b> · granularity <b>${escapeXml(data.granularity)}</b></p>
<table class="summary"><tr><th>size</th><th>before</th><th>after</th><th>ratio</th></tr>
${size('bytes', data.input.bytes, data.output.bytes)}
${size('gzip', data.input.gzipBytes, data.output.gzipBytes)}
${size('brotli', data.input.brotliBytes, data.output.brotliBytes)}
</table>
<p>${escapeXml(data.input.path)} → ${escapeXml(data.output.path)}</p>
${fidelitySection(data)}
${overall}
<h2>Weights</h2>
<table><tr><th>weight</th><th>graph</th><th>shape</th><th>sparsity</th><th>method</th><th>spectral err</th><th>frobenius err</th><th>storage</th></tr>
${rows}
</table>
<h2>Singular values before and after</h2>
${plots}
</body></html>
`;
  return stageFile(file, [new TextEncoder().encode(html)]);
}
