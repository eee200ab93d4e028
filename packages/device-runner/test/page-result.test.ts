import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveBenchPage } from '../src/targets/page.js';
import type { PagePost } from '../src/page-result.js';
import type { BenchServer } from '../src/server.js';
import type { PayloadConfig } from '../src/types.js';
import { httpRequest } from './http-helpers.js';

/** A phone (or anyone holding the page URL) posts a result with the right token but a hostile shape. */

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-result-'));
const modelPath = path.join(dir, 'model.onnx');
writeFileSync(modelPath, 'not read by these tests');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config: PayloadConfig = { warmup: 1, runs: 3, repetitions: 1, shapes: {}, seed: 0, threads: 0, executionProvider: 'wasm', simd: true };
const ESC = '\u001b';

function validMeasurement() {
  return {
    device: { arch: 'arm64', os: 'Android 14', runtime: 'onnxruntime-web', runtimeVersion: '1.30.0', userAgent: 'Mozilla/5.0 (Linux; Android 14)', crossOriginIsolated: true, wasmThreads: 4, wasmSimd: true },
    repetitions: [{ sessionCreateMs: 120.5, latenciesMs: [3, 2.25, 4] }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3, 32, 32] }],
    peakMemoryBytes: 12_000_000,
    peakMemorySource: 'wasmHeap',
  };
}

/** A valid body with one change made by `edit` (on the parsed object), or raw JSON text. */
function hostile(edit: (body: { ok: unknown; measurement: any }) => void): string {
  const body = { ok: true as unknown, measurement: validMeasurement() as any };
  edit(body);
  return JSON.stringify(body);
}

const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const HOSTILE: [string, string, RegExp][] = [
  ['null', 'null', /the result is not an object/],
  ['an array', '[1,2,3]', /the result is not an object/],
  ['a string', '"ok"', /the result is not an object/],
  ['no ok', '{}', /ok is not true or false/],
  ['ok as a string', '{"ok":"true","measurement":{}}', /ok is not true or false/],
  ['no measurement', '{"ok":true}', /measurement is not an object/],
  ['no repetitions', hostile((b) => delete b.measurement.repetitions), /measurement\.repetitions is not an array/],
  ['no repetition at all', hostile((b) => (b.measurement.repetitions = [])), /measurement\.repetitions has 0 entries; this run expects 1/],
  ['50 000 repetitions', hostile((b) => (b.measurement.repetitions = Array(50_000).fill(0))), /measurement\.repetitions has 50000 entries; this run expects 1/],
  ['a repetition that is null', hostile((b) => (b.measurement.repetitions = [null])), /measurement\.repetitions\[0\] is not an object/],
  ['no sessionCreateMs', hostile((b) => delete b.measurement.repetitions[0].sessionCreateMs), /sessionCreateMs is not a finite number >= 0/],
  ['fewer latencies than runs', hostile((b) => b.measurement.repetitions[0].latenciesMs.pop()), /latenciesMs has 2 entries; this run expects 3/],
  ['a latency as a string', hostile((b) => (b.measurement.repetitions[0].latenciesMs[1] = '2')), /latenciesMs\[1\] is not a finite number/],
  ['a negative latency', hostile((b) => (b.measurement.repetitions[0].latenciesMs[2] = -1)), /latenciesMs\[2\] is not a finite number >= 0/],
  ['an infinite latency (1e400)', hostile(() => {}).replace('[3,2.25,4]', '[3,1e400,4]'), /latenciesMs\[1\] is not a finite number/],
  ['nested arrays as latencies', hostile((b) => (b.measurement.repetitions[0].latenciesMs = [[1], [2], [3]])), /latenciesMs\[0\] is not a finite number/],
  ['no device', hostile((b) => delete b.measurement.device), /measurement\.device is not an object/],
  ['a device of 50 000 nested arrays', hostile(() => {}).replace(/"device":\{[^}]*\}/, `"device":${deep(50_000)}`), /measurement\.device is not an object/],
  ['arch as a number', hostile((b) => (b.measurement.device.arch = 64)), /measurement\.device\.arch is not a string/],
  ['os as an object', hostile((b) => (b.measurement.device.os = { toString: 'x' })), /measurement\.device\.os is not a string/],
  ['wasmSimd as a string', hostile((b) => (b.measurement.device.wasmSimd = 'yes')), /measurement\.device\.wasmSimd is not true or false/],
  ['inputs as an object', hostile((b) => (b.measurement.inputs = { x: 1 })), /measurement\.inputs is not an array/],
  ['an unknown dtype', hostile((b) => (b.measurement.inputs[0].dtype = 'evil')), /inputs\[0\]\.dtype is not a known element type/],
  ['a fractional dim', hostile((b) => (b.measurement.inputs[0].shape[2] = 1.5)), /inputs\[0\]\.shape\[2\] is not a whole number >= 0/],
  ['a dim past 2^53', hostile((b) => (b.measurement.inputs[0].shape[0] = 2 ** 60)), /inputs\[0\]\.shape\[0\] is not a whole number/],
  ['a rank of 1000', hostile((b) => (b.measurement.inputs[0].shape = Array(1000).fill(1))), /inputs\[0\]\.shape has 1000 entries/],
  ['memory as a string', hostile((b) => (b.measurement.peakMemoryBytes = '12')), /peakMemoryBytes is not a whole number/],
  ['an unknown memory source', hostile((b) => (b.measurement.peakMemorySource = 'guess')), /peakMemorySource is not a known memory source/],
  ['a failure whose message is an object', '{"ok":false,"stage":"load","message":{"a":1}}', /message is not a string/],
  ['a failure without a stage', '{"ok":false,"message":"x"}', /stage is not a string/],
];

