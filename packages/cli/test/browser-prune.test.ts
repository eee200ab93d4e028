import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';
import { findWeights, parseModel, readWeight } from '@specprune/onnx-io';
import { describe, expect, it } from 'vitest';
import { MODELS, ROOT, tempDir } from './helpers.js';
import { readmeExample } from './readme-examples.js';
import { recordModelFile } from './written-models.js';

const ORT_WEB_DIST = path.join(ROOT, 'packages/cli/node_modules/onnxruntime-web/dist');

/**
 * The README's browser example, bundled as a user's bundler would for the browser (any Node import fails the
 * build), plus two lines that hand its result to the test. `specprune/browser` is this checkout's entry;
 * onnxruntime-web is the script build the page loads (its global `ort`).
 */
async function bundleReadmeExample(name: string): Promise<string> {
  const harness = `\nawait fetch('/result', { method: 'POST', body: model });\nwindow.done = { report };\n`;
  const result = await build({
    stdin: { contents: readmeExample(name) + harness, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'page-modules',
        setup(b) {
          b.onResolve({ filter: /^specprune\/browser$/ }, () => ({ path: path.join(ROOT, 'packages/cli/src/browser.ts') }));
          b.onResolve({ filter: /^onnxruntime-web$/ }, () => ({ path: 'onnxruntime-web', namespace: 'page-global' }));
          b.onLoad({ filter: /.*/, namespace: 'page-global' }, () => ({ contents: 'const o = globalThis.ort; export const env = o.env, InferenceSession = o.InferenceSession, Tensor = o.Tensor;', loader: 'js' }));
        },
      },
    ],
    conditions: ['specprune-source'],
  });
  const text = result.outputFiles[0]!.text;
  expect(text).not.toMatch(/from\s*["']node:|require\(["']node:/);
  return text;
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>specprune in a page</title>
<script src="/ort/ort.min.js"></script></head><body><script>
ort.env.wasm.numThreads = 1;
window.addEventListener('unhandledrejection', (e) => { window.done = { error: String(e.reason && e.reason.stack || e.reason) }; });
</script><script type="module" src="/example.js"></script></body></html>`;

function serve(bundle: string): Promise<{ server: Server; url: string; posted: Promise<Buffer> }> {
  let resolvePosted!: (b: Buffer) => void;
  const posted = new Promise<Buffer>((resolve) => (resolvePosted = resolve));
  const server = createServer((req, res) => {
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (type: string, body: string | Buffer) => {
      res.writeHead(200, { ...headers, 'Content-Type': type });
      res.end(body);
    };
    if (req.method === 'POST' && url.pathname === '/result') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        resolvePosted(Buffer.concat(chunks));
        send('text/plain', 'ok');
      });
      return;
    }
    if (url.pathname === '/') return send('text/html', PAGE);
    if (url.pathname === '/example.js') return send('text/javascript', bundle);
    if (url.pathname === '/cls.onnx') return send('application/octet-stream', readFileSync(MODELS.paddleCls));
    const file = /^\/ort\/([\w.-]+)$/.exec(url.pathname)?.[1];
    if (file) {
      try {
        const type = file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('js') ? 'text/javascript' : 'application/octet-stream';
        return send(type, readFileSync(path.join(ORT_WEB_DIST, file)));
      } catch {
        // falls through to 404
      }
    }
    res.writeHead(404, headers);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, posted })));
}

/** Bytes a page returned, written where checker.setup.ts runs onnx.checker on them with every model the CLI wrote. */
function checkBytes(bytes: Uint8Array, name: string): void {
  const file = path.join(tempDir(), name);
  writeFileSync(file, bytes);
  recordModelFile(file);
}

/** Runs a README example in headless Chromium; resolves to what the page reported (or its error) and the bytes it posted. */
async function runInPage<Report>(example: string): Promise<{ report: Report; bytes: Uint8Array }> {
  const bundle = await bundleReadmeExample(example);
  const { server, url, posted } = await serve(bundle);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { done?: unknown }).done !== undefined, undefined, { timeout: 280_000, polling: 500 });
    const done = (await page.evaluate(() => (window as unknown as { done: unknown }).done)) as { error?: string; report: Report };
    expect(done.error, errors.join('\n')).toBeUndefined();
    return { report: done.report, bytes: new Uint8Array(await posted) };
  } finally {
    await browser.close();
    server.close();
  }
}

describe('specprune/browser in real headless Chromium with onnxruntime-web', () => {
  it("runs the README's browser example: prunes the PaddleOCR classifier in the page with the default pipeline (scan on wasm); the bytes load in onnxruntime-node", async () => {
    const { report, bytes } = await runInPage<{ sparsity: number; allocationBasis?: string; method: string; weights: Array<{ name: string }>; fidelity: { measured: boolean; minCosine?: number }; timings: Record<string, number>; estimate?: { total: number; scan: number; at: number } }>('browser');
    expect(report.method).toBe('spectral');
    expect(report.allocationBasis).toBe('sensitivity-scan');
    expect(Object.keys(report.timings)).toEqual(expect.arrayContaining(['statistics', 'scan', 'prune', 'check']));
    // No worker threads in the page: the estimate comes from the scan's first timed measurement on wasm.
    expect(report.estimate!.scan).toBeGreaterThan(0);
    expect(report.estimate!.total).toBeGreaterThan(report.estimate!.at);
    expect(report.sparsity).toBeCloseTo(0.5, 2);
    expect(report.fidelity.measured).toBe(true);
    expect(report.fidelity.minCosine).toBeGreaterThan(0.5);

    // What the page returned is a valid model at the requested sparsity, loadable in onnxruntime-node.
    checkBytes(bytes, 'page-pruned.onnx');
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(3 * 48 * 192).fill(0.1), [1, 3, 48, 192]) });
    expect(Object.values(out)[0]!.dims).toEqual([1, 2]);
    await session.release();
    const parsed = parseModel(bytes);
    const names = new Set(report.weights.map((w) => w.name));
    let zeros = 0;
    let numel = 0;
    for (const w of findWeights(parsed).filter((w) => names.has(w.name))) {
      const values = readWeight(parsed, w);
      numel += values.length;
      for (const v of values) if (v === 0) zeros++;
    }
    expect(zeros / numel).toBeCloseTo(0.5, 2);
  }, 300_000);

  it("runs the README's structured example in the page: channels removed, the written model checked and timed on onnxruntime-web; the smaller bytes load in onnxruntime-node with the same output shape", async () => {
    type Report = { fidelity: { measured: boolean; minCosine?: number }; structure: { macs: { before: number; after: number }; params: { before: number; after: number }; groups: Array<{ channels: { before: number; after: number } }>; latency: { p50BeforeMs: number; p50AfterMs: number; speedup: number } } };
    const { report, bytes } = await runInPage<Report>('browser-structure');
    const s = report.structure;
    expect(s.macs.after).toBeLessThan(s.macs.before * 0.8);
    expect(s.params.after).toBeLessThan(s.params.before);
    expect(s.groups.some((g) => g.channels.after < g.channels.before)).toBe(true);
    expect(s.latency.p50BeforeMs).toBeGreaterThan(0);
    expect(s.latency.p50AfterMs).toBeGreaterThan(0);
    expect(report.fidelity.measured).toBe(true);
    expect(report.fidelity.minCosine).toBeGreaterThan(0.5);
    // The bytes the page returned: smaller than the original, valid ONNX, and they run in onnxruntime-node.
    checkBytes(bytes, 'page-channels.onnx');
    expect(bytes.byteLength).toBeLessThan(readFileSync(MODELS.paddleCls).byteLength * 0.9);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(3 * 48 * 192).fill(0.1), [1, 3, 48, 192]) });
    expect(Object.values(out)[0]!.dims).toEqual([1, 2]);
    await session.release();
  }, 300_000);
});
