import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { benchmark } from '../src/benchmark.js';
import { createDefaultRegistry } from '../src/registry.js';
import { startBenchServer } from '../src/server.js';

/** Clients that never finish a request (slowloris) must not keep `bench --target manual` past its timeout. */

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-slow-'));
const modelPath = path.join(dir, 'model.onnx');
writeFileSync(modelPath, 'served, never run here');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Opens a connection, sends `head`, then a byte every 100 ms; resolves when the server closes it. */
function dribble(url: URL, head: string): { closed: Promise<void>; socket: Socket } {
  const socket = connect(Number(url.port), url.hostname);
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    socket.write(head);
    timer = setInterval(() => socket.write(' '), 100);
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => (clearInterval(timer), resolve())));
  return { closed, socket };
}

it('a result body that never ends, and headers that never end, do not outlast the run timeout', async () => {
  const log: string[] = [];
  let connections: ReturnType<typeof dribble>[] = [];
  const started = Date.now();
  const run = benchmark({
    registry: createDefaultRegistry(),
    target: 'manual',
    modelPath,
    runs: 3,
    warmup: 1,
    timeoutMs: 2000,
    log: (line) => {
      log.push(line);
      const match = /(http:\/\/\S+\?token=[\w-]+)/.exec(line);
      if (!match || connections.length) return;
      const url = new URL(match[1]!);
      const token = url.searchParams.get('token')!;
      const host = `Host: ${url.host}\r\n`;
      connections = [
        dribble(url, `POST /result HTTP/1.1\r\n${host}x-specprune-token: ${token}\r\nContent-Length: 100000\r\n\r\n{"ok":true,`),
        dribble(url, `POST /result HTTP/1.1\r\n${host}x-specprune-token: ${token}\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n`),
        dribble(url, `POST /progress HTTP/1.1\r\n${host}x-specprune-token: ${token}\r\nContent-Length: 4000\r\n\r\n`),
        dribble(url, `GET / HTTP/1.1\r\n${host}X-Slow: `),
      ];
    },
  });
  await expect(run).rejects.toThrow(/No result came back from the page at http:\/\/127\.0\.0\.1:\d+\/ within 2 s/);
  const elapsedMs = Date.now() - started;
  expect(connections).toHaveLength(4);
  // Every slow connection is cut when the run ends, not when the client gives up.
  await Promise.all(connections.map((c) => c.closed));
  expect(Date.now() - started).toBeLessThan(elapsedMs + 1000);
  expect(elapsedMs).toBeLessThan(6000);
});

it('an endless body without the token is answered 403 and its connection closed at once, unread', async () => {
  const server = await startBenchServer({ host: '127.0.0.1', routes: new Map() });
  const url = new URL(server.url);
  const started = Date.now();
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(Number(url.port), '127.0.0.1', () =>
      socket.write(`POST /result HTTP/1.1\r\nHost: ${url.host}\r\nx-specprune-token: wrong\r\nContent-Length: 100000000\r\n\r\n{`),
    );
    const timer = setInterval(() => socket.write('x'.repeat(1000)), 50);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (clearInterval(timer), resolve(data)));
  });
  await server.close();
  expect(answer).toMatch(/^HTTP\/1\.1 403 /);
  expect(Date.now() - started).toBeLessThan(1000);
});