describe('results posted to the bench page server are checked against their schema', () => {
  let server: BenchServer<PagePost>;
  let port: number;
  let log: string[];
  const post = (body: string | Buffer, route = '/result', headers: Record<string, string> = {}) =>
    httpRequest({ port, path: route, method: 'POST', headers: { host: `127.0.0.1:${port}`, 'x-specprune-token': server.token, ...headers }, body });

  beforeEach(async () => {
    log = [];
    server = await serveBenchPage({ host: '127.0.0.1', modelPath, config, log: (line) => log.push(line) });
    port = Number(new URL(server.url).port);
  });
  afterEach(() => server.close());

  it.each(HOSTILE)('answers 400 to %s and keeps waiting for a valid result', async (_, body, reason) => {
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.body).toMatch(reason);
    expect(response.body.length).toBeLessThan(300);
    expect(log.join('\n')).toMatch(reason);
    const valid = await post(JSON.stringify({ ok: true, measurement: validMeasurement() }));
    expect(valid.status).toBe(200);
    await expect(server.result).resolves.toEqual({ ok: true, measurement: validMeasurement() });
  });

  it('refuses a body over the limit with 413 (declared or streamed) and still takes a valid one', async () => {
    const declared = await post('{}', '/result', { 'content-length': String(64 * 1024 * 1024) }).catch((error: Error) => error);
    if (!(declared instanceof Error)) expect(declared.status).toBe(413);
    const streamed = await post(Buffer.alloc(2 * 1024 * 1024, 0x20)).catch((error: NodeJS.ErrnoException) => error);
    if (streamed instanceof Error) expect(streamed.code).toMatch(/ECONNRESET|EPIPE/);
    else expect(streamed.status).toBe(413);
    expect(log.join('\n')).toMatch(/the result is larger than \d+ bytes/);
    expect((await post(JSON.stringify({ ok: true, measurement: validMeasurement() }))).status).toBe(200);
    await expect(server.result).resolves.toMatchObject({ ok: true });
  });

  it('keeps no key it does not know and is not polluted through __proto__', async () => {
    const body = JSON.stringify({ ok: true, measurement: validMeasurement(), extra: 'x' }).replace(
      '"device":{',
      '"device":{"__proto__":{"polluted":true},"shell":"rm -rf /",',
    );
    expect((await post(body)).status).toBe(200);
    const result = await server.result;
    expect(result).toEqual({ ok: true, measurement: validMeasurement() });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('strips control characters and bounds the length of every string the page sends', async () => {
    const dirty = (text: string) => `${ESC}]0;owned${'\u0007'}${ESC}[2J${'\u009b'}31m${text}\r\b\u007f\u202e${ESC}[0m`;
    const measurement = validMeasurement() as any;
    measurement.device.os = dirty('Android 14');
    measurement.device.userAgent = dirty('Mozilla') + 'A'.repeat(100_000);
    measurement.device.engine = dirty('Chrome 140');
    measurement.inputs[0].name = dirty('x');
    expect((await post(`${dirty('repetition 1/1')}\nline two`, '/progress')).status).toBe(204);
    expect((await post(JSON.stringify({ ok: true, measurement }))).status).toBe(200);
    const result = (await server.result) as Extract<PagePost, { ok: true }>;
    const device = result.measurement.device;
    for (const text of [device.os, device.userAgent!, device.engine!, result.measurement.inputs[0]!.name, ...log]) {
      expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    }
    expect(device.os).toBe(']0;owned[2J31mAndroid 14 [0m');
    expect(device.userAgent!.length).toBeLessThanOrEqual(501);
    expect(log).toContain('page: ]0;owned[2J31mrepetition 1/1 [0m line two');
  });

  it('strips control characters from a failure the page posts', async () => {
    const body = JSON.stringify({ ok: false, stage: `load${ESC}[31m`, message: `no backend${ESC}[2J${'\u009b'}H`.repeat(500) });
    expect((await post(body)).status).toBe(200);
    const result = (await server.result) as Extract<PagePost, { ok: false }>;
    expect(result.stage).toBe('load[31m');
    expect(result.message).not.toMatch(/[\u001b\u009b]/);
    expect(result.message.length).toBeLessThanOrEqual(1001);
  });

  it('bounds progress: long lines are cut, oversized posts refused, a flood is not printed', async () => {
    expect((await post('p'.repeat(4000), '/progress')).status).toBe(204);
    expect(log[0]!.length).toBeLessThan(320);
    const big = await post('p'.repeat(10_000), '/progress').catch((error: Error) => error);
    if (!(big instanceof Error)) expect(big.status).toBe(413);
    for (let i = 0; i < 1100; i++) await post(`line ${i}`, '/progress');
    expect(log.length).toBeLessThanOrEqual(1001);
    expect(log.at(-1)).toMatch(/too many progress lines/);
  });
});
