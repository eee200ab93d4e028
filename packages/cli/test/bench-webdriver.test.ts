import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, expectBenchSchema, expectUserError, runCli } from './bench-helpers.js';
import { freePort } from './bench-sshd.js';

describe('specprune bench --target webdriver+http:// (chromedriver on loopback)', () => {
  let driver: ChildProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    driver = spawn('/usr/bin/chromedriver', [`--port=${port}`, '--allowed-ips=127.0.0.1'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => resolve(socket.destroy() !== undefined)).on('error', () => resolve(false));
      });
      if (open) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('chromedriver did not start');
  });
  afterAll(() => {
    driver?.kill();
  });

  it('benchmarks through a W3C session with the browser schema', async () => {
    const target = `webdriver+http://127.0.0.1:${port}`;
    const outcome = await runCli(['bench', MODELS.gemm, '--target', target, '--browser', '/usr/bin/chromium', '--threads', '1', '--runs', '4', '--warmup', '1', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    const result = outcome.json();
    expectBenchSchema(result, target, 4);
    expect(result.device).toMatchObject({ runtime: 'onnxruntime-web', crossOriginIsolated: true });
    expect(result.device.userAgent).toMatch(/Chrome\//);
    expect(outcome.stderr).toMatch(/webdriver session \w+ on http:\/\/127\.0\.0\.1/);
  });

  it('explains a session the driver cannot start', async () => {
    expectUserError(
      await runCli(['bench', MODELS.gemm, '--target', `webdriver+http://127.0.0.1:${port}`, '--browser', '/nonexistent/chromium']),
      /The WebDriver endpoint http:\/\/127\.0\.0\.1:\d+ refused to start a browser session: /,
    );
  });

  it('says an endpoint that does not answer cannot be reached', async () => {
    const closed = await freePort();
    expectUserError(
      await runCli(['bench', MODELS.gemm, '--target', `webdriver+http://127.0.0.1:${closed}`]),
      new RegExp(`Cannot reach the WebDriver endpoint http://127\\.0\\.0\\.1:${closed} \\(connection refused\\)`),
    );
  });
});
