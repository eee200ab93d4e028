import { barelyMovedOutputs, percent } from '@specprune/prune';
import { renderTable } from '../format.js';
import type { EvalResult } from './evaluate.js';

/** The human report of `evaluate`: one row per output, then how many samples and from where (`inputsLabel`: the folder as the user gave it). */
export function renderEvalText(result: EvalResult, inputsLabel?: string): string {
  const rows = result.outputs.map((o) => [
    o.name,
    o.cosine.toFixed(6),
    o.maxAbsError.toPrecision(4),
    o.top1Agreement === null ? '-' : `${(o.top1Agreement * 100).toFixed(1)}%`,
  ]);
  const source = result.inputs === 'random' ? `${result.samples} random samples` : `${result.samples} samples from ${inputsLabel ?? result.inputs}`;
  const blind = barelyMovedOutputs(result.outputs);
  const note = blind.length
    ? `\nnote: these inputs barely move the reference's output ${blind.map((o) => o.name).join(', ')} (${percent(Math.max(...blind.map((o) => o.referenceVariation!)))} of it differs from one input to another): a high cosine there shows little; compare on ${result.inputs === 'random' ? 'real samples (--inputs DIR)' : 'more varied samples'}.\n`
    : '';
  return `${renderTable(['output', 'cosine', 'max abs error', 'top-1 agreement'], rows)}\n\n${source}\n${note}`;
}
