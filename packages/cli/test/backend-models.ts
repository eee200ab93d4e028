import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findWeights, readModel } from '@specprune/onnx-io/node';

/** ONNX's own backend test models (Debian libonnx-testdata). */
export const BACKEND_DATA = '/usr/share/libonnx-testdata/data';

/** The backend test models that hold at least one weight, sorted. */
export function backendModelsWithWeights(): string[] {
  const out: string[] = [];
  for (const suite of readdirSync(BACKEND_DATA)) {
    for (const test of readdirSync(path.join(BACKEND_DATA, suite))) {
      const file = path.join(BACKEND_DATA, suite, test, 'model.onnx');
      if (!existsSync(file)) continue;
      try {
        if (findWeights(readModel(file)).length > 0) out.push(file);
      } catch {
        // Models onnx-io refuses are covered by the inspect test of the suite.
      }
    }
  }
  return out.sort();
}
