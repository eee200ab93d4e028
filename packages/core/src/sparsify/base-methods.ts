import type { Matrix } from '../matrix.js';
import { Workspace } from '../workspace.js';
import { sparsifyHybrid } from './hybrid.js';
import { sparsifyByImportance } from './importance.js';
import { sparsifyMagnitude } from './magnitude.js';
import type { BaseMethodName, ResolvedSparsifyOptions } from './types.js';

/** Runs one base method with a given seed (no measurement). */
export function sparsifyWith(
  w: Matrix,
  method: BaseMethodName,
  options: ResolvedSparsifyOptions,
  seed: number,
  workspace: Workspace = new Workspace(),
): Float32Array {
  const { keep, granularity } = options;
  switch (method) {
    case 'magnitude':
      return sparsifyMagnitude(w, keep, granularity);
    case 'l1':
    case 'l2':
    case 'bernstein':
      return sparsifyByImportance(w, method, keep, granularity, seed, workspace);
    case 'hybrid':
      return sparsifyHybrid(w, keep, granularity, seed, options.hybridKeepFraction, workspace);
  }
}
