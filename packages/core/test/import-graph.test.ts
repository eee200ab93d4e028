import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * core's shape: no import cycles between its modules (sparsify.ts and spectral.ts once imported each other),
 * nothing from files or other workspace packages, and random.ts (bundled into the bench payload for node 18
 * and browsers) imports nothing at all.
 */

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Every import/export specifier of a file, with whether it is type-only (erased, so not a runtime edge). */
function importsOf(file: string): Array<{ specifier: string; typeOnly: boolean }> {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)].map((m) => ({ specifier: m[3]!, typeOnly: Boolean(m[2]) }));
}

const files = sources(src);
const graph = new Map(
  files.map((file) => [
    file,
    importsOf(file)
      .filter((i) => i.specifier.startsWith('.') && !i.typeOnly)
      .map((i) => path.resolve(path.dirname(file), i.specifier.replace(/\.js$/, '.ts'))),
  ]),
);

function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].map((f) => path.relative(src, f)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('core import graph', () => {
  it('reads every module and resolves every relative import to one of them', () => {
    expect(files.length).toBeGreaterThan(20);
    for (const [file, deps] of graph) for (const dep of deps) expect(graph.has(dep), `${path.relative(src, file)} -> ${dep}`).toBe(true);
    expect(graph.get(path.join(src, 'sparsify/sparsify.ts'))).toContain(path.join(src, 'sparsify/spectral.ts'));
  });
  it('has no import cycle', () => {
    expect(cycles()).toEqual([]);
  });
  it('imports no Node built-in and no other workspace package; random.ts imports nothing', () => {
    for (const file of files) {
      for (const { specifier } of importsOf(file)) {
        expect(specifier.startsWith('.') || specifier === 'ml-matrix', `${path.relative(src, file)} imports ${specifier}`).toBe(true);
      }
    }
    expect(importsOf(path.join(src, 'random.ts'))).toEqual([]);
  });
});
