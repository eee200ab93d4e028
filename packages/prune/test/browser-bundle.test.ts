import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildFailure, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { findWeights, readModel, writeModel } from '@specprune/onnx-io/node';

/**
 * The pipeline must run in a browser page: bundled for platform "browser", nothing of it may import a
 * Node built-in. esbuild fails such a build by itself (a built-in cannot be resolved for the browser);
 * the bundle is also checked for a "node:" specifier and for built-in names left as imports.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = (relative: string) => path.join(root, relative);

async function bundleForBrowser(file: string): Promise<{ text: string; metafile: Metafile }> {
  const result = await build({
    entryPoints: [file],
    platform: 'browser',
    format: 'esm',
    bundle: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // The workspace packages' TypeScript sources (their exports' development condition), not a stale dist/.
    conditions: ['specprune-source'],
    external: ['onnxruntime-common'],
  });
  return { text: result.outputFiles[0]!.text, metafile: result.metafile };
}

/** A module specifier that names a Node built-in: "node:fs", "fs", "fs/promises", ... */
function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier) || builtinModules.includes(specifier.split('/')[0]!);
}

/** Every import left in the bundle (external ones) and every string literal that is a "node:" specifier. */
function nodeReferences(text: string, metafile: Metafile): string[] {
  const imports = Object.values(metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  const literals = text.match(/["'`]node:[^"'`]*["'`]/g) ?? [];
  return [...imports.filter(isNodeBuiltin), ...literals];
}

describe('the pipeline bundles for a browser page', () => {
  it('@specprune/prune (src/index.ts) bundles for platform browser with no Node built-in', async () => {
    const { text, metafile } = await bundleForBrowser(entry('packages/prune/src/index.ts'));
    expect(nodeReferences(text, metafile)).toEqual([]);
    expect(text).not.toMatch(/["'`]node:/);
    // The bundle really holds the pipeline and the libraries it imports (not an empty shell).
    const inputs = Object.keys(metafile.inputs);
    for (const part of ['packages/prune/src/pipeline.ts', 'packages/onnx-io/src/parse-model.ts', 'packages/onnx-io/src/find-weights.ts', 'packages/device-runner/src/input-spec.ts']) {
      expect(inputs.some((i) => i.endsWith(part)), part).toBe(true);
    }
    // Nothing of onnx-io's Node subpath got in.
    for (const nodeOnly of ['node.ts', 'read-model.ts', 'write-model.ts', 'external-files.ts', 'node-files.ts', 'hollow-read.ts', 'sizes.ts']) {
      expect(inputs.filter((i) => i.endsWith(`packages/onnx-io/src/${nodeOnly}`)), nodeOnly).toEqual([]);
    }
    expect(text).toMatch(/export\s*\{[^}]*\bprune\b/);
  });

  it("onnx-io's main entry bundles for the browser; its Node subpath does not", async () => {
    const main = await bundleForBrowser(entry('packages/onnx-io/src/index.ts'));
    expect(nodeReferences(main.text, main.metafile)).toEqual([]);

    // The check has teeth: the Node subpath imports node:fs and friends, and esbuild refuses them for a browser.
    const failure = await bundleForBrowser(entry('packages/onnx-io/src/node.ts')).then(
      () => undefined,
      (error: BuildFailure) => error,
    );
    expect(failure, 'the Node subpath must not bundle for a browser').toBeDefined();
    const unresolved = failure!.errors.map((e) => e.text).join('\n');
    expect(unresolved).toMatch(/Could not resolve "node:fs"/);
  });

  it('the bundled onnx-io main entry parses and edits a model on its own, and leaves external data to the Node entry', async () => {
    const { text } = await bundleForBrowser(entry('packages/onnx-io/src/index.ts'));
    const dir = mkdtempSync(path.join(tmpdir(), 'specprune-browser-bundle-'));
    try {
      const bundleFile = path.join(dir, 'onnx-io.browser.mjs');
      writeFileSync(bundleFile, text);
      const onnx = (await import(pathToFileURL(bundleFile).href)) as typeof import('@specprune/onnx-io');

      // A real model with every weight stored as external data, written by the Node entry.
      const source = entry('node_modules/openwakeword-js/models/hello_deepa.onnx');
      const external = path.join(dir, 'external.onnx');
      const written = writeModel(readModel(source), external, { externalDataLimitBytes: 0 });
      expect(written.externalData).toBeDefined();

      const parsed = onnx.parseModel(new Uint8Array(readFileSync(external)), { label: 'external.onnx' });
      const weights = onnx.findWeights(parsed);
      expect(weights.map((w) => [w.name, w.shape, w.external])).toEqual(findWeights(readModel(external)).map((w) => [w.name, w.shape, w.external]));
      const stored = weights.find((w) => w.external);
      expect(stored, 'a weight stored as external data').toBeDefined();
      expect(() => onnx.readWeight(parsed, stored!)).toThrow(/is stored in external file "external\.onnx\.data", which a model parsed from bytes cannot read; external data needs the Node entry/);
      expect(() => onnx.serializeForRuntime(parsed)).toThrow(/external data needs the Node entry/);

      // The inline model: read, pruned and re-encoded entirely by the bundle.
      const inline = onnx.parseModel(new Uint8Array(readFileSync(source)), { label: 'hello_deepa.onnx' });
      const weight = onnx.findWeights(inline)[0]!;
      const values = onnx.readWeight(inline, weight);
      values.fill(0, 0, Math.floor(values.length / 2));
      onnx.updateWeight(inline, weight, values, 'dense');
      const back = onnx.parseModel(onnx.serializeModel(inline));
      expect(Array.from(onnx.readWeight(back, onnx.findWeights(back)[0]!))).toEqual(Array.from(values));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
