import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitStaged, OnnxInputError, readModel, removeTempFiles, stageFile, stageModel, writeModel } from '../src/node.js';
import { makeFeeds, REAL_MODELS, runModel, tempDir } from './helpers.js';

/**
 * Staged writes (issue 17, "lose nothing"): outputs go to tracked temporary files and are renamed into
 * place together; a write never replaces the model's own files, a folder or a device.
 */

const CLASSIFIER = REAL_MODELS.paddleCls;

/** The classifier rewritten with every tensor in `NAME.data` (the repo's own writer). */
function externalCopy(dir: string, name = 'model.onnx'): string {
  const file = path.join(dir, name);
  const result = writeModel(readModel(CLASSIFIER), file, { externalDataLimitBytes: 1 });
  expect(result.externalData?.path).toBe(`${file}.data`);
  return file;
}

function expectInputError(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(OnnxInputError);
  expect((caught as Error).message).toMatch(message);
}

describe('stageModel', () => {
  it("refuses to replace the model's own file or its external data file, also through a linked folder", () => {
    const dir = tempDir();
    const file = externalCopy(dir);
    symlinkSync(dir, path.join(dir, 'same'));
    const model = readModel(file);
    const before = readdirSync(dir).sort();
    const bytes = readFileSync(`${file}.data`);
    expectInputError(() => stageModel(model, file), /model\.onnx is a file the model is read from/);
    expectInputError(() => stageModel(model, path.join(dir, 'same', 'model.onnx')), /same\/model\.onnx is the same file as .*model\.onnx, a file the model is read from/);
    // -o model.onnx.data would be the input's data file; -o NAME whose NAME.data is the input's data file too.
    expectInputError(() => stageModel(model, `${file}.data`), /model\.onnx\.data is a file the model is read from/);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(readFileSync(`${file}.data`).equals(bytes)).toBe(true);
  });

  it('overwriteInput (--in-place) replaces the model and its data, and the result still runs', async () => {
    const dir = tempDir();
    const file = externalCopy(dir);
    const staged = stageModel(readModel(file), file, { overwriteInput: true });
    staged.commit();
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx.data']);
    const feeds = await makeFeeds(CLASSIFIER);
    expect(await runModel(file, feeds)).toEqual(await runModel(CLASSIFIER, feeds));
  });

  it('refuses a folder or a device as the target', () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'out.onnx'));
    expectInputError(() => stageModel(readModel(CLASSIFIER), path.join(dir, 'out.onnx')), /out\.onnx is a folder, not a regular file/);
    expectInputError(() => stageModel(readModel(CLASSIFIER), '/dev/null'), /\/dev\/null is a character device/);
    expect(readdirSync(dir)).toEqual(['out.onnx']);
  });

  it('with external data: a loadable temporary copy before the commit, nothing in place until then', async () => {
    const dir = tempDir();
    const source = externalCopy(tempDir());
    const out = path.join(dir, 'out.onnx');
    const staged = stageModel(readModel(source), out);
    expect(existsSync(out) || existsSync(`${out}.data`)).toBe(false);
    expect(staged.loadable?.data).toBeDefined();
    const feeds = await makeFeeds(CLASSIFIER);
    const expected = await runModel(CLASSIFIER, feeds);
    expect(await runModel(staged.loadable!.model, feeds)).toEqual(expected);
    staged.commit();
    expect(readdirSync(dir).sort()).toEqual(['out.onnx', 'out.onnx.data']);
    expect(await runModel(out, feeds)).toEqual(expected);
  });

  it('a report that cannot be staged leaves neither the model nor any temporary file', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.onnx');
    const model = stageModel(readModel(CLASSIFIER), out);
    expect(readdirSync(dir)).toHaveLength(1); // the model's temporary file
    expectInputError(() => stageFile(path.join(dir, 'missing', 'r.html'), [new TextEncoder().encode('<html>')]), /cannot write .*r\.html \(its folder .*missing does not exist\)/);
    model.discard();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('commits the report and the model together; removeTempFiles removes what was staged and not committed', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.onnx');
    const report = stageFile(path.join(dir, 'r.html'), [new TextEncoder().encode('<html>')]);
    const model = stageModel(readModel(CLASSIFIER), out);
    commitStaged([report, model]);
    expect(readdirSync(dir).sort()).toEqual(['out.onnx', 'r.html']);

    const again = stageModel(readModel(CLASSIFIER), path.join(dir, 'second.onnx'));
    expect(existsSync(again.tempPath)).toBe(true);
    expect(removeTempFiles()).toBeGreaterThanOrEqual(1);
    expect(readdirSync(dir).sort()).toEqual(['out.onnx', 'r.html']);
  });
});
