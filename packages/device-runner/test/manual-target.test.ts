import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchmark } from '../src/benchmark.js';
import { createDefaultRegistry } from '../src/registry.js';
import { httpRequest } from './http-helpers.js';

/** The manual target end to end: the URL it announces works from the network, and nothing else does. */

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-manual-'));
const modelPath = path.join(dir, 'model.onnx');
writeFileSync(modelPath, `MODEL-${'m'.repeat(500)}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lan = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && !address.internal && address.family === 'IPv4')?.address;

const measurement = {
  device: { arch: 'arm64', os: 'Android 14\u001b[2J', runtime: 'onnxruntime-web', runtimeVersion: '1.30.0', userAgent: 'Mozilla/5.0\u009b31m (Linux)' },
  inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
  repetitions: [{ sessionCreateMs: 10, latenciesMs: [3, 2, 4] }],
  peakMemoryBytes: 1000,
  peakMemorySource: 'wasmHeap',
};

/** Runs the manual target on `host`; `phone` gets the announced URL and plays the phone. */
async function runManual(host: string, phone: (url: URL) => Promise<void>) {
  let announced: Promise<void> | undefined;
  const log: string[] = [];
  const result = await benchmark({
    registry: createDefaultRegistry(),
    target: 'manual',
    host,
    modelPath,
    runs: 3,
    warmup: 1,
    timeoutMs: 20_000,
    log: (line) => {
      log.push(line);
      const match = /(http:\/\/\S+\?token=[\w-]+)/.exec(line);
      if (match && !announced) announced = phone(new URL(match[1]!));
    },
  });
  await announced;
  return { result, log };
}

describe.skipIf(!lan)('bench --target manual --host', () => {
  it.each([lan!, '0.0.0.0'])('--host %s: the announced LAN URL serves the page and the model and takes the result', async (host) => {
    const { result, log } = await runManual(host, async (url) => {
      expect(url.hostname).toBe(lan);
      const headers = { host: url.host };
      const page = await httpRequest({ connectTo: url.hostname, port: Number(url.port), path: '/', headers });
      expect(page.body).toContain('src="/bench.js"');
      const model = await httpRequest({ connectTo: url.hostname, port: Number(url.port), path: '/model.onnx', headers });
      expect(model.body).toBe(readFileSync(modelPath, 'utf8'));
      // The same server under a rebound name: refused.
      const rebound = await httpRequest({ connectTo: url.hostname, port: Number(url.port), path: '/model.onnx', headers: { host: `attacker.example:${url.port}` } });
      expect(rebound.status).toBe(421);
      expect(rebound.body).not.toContain('MODEL-');
      const token = url.searchParams.get('token')!;
      const post = (body: string) =>
        httpRequest({ connectTo: url.hostname, port: Number(url.port), path: '/result', method: 'POST', headers: { ...headers, 'x-specprune-token': token }, body });
      expect((await post('{"ok":true,"measurement":{"device":null}}')).status).toBe(400);
      expect((await post(JSON.stringify({ ok: true, measurement }))).status).toBe(200);
    });
    expect(result.target).toBe('manual');
    expect(result.latencyMs).toMatchObject({ p50: 3, min: 2, max: 4 });
    expect(result.device.os).toBe('Android 14[2J');
    expect(result.device.userAgent).toBe('Mozilla/5.031m (Linux)');
    expect(log.join('\n')).toMatch(/refused a result posted to the page server: measurement\.repetitions is not an array; still waiting/);
    expect(log.join('\n')).not.toMatch(/loopback only/);
  });
});
