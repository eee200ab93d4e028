import { cleanText } from '../clean-text.js';
import { DeviceError, describeError } from '../errors.js';
import type { PagePost } from '../page-result.js';
import type { BenchServer } from '../server.js';
import type { Target, TargetContext, TargetSpec } from '../target.js';
import type { Measurement, PayloadConfig } from '../types.js';
import { CHROMIUM_ARGS } from './browser.js';
import { readPageResult, serveBenchPage } from './page.js';
import { waitForPage } from './wait.js';

const SESSION_TIMEOUT_MS = 120_000;

/**
 * onnxruntime-web in a browser reached through a W3C WebDriver endpoint (chromedriver, Selenium Grid,
 * device farms). The bench page is served on --host, which the remote browser must be able to reach.
 */
export class WebDriverTarget implements Target {
  private readonly endpoint: string;
  private sessionId: string | undefined;
  private server: BenchServer<PagePost> | undefined;

  constructor(
    spec: TargetSpec,
    private readonly context: TargetContext,
  ) {
    this.endpoint = spec.url!.href.replace(/\/$/, '');
  }

  private capabilities(): Record<string, unknown> {
    const { browserPath, capabilities } = this.context;
    const base: Record<string, unknown> = { browserName: 'chrome' };
    if (browserPath) base['goog:chromeOptions'] = { binary: browserPath, args: ['--headless=new', ...CHROMIUM_ARGS] };
    return { ...base, ...capabilities };
  }

  /** One WebDriver command; W3C errors and network failures become DeviceError sentences. */
  private async command(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown, timeoutMs = 30_000): Promise<unknown> {
    const signals = [AbortSignal.timeout(timeoutMs), ...(this.context.signal ? [this.context.signal] : [])];
    let response: Response;
    try {
      response = await fetch(`${this.endpoint}${route}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      if (this.context.signal?.aborted) throw new DeviceError('The benchmark was interrupted.');
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? describeError(error);
      throw new DeviceError(
        `Cannot reach the WebDriver endpoint ${this.endpoint} (${cause === 'ECONNREFUSED' ? 'connection refused' : cause}); check the address and that the driver or grid is running.`,
      );
    }
    const text = await response.text();
    let parsed: { value?: { error?: string; message?: string } & Record<string, unknown> };
    try {
      parsed = JSON.parse(text) as typeof parsed;
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    } catch {
      throw new DeviceError(`${this.endpoint} answered ${method} ${route} with HTTP ${response.status} and no JSON; is it a WebDriver endpoint?`);
    }
    if (!response.ok || parsed.value?.error) {
      // The endpoint may be anyone's (a device farm): what it says is cleaned before it reaches the terminal.
      const message = cleanText(describeError(parsed.value?.message ?? `HTTP ${response.status}`).split(' (Session info')[0]!, 300);
      const code = cleanText(String(parsed.value?.error ?? 'error'), 80);
      throw new DeviceError(`The WebDriver endpoint ${this.endpoint} refused ${route === '/session' ? 'to start a browser session' : `${method} ${route}`}: ${code}: ${message}.`);
    }
    return parsed.value;
  }

  async init(): Promise<void> {
    const value = (await this.command('POST', '/session', { capabilities: { alwaysMatch: this.capabilities() } }, Math.min(SESSION_TIMEOUT_MS, this.context.timeoutMs))) as {
      sessionId?: unknown;
    } | null | undefined;
    // The id goes into every later URL path and into the log: a plain token only.
    if (typeof value?.sessionId !== 'string' || !/^[^\u0000-\u0020\u007f-\u009f/?#%]{1,200}$/.test(value.sessionId)) throw new DeviceError(`The WebDriver endpoint ${this.endpoint} returned no usable session id; is it a W3C WebDriver endpoint?`);
    this.sessionId = value.sessionId;
    this.context.log(`webdriver session ${this.sessionId} on ${this.endpoint}`);
  }

  async createSession(config: PayloadConfig): Promise<void> {
    this.server = await serveBenchPage({ host: this.context.host ?? '127.0.0.1', modelPath: this.context.modelPath, config, log: this.context.log });
  }

  async run(): Promise<Measurement> {
    const where = `the browser at ${this.endpoint}`;
    // Navigation returns when the page has loaded; the benchmark itself reports back by POST.
    await this.command('POST', `/session/${this.sessionId}/url`, { url: this.server!.url }, this.context.timeoutMs);
    const posted = await waitForPage(this.server!.result, this.context, where, `check that it can reach ${new URL(this.server!.url).host} (--host), or raise --timeout`);
    return readPageResult(posted, this.context.modelLabel, where);
  }

  async dispose(): Promise<void> {
    if (this.sessionId) {
      const id = this.sessionId;
      this.sessionId = undefined;
      await this.command('DELETE', `/session/${id}`, undefined, 10_000).catch((error: unknown) =>
        this.context.log(`could not end webdriver session ${id} (${describeError(error)})`),
      );
    }
    await this.server?.close();
    this.server = undefined;
  }
}
