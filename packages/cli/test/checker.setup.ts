import { afterAll, expect } from 'vitest';
import { checkWrittenModels } from './written-models.js';

// Valid by default (CLI.md): every model the tests' prune runs wrote passes onnx.checker.
afterAll(() => {
  const { failures } = checkWrittenModels();
  expect(failures, 'models written by prune that onnx.checker rejects').toEqual([]);
});
