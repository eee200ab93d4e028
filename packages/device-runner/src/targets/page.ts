import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { bundlePayload } from '../bundle.js';
import { DeviceError, describeError } from '../errors.js';
import type { BrowserPayloadConfig } from '../payload/browser-main.js';
import { checkPagePost, type PagePost } from '../page-result.js';
import { startBenchServer, type BenchServer, type ServedEntry } from '../server.js';
import type { Logger, Measurement, PayloadConfig } from '../types.js';

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>specprune bench</title>
<style>body{font:16px/1.4 system-ui,sans-serif;margin:2em}#status{font-family:monospace}</style></head>
<body><h1>specprune bench</h1><p>Keep this page open and in front until it says it is done.</p>
<p id="status">starting</p><script type="module" src="/bench.js"></script></body>
</html>
`;

/** Where onnxruntime-web's dist folder is in the local install. */
function findOrtWebDist(): string {
  const require = createRequire(import.meta.url);
  // The package's exports hide package.json; its node entry lives in dist/ beside the browser files.
  return path.dirname(require.resolve('onnxruntime-web'));
}

/**
 * Starts the server for one browser run: the page, its bundled script, its settings, the model and
 * onnxruntime-web's module and wasm files (exact names, nothing else).
 */
export async function serveBenchPage(options: {
  host: string;
  modelPath: string;
  config: PayloadConfig;
  log: Logger;
}): Promise<BenchServer<PagePost>> {
  if (!options.config.simd) {
    throw new DeviceError('--no-simd cannot be honoured: onnxruntime-web 1.30 ships only WebAssembly SIMD builds (every current browser supports SIMD).');
  }
  const dist = findOrtWebDist();
  const routes = new Map<string, ServedEntry>();
  for (const name of readdirSync(dist)) {
    if (/^ort[.-].*\.(mjs|wasm)$/.test(name)) {
      routes.set(`/ort/${name}`, { file: path.join(dist, name), type: name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
    }
  }
  const ortModule = options.config.executionProvider === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs';
  const pageConfig: BrowserPayloadConfig = { ...options.config, ortUrl: `/ort/${ortModule}`, wasmPaths: '/ort/', modelUrl: '/model.onnx' };
  routes.set('/', { body: PAGE, type: 'text/html; charset=utf-8' });
  routes.set('/bench.js', { body: await bundlePayload('browser'), type: 'text/javascript; charset=utf-8' });
  routes.set('/config.json', { body: JSON.stringify(pageConfig), type: 'application/json' });
  routes.set('/model.onnx', { file: options.modelPath, type: 'application/octet-stream' });
  const { runs, repetitions } = options.config;
  return startBenchServer({
    host: options.host,
    advertiseHost: advertisedAddress(options.host),
    routes,
    onProgress: (line) => options.log(`page: ${line}`),
    checkResult: (body) => checkPagePost(body, { runs, repetitions }),
    onRefusedResult: (reason) => options.log(`refused a result posted to the page server: ${reason}; still waiting for a valid one`),
    maxResultBytes: maxResultBytes(runs, repetitions),
  });
}

/** Room for the device facts and inputs, and 32 bytes per latency (a JSON double takes at most 24). */
function maxResultBytes(runs: number, repetitions: number): number {
  return 256 * 1024 + 32 * repetitions * (runs + 1);
}

/** Listening on every interface (0.0.0.0, ::) advertises this machine's first external IPv4 address. */
function advertisedAddress(host: string): string | undefined {
  if (host !== '0.0.0.0' && host !== '::') return undefined;
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address && !address.internal && address.family === 'IPv4');
  return external?.address;
}

/** Turns what the page POSTed (checked by checkPagePost) into a Measurement, or throws the page's failure as an exit-2 sentence. */
export function readPageResult(posted: PagePost, modelLabel: string, where: string): Measurement {
  if (posted.ok) return posted.measurement;
  const message = describeError(posted.message || 'no message');
  if (posted.stage === 'load') throw new DeviceError(`${where} could not load the model ${modelLabel}: ${message}.`);
  if (posted.stage === 'inputs') throw new DeviceError(`${message.replace(/\.$/, '')}.`);
  throw new DeviceError(`The bench page in ${where} failed (${posted.stage || 'unknown stage'}): ${message}.`);
}
