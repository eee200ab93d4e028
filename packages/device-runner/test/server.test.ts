import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBenchServer, type BenchServer } from '../src/server.js';

describe('bench page server', () => {
  let server: BenchServer;
  let origin: string;

  beforeAll(async () => {
    server = await startBenchServer({
      host: '127.0.0.1',
      routes: new Map([
        ['/', { body: '<!doctype html><title>page</title>', type: 'text/html' }],
        ['/ort/ort.wasm.min.mjs', { file: new URL(import.meta.url).pathname, type: 'text/javascript' }],
      ]),
    });
    origin = new URL(server.url).origin;
  });
  afterAll(() => server.close());

  it('serves the page on loopback with cross-origin isolation headers and the token in the URL', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{24}$/);
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(response.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(await response.text()).toContain('<title>page</title>');
    expect((await fetch(`${origin}/ort/ort.wasm.min.mjs`)).status).toBe(200);
  });

  it.each(['/ort/', '/ort', '/ort/../package.json', '/%2e%2e/%2e%2e/etc/passwd', '/ort/..%2fserver.test.ts', '//etc/passwd', '/index.html'])(
    'answers 404 for %s (no listing, no traversal)',
    async (pathname) => {
      const response = await fetch(`${origin}${pathname}`);
      expect(response.status).toBe(404);
    },
  );

  it('refuses other methods', async () => {
    expect((await fetch(`${origin}/`, { method: 'PUT', body: 'x' })).status).toBe(405);
  });

  it('accepts the result once, and only with the token', async () => {
    const post = (token: string, body = '{"ok":true}') => fetch(`${origin}/result`, { method: 'POST', headers: { 'x-specprune-token': token }, body });
    expect((await post('wrong')).status).toBe(403);
    expect((await post(server.token, 'not json')).status).toBe(400);
    expect((await post(server.token)).status).toBe(200);
    await expect(server.result).resolves.toEqual({ ok: true });
    expect((await post(server.token)).status).toBe(403);
  });
});
