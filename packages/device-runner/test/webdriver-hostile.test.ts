import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { benchmark } from '../src/benchmark.js';
import { DeviceError } from '../src/errors.js';
import { createDefaultRegistry } from '../src/registry.js';

/**
 * A WebDriver endpoint is often someone else's (a device farm). A real chromedriver never answers like
 * this, so a small server plays the hostile endpoint: its answers must end as one clean exit-2 sentence.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-wd-'));
const modelPath = path.join(dir, 'model.onnx');
writeFileSync(modelPath, 'never served: the session is refused first');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let endpoint: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (endpoint ? endpoint.close(() => resolve()) : resolve())));

async function hostileEndpoint(status: number, body: string): Promise<string> {
  endpoint = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(status, { 'Content-Type': 'application/json' }).end(body));
  });
  await new Promise<void>((resolve) => endpoint!.listen(0, '127.0.0.1', resolve));
  return `webdriver+http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
}

it.each([
  ['JSON null', 200, 'null', /answered POST \/session with HTTP 200 and no JSON/],
  ['a JSON string', 200, '"session"', /answered POST \/session with HTTP 200 and no JSON/],
  ['value null', 200, '{"value":null}', /returned no usable session id/],
  ['a session id that is a path', 200, '{"value":{"sessionId":"../../shutdown"}}', /returned no usable session id/],
  ['a session id with escapes', 200, '{"value":{"sessionId":"abc\\u001b[2J"}}', /returned no usable session id/],
  ['a session id that is an object', 200, '{"value":{"sessionId":{"id":1}}}', /returned no usable session id/],
  [
    'an error with escape sequences',
    500,
    JSON.stringify({ value: { error: 'session not created\u001b[2J', message: '\u001b]0;owned\u0007boom\u009b31m' } }),
    /refused to start a browser session: session not created\[2J: \]0;ownedboom31m\./,
  ],
  ['an error whose message is an object', 500, '{"value":{"error":{"x":1},"message":{"y":2}}}', /refused to start a browser session: \[object Object\]: \[object Object\]\./],
])('an endpoint answering %s is a user error with a clean sentence', async (_, status, body, pattern) => {
  const target = await hostileEndpoint(status, body);
  const error = await benchmark({ registry: createDefaultRegistry(), target, modelPath, runs: 1, timeoutMs: 10_000 }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DeviceError);
  expect((error as DeviceError).message).toMatch(pattern);
  expect((error as DeviceError).message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
});
