import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODELS, runCli, tempDir } from './helpers.js';
import { expectOneSentence, mkfifo, runBin } from './hostile-helpers.js';

let dir: string;

/** Writes `text` as budget file `name` and runs `check --budget name`, timing it. */
async function checkWith(name: string, text: string): Promise<Awaited<ReturnType<typeof runCli>> & { ms: number }> {
  writeFileSync(path.join(dir, name), text);
  const started = Date.now();
  const result = await runCli(['check', '--budget', name], { cwd: dir });
  return { ...result, ms: Date.now() - started };
}

const entry = (fields: Record<string, unknown>) => JSON.stringify({ budgets: [{ name: 'kws', model: 'kws.onnx', ...fields }] });

beforeAll(() => {
  dir = tempDir('specprune-check-hostile-');
  copyFileSync(MODELS.wakeword, path.join(dir, 'kws.onnx'));
});

describe('check: hostile budget files get exit 2 with one sentence, quickly', () => {
  it('a control: the same entry with sane values passes', async () => {
    const result = await checkWith('ok.json', entry({ maxBytes: '10 MB', maxNnz: 1e9 }));
    expect(result.code, result.stderr).toBe(0);
  });

  it.each([
    ['maxBytes as the JSON number 1e309', '{"budgets": [{"name": "kws", "model": "kws.onnx", "maxBytes": 1e309}]}', /budgets\[0\] \("kws"\): maxBytes is a number too large to represent/],
    ['maxNnz as a 400-digit JSON number', `{"budgets": [{"name": "kws", "model": "kws.onnx", "maxNnz": 1${'0'.repeat(400)}}]}`, /budgets\[0\] \("kws"\): maxNnz is a number too large to represent/],
    ['minCosine as -1e309', '{"budgets": [{"name": "kws", "model": "kws.onnx", "reference": "kws.onnx", "minCosine": -1e309}]}', /budgets\[0\] \("kws"\): minCosine is a number too large/],
    ['a value of 1e309', '{"budgets": [{"name": "kws", "model": "kws.onnx", "maxBytes": 1, "value": {"sr": 1e309}}]}', /budgets\[0\] \("kws"\): value\.sr is a number too large/],
    ['maxPeakMemoryBytes as a 400-digit size string', entry({ maxPeakMemoryBytes: `${'9'.repeat(400)} MB` }), /budgets\[0\] \("kws"\): maxPeakMemoryBytes "9{12}\.\.\.9+ MB" is too large to represent/],
    ['maxLatencyP50Ms as a 400-digit time string', entry({ maxLatencyP50Ms: `${'9'.repeat(400)} s` }), /budgets\[0\] \("kws"\): maxLatencyP50Ms "9+\.\.\.9+ s" is too large to represent/],
    ['a size string whose unit overflows the product', entry({ maxBytes: `${'9'.repeat(300)} GiB` }), /maxBytes "9+\.\.\.9+ GiB" is too large to represent/],
    ['a shape dim of 400 digits', entry({ maxBytes: 1, shape: { x: `1x${'9'.repeat(400)}` } }), /budgets\[0\] \("kws"\): shape\.x "1x9+\.\.\.9+" has dim too large to represent/],
    ['a shape asking for 2^40 elements', entry({ maxBytes: 1, shape: { x: '1024x1024x1024x1024' } }), /shape\.x "1024x1024x1024x1024" asks for 1\.10e\+12 elements; at most 268435456/],
    ['a shape with a zero dim', entry({ maxBytes: 1, shape: { x: '1x0x3' } }), /shape\.x "1x0x3" has dim 0; every dim must be a whole number from 1/],
  ])('numbers that overflow: %s, naming entry and key', async (_case, text, message) => {
    const result = await checkWith('overflow.json', text);
    expectOneSentence(result, message);
    expect(result.stderr).toMatch(/^specprune: overflow\.json: /);
    expect(result.ms).toBeLessThan(5000);
  });

  it.each([
    ['runs', 1e12, 10000],
    ['warmup', 1e9, 1000],
    ['samples', 10_000_000, 1000],
    ['repeat', 1e6, 100],
  ])('absurd %s (%d) is bounded at %d with a message', async (key, value, max) => {
    const result = await checkWith('counts.json', entry({ maxBytes: 1, [key]: value }));
    expectOneSentence(result, new RegExp(`budgets\\[0\\] \\("kws"\\): ${key} must be <= ${max} \\(got ${value}\\)`));
  });

  it('reports every problem of a file together: overflow, absurd counts, a directory as model, a missing reference', async () => {
    mkdirSync(path.join(dir, 'models.onnx'), { recursive: true });
    const text = `{"budgets": [
      {"name": "a", "model": "kws.onnx", "maxBytes": 1e309, "runs": 1e12},
      {"name": "b", "model": "models.onnx", "reference": "gone.onnx", "minCosine": 0.9, "maxNnz": 1${'0'.repeat(400)}}
    ]}`;
    const result = await checkWith('many.json', text);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/many\.json has 5 problems/);
    expect(result.stderr).toMatch(/budgets\[0\] \("a"\): maxBytes is a number too large/);
    expect(result.stderr).toMatch(/budgets\[0\] \("a"\): runs must be <= 10000/);
    expect(result.stderr).toMatch(/budgets\[1\] \("b"\): model models\.onnx is a folder, not a model file/);
    expect(result.stderr).toMatch(/budgets\[1\] \("b"\): reference gone\.onnx does not exist/);
    expect(result.stderr).toMatch(/budgets\[1\] \("b"\): maxNnz is a number too large/);
    expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it('a file of 2000 broken entries lists 20 problems and counts the rest', async () => {
    const budgets = Array.from({ length: 2000 }, (_, i) => ({ name: `m${i}`, model: 'kws.onnx', maxBytes: 'lots' }));
    const result = await checkWith('generated.json', JSON.stringify({ budgets }));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/generated\.json has 2001 problems/);
    expect(result.stderr).toMatch(/budgets must NOT have more than 1000 items/);
    expect(result.stderr).toMatch(/\.\.\. and 1981 more; fix these first\./);
    expect(result.stderr.split('\n').length).toBeLessThan(25);
    expect(result.ms).toBeLessThan(10_000);
  });

  it('100,000 nested [ and a JSON value nested 40 deep: exit 2 before any recursive code sees them', async () => {
    const deep = await checkWith('deep.json', '['.repeat(100_000) + ']'.repeat(100_000));
    expectOneSentence(deep, /deep\.json nests arrays\/objects 100000 levels deep; a budget file needs at most 32/);
    expect(deep.ms).toBeLessThan(5000);
    const unclosed = await checkWith('unclosed.json', `{"budgets": ${'['.repeat(100_000)}`);
    expectOneSentence(unclosed, /unclosed\.json nests arrays\/objects 100001 levels deep/);
    const inValue = await checkWith('value.json', entry({ maxBytes: 1, name: JSON.parse('['.repeat(40) + ']'.repeat(40)) }));
    expectOneSentence(inValue, /value\.json nests arrays\/objects 43 levels deep/);
    // Brackets inside strings are text, not nesting.
    const inString = await checkWith('string.json', entry({ maxBytes: '10 MB', name: '['.repeat(1000) }));
    expect(inString.code, inString.stderr).toBe(0);
  });

  it('a 50 MB budget file is refused from its size, before reading', async () => {
    const text = entry({ maxBytes: 1 }).replace('"kws"', `"${'k'.repeat(50 * 1024 * 1024)}"`);
    const result = await checkWith('huge.json', text);
    expectOneSentence(result, /huge\.json is 52\.4 MB, more than any budget file needs; the limit is 1\.05 MB/);
    expect(result.ms).toBeLessThan(5000);
  });

  it('not JSON, or not an object: exit 2 naming the file', async () => {
    expectOneSentence(await checkWith('text.json', 'maxBytes: 1'), /text\.json is not valid JSON: /);
    expectOneSentence(await checkWith('empty.json', ''), /empty\.json is not valid JSON: Unexpected end of JSON input\./);
    expectOneSentence(await checkWith('null.json', 'null'), /null\.json: the budget file must be object/);
    const arrays = await checkWith('array.json', '{"budgets": [[1], 7]}');
    expect(arrays.code).toBe(2);
    expect(arrays.stderr).toBe('specprune: array.json has 2 problems:\n  - budgets[0] must be object.\n  - budgets[1] must be object (got 7).\n');
  });

  it.each([
    ['model', 'a directory', (p: string) => mkdirSync(p), /budgets\[0\] \("kws"\): model special is a folder, not a model file; name the \.onnx file\./],
    ['model', 'a FIFO', mkfifo, /budgets\[0\] \("kws"\): model special is a named pipe \(FIFO\), not a model file; name the \.onnx file\./],
    ['model', 'missing', () => {}, /budgets\[0\] \("kws"\): model special does not exist \(paths are relative to special\.json\)\./],
    ['reference', 'a directory', (p: string) => mkdirSync(p), /budgets\[0\] \("kws"\): reference special is a folder/],
    ['reference', 'a FIFO', mkfifo, /budgets\[0\] \("kws"\): reference special is a named pipe \(FIFO\)/],
    ['reference', 'missing', () => {}, /budgets\[0\] \("kws"\): reference special does not exist/],
    ['inputs', 'a FIFO', mkfifo, /budgets\[0\] \("kws"\): inputs special is not a folder; give a folder of \.npy samples\./],
  ])('a %s path that is %s: exit 2 naming entry and key, no hang', (key, _kind, make, message) => {
    const sub = tempDir('specprune-check-special-');
    copyFileSync(MODELS.wakeword, path.join(sub, 'kws.onnx'));
    make(path.join(sub, 'special'));
    const fields = key === 'model' ? { model: 'special', maxBytes: 1 } : key === 'reference' ? { reference: 'special', minCosine: 0.5 } : { reference: 'kws.onnx', inputs: 'special', minCosine: 0.5 };
    writeFileSync(path.join(sub, 'special.json'), entry(fields));
    const result = runBin(['check', '--budget', 'special.json'], sub);
    expect(result.timedOut).toBe(false);
    expectOneSentence(result, message);
  });

  it.each([
    ['a FIFO', mkfifo, /budget\.json is not a regular file \(a named pipe \(FIFO\)\); give a JSON file\./],
    ['a directory', (p: string) => mkdirSync(p), /budget\.json is a directory; give the JSON file itself\./],
  ])('--budget naming %s: exit 2, no hang', (_kind, make, message) => {
    const sub = tempDir('specprune-check-special-');
    make(path.join(sub, 'budget.json'));
    const result = runBin(['check', '--budget', 'budget.json'], sub);
    expect(result.timedOut).toBe(false);
    expectOneSentence(result, message);
    expect(result.ms).toBeLessThan(15_000);
  });

  it('prune --budget checks the budget file before pruning: nothing is written, and the model it will write counts as present', async () => {
    const sub = tempDir('specprune-check-prune-');
    copyFileSync(MODELS.wakeword, path.join(sub, 'kws.onnx'));
    writeFileSync(path.join(sub, 'b.json'), JSON.stringify({ budgets: [{ name: 'after', model: 'out.onnx', maxBytes: `1${'0'.repeat(400)} B`, runs: 1e12 }] }));
    const result = await runCli(['prune', 'kws.onnx', '-o', 'out.onnx', '--budget', 'b.json', '--method', 'magnitude'], { cwd: sub });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^specprune: b\.json has 2 problems:\n  - budgets\[0\] \("after"\): runs must be <= 10000 \(got 1000000000000\)\.\n  - budgets\[0\] \("after"\): maxBytes "10{11}\.\.\.0{6} B" is too large to represent/);
    expect(result.stderr).not.toMatch(/does not exist/);
    expect(existsSync(path.join(sub, 'out.onnx'))).toBe(false);
    mkfifo(path.join(sub, 'fifo.json'));
    const fifo = runBin(['prune', 'kws.onnx', '-o', 'out.onnx', '--budget', 'fifo.json', '--method', 'magnitude'], sub);
    expect(fifo.timedOut).toBe(false);
    expectOneSentence(fifo, /fifo\.json is not a regular file \(a named pipe \(FIFO\)\); give a JSON file\./);
    expect(existsSync(path.join(sub, 'out.onnx'))).toBe(false);
  });

  it('the default specprune.budget.json as a FIFO, and --baseline as a FIFO: exit 2, no hang', () => {
    const sub = tempDir('specprune-check-special-');
    mkfifo(path.join(sub, 'specprune.budget.json'));
    const result = runBin(['check'], sub);
    expect(result.timedOut).toBe(false);
    expectOneSentence(result, /specprune\.budget\.json is not a regular file \(a named pipe \(FIFO\)\)/);
    const other = tempDir('specprune-check-special-');
    copyFileSync(MODELS.wakeword, path.join(other, 'kws.onnx'));
    writeFileSync(path.join(other, 'specprune.budget.json'), entry({ maxBytes: '10 MB' }));
    mkfifo(path.join(other, 'base.json'));
    const baseline = runBin(['check', '--baseline', 'base.json'], other);
    expect(baseline.timedOut).toBe(false);
    expectOneSentence(baseline, /--baseline base\.json is not a regular file \(a named pipe \(FIFO\)\); give a JSON file\./);
  });
});
