import type { Browser } from 'playwright-core';
import { cleanText } from '../clean-text.js';
import { DeviceError, describeError } from '../errors.js';
import type { PagePost } from '../page-result.js';
import type { BenchServer } from '../server.js';
import type { Target, TargetContext } from '../target.js';
import type { Measurement, PayloadConfig } from '../types.js';
import { readPageResult, serveBenchPage } from './page.js';
import { waitForPage } from './wait.js';

/** Flags that keep a headless Chromium quiet and offline (ENVIRONMENT.md); the last one makes
 * performance.measureUserAgentSpecificMemory() answer at once instead of at the next GC. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-blink-features=ForceEagerMeasureMemory',
];

export const DEFAULT_BROWSER = '/usr/bin/chromium';

/** onnxruntime-web in a local headless Chromium driven by playwright-core; never downloads a browser. */
export class BrowserTarget implements Target {
  private browser: Browser | undefined;
  private server: BenchServer<PagePost> | undefined;

  constructor(private readonly context: TargetContext) {}

  async init(): Promise<void> {
    const executablePath = this.context.browserPath ?? DEFAULT_BROWSER;
    const { chromium } = await import('playwright-core');
    const args = [...CHROMIUM_ARGS];
    try {
      this.browser = await chromium.launch({ executablePath, args, headless: true, timeout: Math.min(this.context.timeoutMs, 60_000) });
    } catch (error) {
      const first = describeError(error).split(/ Call log:|\n/)[0]!.slice(0, 200);
      throw new DeviceError(`The browser ${executablePath} could not start (${first}); pass --browser with the path of a Chromium-family executable.`);
    }
  }

  async createSession(config: PayloadConfig): Promise<void> {
    this.server = await serveBenchPage({ host: '127.0.0.1', modelPath: this.context.modelPath, config, log: this.context.log });
  }

  async run(): Promise<Measurement> {
    const page = await this.browser!.newPage();
    const crashed = new Promise<never>((_, reject) => {
      page.on('crash', () => reject(new DeviceError(`The browser tab crashed while benchmarking ${this.context.modelLabel}; try fewer --threads or a smaller model.`)));
    });
    page.on('pageerror', (error) => this.context.log(`page error: ${cleanText(error.message, 500)}`));
    await page.goto(this.server!.url);
    const posted = await waitForPage(Promise.race([this.server!.result, crashed]), this.context, 'the headless browser');
    return readPageResult(posted, this.context.modelLabel, 'the headless browser');
  }

  async dispose(): Promise<void> {
    await this.server?.close().catch(() => {});
    await this.browser?.close().catch(() => {});
    this.server = undefined;
    this.browser = undefined;
  }
}
