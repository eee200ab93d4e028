import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { servedHosts } from '../src/served-hosts.js';
import { startBenchServer, type BenchServer } from '../src/server.js';
import { httpRequest, rawExchange } from './http-helpers.js';

/** DNS rebinding: a page on evil.example whose name resolves to this machine sends `Host: evil.example:PORT`. */

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-host-'));
const MODEL_MARKER = 'MODEL-BYTES-7f3a9c';
const modelFile = path.join(dir, 'model.onnx');
writeFileSync(modelFile, `${MODEL_MARKER}${'x'.repeat(1000)}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lan = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && !address.internal && address.family === 'IPv4')?.address;

const servers: BenchServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(host: string, advertiseHost?: string): Promise<{ server: BenchServer; port: number }> {
  const server = await startBenchServer({
    host,
    advertiseHost,
    routes: new Map([
      ['/', { body: '<!doctype html><title>bench page</title>', type: 'text/html' }],
      ['/model.onnx', { file: modelFile, type: 'application/octet-stream' }],
    ]),
  });
  servers.push(server);
  return { server, port: Number(new URL(server.url).port) };
}

/** GETs the page and the model with `host` as the Host header, connecting to `connectTo`. */
async function getBoth(port: number, host: string, connectTo = '127.0.0.1') {
  const page = await httpRequest({ connectTo, port, path: '/', headers: { host } });
  const model = await httpRequest({ connectTo, port, path: '/model.onnx', headers: { host } });
  return { page, model };
}

function expectServed({ page, model }: Awaited<ReturnType<typeof getBoth>>): void {
  expect(page.status).toBe(200);
  expect(page.body).toContain('bench page');
  expect(model.status).toBe(200);
  expect(model.body.startsWith(MODEL_MARKER)).toBe(true);
}

function expectRefused({ page, model }: Awaited<ReturnType<typeof getBoth>>): void {
  for (const response of [page, model]) {
    expect(response.status).toBe(421);
    expect(response.body).not.toContain('bench page');
    expect(response.body).not.toContain(MODEL_MARKER);
  }
}

describe('bench server on loopback answers only its own host names', () => {
  it.each(['127.0.0.1:PORT', 'localhost:PORT', 'LocalHost:PORT', '[::1]:PORT'])('serves Host %s', async (template) => {
    const { port } = await serve('127.0.0.1');
    expectServed(await getBoth(port, template.replace('PORT', String(port))));
  });

  it.each([
    'evil.example:PORT',
    'evil.example',
    '127.0.0.1.nip.io:PORT',
    'localhost.:PORT',
    '127.0.0.1',
    '127.0.0.1:OTHER',
    '127.0.0.1:PORT.evil.example',
    'localhost:PORT@evil.example',
  ])('refuses Host %j with 421 and serves neither the page nor the model', async (template) => {
    const { port } = await serve('127.0.0.1');
    expectRefused(await getBoth(port, template.replace('PORT', String(port)).replace('OTHER', String(port + 1))));
  });

  it.each([
    ['an HTTP/1.0 request without Host', 'GET /model.onnx HTTP/1.0\r\n\r\n'],
    ['an empty Host', 'GET /model.onnx HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n'],
  ])('refuses %s', async (_, text) => {
    const { port } = await serve('127.0.0.1');
    const answer = await rawExchange(port, text);
    expect(answer).toMatch(/^HTTP\/1\.[01] 4\d\d /);
    expect(answer).not.toContain(MODEL_MARKER);
  });

  it('does not take a result posted under a foreign Host, even with the right token', async () => {
    const { server, port } = await serve('127.0.0.1');
    const post = (host: string) =>
      httpRequest({ port, path: '/result', method: 'POST', headers: { host, 'x-specprune-token': server.token }, body: '{"ok":true}' });
    expect((await post(`evil.example:${port}`)).status).toBe(421);
    const settled = await Promise.race([server.result.then(() => 'settled'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 200))]);
    expect(settled).toBe('waiting');
    expect((await post(`127.0.0.1:${port}`)).status).toBe(200);
    await expect(server.result).resolves.toEqual({ ok: true });
  });

  it('serves the name it was started with (--host localhost)', async () => {
    const { server, port } = await serve('localhost');
    expect(server.url).toMatch(/^http:\/\/localhost:\d+\//);
    const connectTo = (await httpRequest({ connectTo: 'localhost', port, headers: { host: `localhost:${port}` } })).status === 200 ? 'localhost' : '127.0.0.1';
    expectServed(await getBoth(port, `localhost:${port}`, connectTo));
    expectRefused(await getBoth(port, `evil.example:${port}`, connectTo));
  });
});

describe.skipIf(!lan)('bench server on a LAN address (the manual target with --host)', () => {
  it(`bound to ${lan}: serves that address only`, async () => {
    const { server, port } = await serve(lan!);
    expect(new URL(server.url).host).toBe(`${lan}:${port}`);
    expectServed(await getBoth(port, `${lan}:${port}`, lan));
    expectRefused(await getBoth(port, `evil.example:${port}`, lan));
    expectRefused(await getBoth(port, `localhost:${port}`, lan));
  });

  it(`bound to 0.0.0.0 advertising ${lan}: serves this machine's addresses and loopback names, nothing else`, async () => {
    const { server, port } = await serve('0.0.0.0', lan);
    expect(new URL(server.url).host).toBe(`${lan}:${port}`);
    expectServed(await getBoth(port, `${lan}:${port}`, lan));
    expectServed(await getBoth(port, `127.0.0.1:${port}`));
    expectServed(await getBoth(port, `localhost:${port}`));
    expectRefused(await getBoth(port, `evil.example:${port}`, lan));
    expectRefused(await getBoth(port, `0.0.0.0:${port}`));
    expectRefused(await getBoth(port, `10.255.255.1:${port}`));
  });
});

describe('servedHosts', () => {
  it('lists the bound address, the requested name and the advertised address with the port, lower-case, IPv6 in brackets', () => {
    expect([...servedHosts({ requested: 'Laptop.Local', bound: '192.0.2.7', advertised: 'Laptop.Local', port: 8080 })].sort()).toEqual([
      '192.0.2.7:8080',
      'laptop.local:8080',
    ]);
    expect(servedHosts({ requested: '::1', bound: '::1', advertised: '::1', port: 9 })).toEqual(new Set(['[::1]:9', 'localhost:9', '127.0.0.1:9']));
  });

  it('accepts the bare host only on port 80, where browsers leave the port out', () => {
    expect(servedHosts({ requested: '127.0.0.1', bound: '127.0.0.1', advertised: '127.0.0.1', port: 80 }).has('127.0.0.1')).toBe(true);
    expect(servedHosts({ requested: '127.0.0.1', bound: '127.0.0.1', advertised: '127.0.0.1', port: 81 }).has('127.0.0.1')).toBe(false);
  });

  it('keeps 0.0.0.0 only when nothing better could be announced (no external address)', () => {
    expect(servedHosts({ requested: '0.0.0.0', bound: '0.0.0.0', advertised: '0.0.0.0', port: 5 }).has('0.0.0.0:5')).toBe(true);
    expect(servedHosts({ requested: '0.0.0.0', bound: '0.0.0.0', advertised: '192.0.2.9', port: 5 }).has('0.0.0.0:5')).toBe(false);
  });
});
