import { describe, expect, it } from 'vitest';
import { MODELS, expectBenchSchema, expectUserError, runCli } from './bench-helpers.js';

/** Starts `bench --target manual` and resolves with the page URL once it is printed. */
function startManual(extra: string[]) {
  let announce: (url: string) => void;
  const url = new Promise<string>((resolve) => (announce = resolve));
  let seen = '';
  const outcome = runCli(['bench', MODELS.gemm, '--target', 'manual', '--runs', '3', '--warmup', '1', ...extra], {
    onStderr: (text) => {
      seen += text;
      const match = /(http:\/\/\S+\?token=[\w-]+)/.exec(seen);
      if (match) announce(match[1]!);
    },
  });
  return { url, outcome };
}

/** The QR code is the one thing on stderr drawn with escape sequences (our own, colours only). */
function withoutQrCode(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !/^[ ▀▄█]*$/.test(line.replace(/\u001b\[[034]?\dm/g, '')))
    .join('\n');
}

const measurement = {
  device: { arch: 'arm64', os: 'Android 14', runtime: 'onnxruntime-web', runtimeVersion: '1.30.0', userAgent: 'Mozilla/5.0 (Linux; Android 14) Mobile' },
  inputs: [{ name: 'onnx::Flatten_0', dtype: 'float32', shape: [1, 25, 96] }],
  repetitions: [{ sessionCreateMs: 120, latenciesMs: [3, 2, 4] }],
  peakMemoryBytes: 12_000_000,
  peakMemorySource: 'wasmHeap',
};

describe('specprune bench --target manual', () => {
  it('prints the URL and a QR code, serves the page, and accepts the result once with its token', async () => {
    const { url, outcome } = startManual(['--json', '--timeout', '30']);
    const pageUrl = await url;
    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('src="/bench.js"');
    const token = new URL(pageUrl).searchParams.get('token')!;
    const post = (t: string) =>
      fetch(new URL('/result', pageUrl), { method: 'POST', headers: { 'x-specprune-token': t }, body: JSON.stringify({ ok: true, measurement }) });
    expect((await post('forged')).status).toBe(403);
    expect((await post(token)).status).toBe(200);
    const done = await outcome;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/[▀▄█]/); // the QR code
    expect(done.stderr).toMatch(/loopback only: a phone cannot reach it/);
    const result = done.json();
    expectBenchSchema(result, 'manual', 3);
    expect(result.latencyMs).toMatchObject({ p50: 3, min: 2, max: 4 });
    expect(result.device.os).toBe('Android 14');
  });

  it('reports the failure the page posts', async () => {
    const { url, outcome } = startManual(['--timeout', '30']);
    const pageUrl = await url;
    const token = new URL(pageUrl).searchParams.get('token')!;
    await fetch(new URL('/result', pageUrl), { method: 'POST', headers: { 'x-specprune-token': token }, body: JSON.stringify({ ok: false, stage: 'load', message: 'no backend found' }) });
    expectUserError(await outcome, /the browser that opened the page could not load the model .*hello_deepa\.onnx: no backend found\./);
  });

  it('refuses a result of the wrong shape with 400, keeps waiting, and never prints what a phone sends raw', async () => {
    const { url, outcome } = startManual(['--timeout', '30']);
    const pageUrl = await url;
    const token = new URL(pageUrl).searchParams.get('token')!;
    const post = (route: string, body: string) => fetch(new URL(route, pageUrl), { method: 'POST', headers: { 'x-specprune-token': token }, body });
    const junk = await post('/result', JSON.stringify({ ok: true, measurement: { ...measurement, repetitions: [{ sessionCreateMs: 1 }] } }));
    expect(junk.status).toBe(400);
    expect(await junk.text()).toMatch(/measurement\.repetitions\[0\]\.latenciesMs is not an array/);
    expect((await post('/progress', '\u001b]0;owned\u0007\u001b[2Jrepetition 1/1\r\u009b31m')).status).toBe(204);
    const dirty = { ...measurement, device: { ...measurement.device, os: 'Android\u001b[2J 14', userAgent: `Mozilla\u001b[31m\u202e${'A'.repeat(5000)}` } };
    expect((await post('/result', JSON.stringify({ ok: true, measurement: dirty }))).status).toBe(200);
    const done = await outcome;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/refused a result posted to the page server: measurement\.repetitions\[0\]\.latenciesMs is not an array; still waiting/);
    expect(done.stderr).toMatch(/page: \]0;owned\[2Jrepetition 1\/1 31m/);
    expect(done.stdout).toMatch(/Android\[2J 14/);
    expect(done.stdout).toMatch(/user agent: Mozilla\[31mA{400}/);
    for (const text of [done.stdout, withoutQrCode(done.stderr)]) expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
  });

  it('strips control characters from a failure the page posts', async () => {
    const { url, outcome } = startManual(['--timeout', '30']);
    const pageUrl = await url;
    const token = new URL(pageUrl).searchParams.get('token')!;
    const body = JSON.stringify({ ok: false, stage: 'run', message: 'out of memory\u001b[2J\u001b]8;;http://evil.example\u0007click\u001b]8;;\u0007' });
    await fetch(new URL('/result', pageUrl), { method: 'POST', headers: { 'x-specprune-token': token }, body });
    const done = await outcome;
    expectUserError(done, /The bench page in the browser that opened the page failed \(run\): out of memory\[2J\]8;;http:\/\/evil\.exampleclick\]8;;\./);
    expect(withoutQrCode(done.stderr)).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  it('times out cleanly when no result arrives', async () => {
    const { outcome } = startManual(['--timeout', '1']);
    expectUserError(await outcome, /No result came back from the page at http:\/\/127\.0\.0\.1:\d+\/ within 1 s; open the URL on a device on the same network/);
  });
});
