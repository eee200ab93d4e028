/**
 * Entry of the browser payload: the bench page's script, bundled to one ES module. Fetches its settings
 * from /config.json, runs the protocol with onnxruntime-web, and POSTs the result (or the failure) to
 * /result with the page's one-time token. Used by the browser, webdriver and manual targets alike.
 */
import type { Measurement, MemorySource, PayloadConfig } from '../types.js';
import { ProtocolError, runProtocol, type OrtLike } from './protocol.js';

export interface BrowserPayloadConfig extends PayloadConfig {
  /** Absolute URL path of the onnxruntime-web module. */
  ortUrl: string;
  /** Absolute URL path of the folder with onnxruntime-web's .wasm/.mjs files, ending in "/". */
  wasmPaths: string;
  modelUrl: string;
}

interface OrtWeb extends OrtLike {
  env: { wasm: Record<string, unknown>; versions?: Record<string, string> };
}

const token = new URLSearchParams(location.search).get('token') ?? '';
const status = document.getElementById('status');

function show(line: string): void {
  if (status) status.textContent = line;
}

async function post(path: string, body: string): Promise<void> {
  await fetch(path, { method: 'POST', headers: { 'x-specprune-token': token, 'content-type': 'text/plain' }, body });
}

function progress(line: string): void {
  show(line);
  void post('/progress', line).catch(() => {});
}

/** WebAssembly memories onnxruntime-web creates or exports; their final size is the wasm heap peak. */
const memories = new Set<WebAssembly.Memory>();
trackWasmMemories();

function trackWasmMemories(): void {
  const NativeMemory = WebAssembly.Memory;
  const Tracked = function (this: unknown, descriptor: WebAssembly.MemoryDescriptor) {
    const memory = new NativeMemory(descriptor);
    memories.add(memory);
    return memory;
  } as unknown as typeof WebAssembly.Memory;
  Tracked.prototype = NativeMemory.prototype;
  WebAssembly.Memory = Tracked;
  const collect = (instance: WebAssembly.Instance) => {
    for (const value of Object.values(instance.exports)) if (value instanceof NativeMemory) memories.add(value);
  };
  const instantiate = WebAssembly.instantiate.bind(WebAssembly) as (...args: unknown[]) => Promise<unknown>;
  (WebAssembly as { instantiate: unknown }).instantiate = async (...args: unknown[]) => {
    const result = await instantiate(...args);
    collect(result instanceof WebAssembly.Instance ? result : (result as WebAssembly.WebAssemblyInstantiatedSource).instance);
    return result;
  };
  if (WebAssembly.instantiateStreaming) {
    const streaming = WebAssembly.instantiateStreaming.bind(WebAssembly);
    WebAssembly.instantiateStreaming = async (...args) => {
      const result = await streaming(...args);
      collect(result.instance);
      return result;
    };
  }
}

async function measureMemory(): Promise<{ bytes: number | null; source: MemorySource | null }> {
  const measure = (performance as { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> }).measureUserAgentSpecificMemory;
  if (typeof measure === 'function' && globalThis.crossOriginIsolated) {
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000));
    const measured = await Promise.race([measure.call(performance).catch(() => null), timeout]);
    if (measured) return { bytes: measured.bytes, source: 'measureUserAgentSpecificMemory' };
  }
  if (memories.size === 0) return { bytes: null, source: null };
  let bytes = 0;
  for (const memory of memories) bytes += memory.buffer.byteLength;
  return { bytes, source: 'wasmHeap' };
}

/** Smallest module using a v128 instruction (the wasm-feature-detect probe). */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

async function describeDevice(ort: OrtWeb): Promise<Measurement['device']> {
  const data = (navigator as { userAgentData?: { brands: { brand: string; version: string }[]; platform: string; getHighEntropyValues(hints: string[]): Promise<Record<string, string>> } }).userAgentData;
  let arch = '';
  let os = navigator.platform;
  let engine = '';
  if (data) {
    const high = await data.getHighEntropyValues(['architecture', 'bitness', 'platformVersion', 'fullVersionList']).catch(() => ({}) as Record<string, string>);
    const architecture = high.architecture ?? '';
    arch = architecture === 'x86' ? (high.bitness === '64' ? 'x64' : 'ia32') : architecture === 'arm' ? (high.bitness === '64' ? 'arm64' : 'arm') : architecture;
    os = [data.platform, high.platformVersion].filter(Boolean).join(' ') || os;
    const brand = data.brands.find((b) => !/not.?a.?brand/i.test(b.brand) && b.brand !== 'Chromium') ?? data.brands.find((b) => b.brand === 'Chromium');
    if (brand) engine = `${brand.brand} ${brand.version}`;
  }
  if (!arch) arch = /aarch64|arm64/i.test(navigator.userAgent) ? 'arm64' : /x86_64|x64|win64|amd64/i.test(navigator.userAgent) ? 'x64' : 'unknown';
  return {
    arch,
    os,
    runtime: 'onnxruntime-web',
    runtimeVersion: ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown',
    userAgent: navigator.userAgent,
    ...(engine ? { engine } : {}),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    wasmThreads: Number(ort.env.wasm.numThreads),
    wasmSimd: WebAssembly.validate(SIMD_PROBE),
  };
}

async function main(): Promise<void> {
  const config = (await (await fetch('/config.json')).json()) as BrowserPayloadConfig;
  progress('loading onnxruntime-web');
  const ort = (await import(/* @vite-ignore */ config.ortUrl)) as OrtWeb;
  ort.env.wasm.wasmPaths = config.wasmPaths;
  ort.env.wasm.numThreads = config.threads > 0 ? config.threads : globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  progress('downloading the model');
  const response = await fetch(config.modelUrl);
  if (!response.ok) throw new ProtocolError('load', `the model download failed with HTTP ${response.status}`);
  const model = new Uint8Array(await response.arrayBuffer());
  const output = await runProtocol(ort, model, config, { executionProviders: [config.executionProvider] }, () => performance.now(), progress);
  const memory = await measureMemory();
  const measurement: Measurement = {
    device: await describeDevice(ort),
    repetitions: output.repetitions,
    inputs: output.inputs,
    peakMemoryBytes: memory.bytes,
    peakMemorySource: memory.source,
  };
  await post('/result', JSON.stringify({ ok: true, measurement }));
  show('Done: the result was sent back. You can close this page.');
}

main().catch(async (error: unknown) => {
  const stage = error instanceof ProtocolError ? error.stage : 'internal';
  const message = error instanceof Error ? error.message : String(error);
  show(`Failed (${stage}): ${message}`);
  await post('/result', JSON.stringify({ ok: false, stage, message })).catch(() => {});
});
