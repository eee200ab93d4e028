import type { PagePost } from '../page-result.js';
import type { BenchServer } from '../server.js';
import type { Target, TargetContext } from '../target.js';
import type { Measurement, PayloadConfig } from '../types.js';
import { readPageResult, serveBenchPage } from './page.js';
import { waitForPage } from './wait.js';

/**
 * Any browser a person opens: the page is served on --host, its URL and a QR code go to the log (stderr),
 * and the result comes back by POST with the page's one-time token.
 */
export class ManualTarget implements Target {
  private server: BenchServer<PagePost> | undefined;

  constructor(private readonly context: TargetContext) {}

  async init(): Promise<void> {}

  async createSession(config: PayloadConfig): Promise<void> {
    const host = this.context.host ?? '127.0.0.1';
    this.server = await serveBenchPage({ host, modelPath: this.context.modelPath, config, log: this.context.log });
    const { url } = this.server;
    const qrcode = await import('qrcode');
    const qr = await qrcode.toString(url, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
    this.context.log(`Open this page on the device to benchmark (same network), and keep it in front until it says it is done:\n\n  ${url}\n\n${qr}`);
    if (host === '127.0.0.1' || host === 'localhost' || host === '::1') {
      this.context.log('The page listens on loopback only: a phone cannot reach it. Pass --host with this machine\'s address on the network (e.g. --host 192.168.1.20).');
    }
    this.context.log(`Waiting up to ${this.context.timeoutMs / 1000} s for the result (--timeout).`);
  }

  async run(): Promise<Measurement> {
    const { url } = this.server!;
    const posted = await waitForPage(
      this.server!.result,
      this.context,
      `the page at ${url.slice(0, url.indexOf('?'))}`,
      'open the URL on a device on the same network (check that --host is an address it can reach), or raise --timeout',
    );
    return readPageResult(posted, this.context.modelLabel, 'the browser that opened the page');
  }

  async dispose(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
