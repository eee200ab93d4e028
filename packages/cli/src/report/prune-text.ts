import { describeFidelity, RANDOM_INPUT_CAVEAT, type StructureReport } from '@specprune/prune';
import type { PruneFileResult } from '../api/prune-files.js';
import { formatBytes, formatCount, formatPercent, renderTable } from '../format.js';

/**
 * The human summary of a prune: per weight table, before/after sizes, what was kept and written, the
 * output fidelity (with the caveat of random inputs) and the count of warnings. `files` are the paths as
 * the user should read them.
 */
export function renderPruneText(result: Pick<PruneFileResult, 'report' | 'details'>, files: { output: string; report?: string }): string {
  const { report } = result;
  const rows = report.weights.map((r) => [
    r.name,
    r.shape.join('x'),
    formatPercent(r.sparsity),
    r.method,
    r.spectralError === null ? '-' : r.spectralError.toFixed(4),
    r.frobeniusError.toFixed(4),
    storageCell(r),
  ]);
  const { input: before, output: after } = report;
  const sizes = renderTable(
    ['', 'bytes', 'gzip', 'brotli'],
    [
      ['before', formatBytes(before.bytes), optionalBytes(before.gzipBytes), optionalBytes(before.brotliBytes)],
      ['after', formatBytes(after.bytes), optionalBytes(after.gzipBytes), optionalBytes(after.brotliBytes)],
      ['ratio', ratio(after.bytes, before.bytes), ratio(after.gzipBytes, before.gzipBytes), ratio(after.brotliBytes, before.brotliBytes)],
    ],
  );
  const totalNumel = result.details.reduce((s, d) => s + d.numel, 0);
  const totalNnz = result.details.reduce((s, d) => s + d.nnz, 0);
  const lines = [
    `${renderTable(['weight', 'shape', 'sparsity', 'method', 'spectral err', 'frobenius err', 'storage'], rows)}\n`,
    `${sizes}\n`,
    report.structure && report.weights.length === 0
      ? `No unstructured pruning (give --sparsity for it); wrote ${files.output}${files.report ? ` and ${files.report}` : ''}`
      : `${formatCount(report.weights.length)} weights pruned to ${formatPercent(report.sparsity)} sparsity (${formatCount(totalNnz)} of ${formatCount(totalNumel)} kept); wrote ${files.output}${files.report ? ` and ${files.report}` : ''}`,
    ...(report.structure ? [describeStructure(report.structure)] : []),
    describeFidelity(report.fidelity),
  ];
  if (report.fidelity.measured && report.fidelity.inputs === 'random') lines.push(RANDOM_INPUT_CAVEAT);
  if (report.warnings.length) lines.push(`${report.warnings.length} warning(s): see above${files.report ? ` and in ${files.report}` : ''}.`);
  return `${lines.join('\n')}\n`;
}

/** The storage, and the value precision where it is lower than the weight's own (`--values`). */
export function storageCell(w: { storage: string; values?: string }): string {
  return w.values && w.values !== 'float32' ? `${w.storage}, ${w.values} values` : w.storage;
}

function ratio(after: number | null, before: number | null): string {
  return before && after !== null ? `${(after / before).toFixed(2)}x` : '-';
}

function optionalBytes(bytes: number | null): string {
  return bytes === null ? '-' : formatBytes(bytes);
}

/** One line for structured pruning: channels removed, groups left intact, multiply-adds and parameters. */
function describeStructure(s: StructureReport): string {
  const removed = s.groups.reduce((sum, g) => sum + g.channels.before - g.channels.after, 0);
  const kept = (a: number, b: number) => (b ? `${((a / b) * 100).toFixed(1)}%` : '-');
  return `Structured pruning removed ${formatCount(removed)} channels in ${s.groups.length} group(s) (${s.intact.length} left intact, see --json); multiply-adds ${formatCount(s.macs.before)} -> ${formatCount(s.macs.after)} (${kept(s.macs.after, s.macs.before)}), weight parameters ${formatCount(s.params.before)} -> ${formatCount(s.params.after)}. Measured p50 latency ${s.latency.p50BeforeMs.toFixed(2)} -> ${s.latency.p50AfterMs.toFixed(2)} ms (${s.latency.speedup.toFixed(2)}x${s.speedup ? `, target ${s.speedup.target}x` : ''}) at ${Object.entries(s.latency.shapes).map(([n, d]) => `${n}=${d.join('x')}`).join(' ')}.`;
}
