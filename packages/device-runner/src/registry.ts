import { DeviceError } from './errors.js';
import type { Target, TargetContext, TargetFactory, TargetSpec } from './target.js';

/** Targets by scheme. Pass an instance around; `createDefaultRegistry` fills one with the built-ins. */
export class TargetRegistry {
  private readonly factories = new Map<string, { factory: TargetFactory; usage: string }>();

  register(scheme: string, factory: TargetFactory, usage: string = scheme): this {
    this.factories.set(scheme, { factory, usage });
    return this;
  }

  /** Usage strings of every registered target, for help and error messages. */
  usages(): string[] {
    return [...this.factories.values()].map((f) => f.usage);
  }

  parse(raw: string): TargetSpec {
    const separator = raw.indexOf('://');
    const scheme = separator === -1 ? raw : raw.slice(0, separator);
    if (!this.factories.has(scheme)) {
      throw new DeviceError(`--target ${raw} is not a known target; use one of: ${this.usages().join(', ')}.`);
    }
    if (separator === -1) return { scheme, raw };
    let url: URL;
    try {
      url = new URL(scheme.startsWith('webdriver+') ? raw.slice('webdriver+'.length) : raw);
    } catch {
      throw new DeviceError(`--target ${raw} is not a valid URL; write it like ${this.factories.get(scheme)!.usage}.`);
    }
    return { scheme, raw, url };
  }

  async create(raw: string, context: TargetContext): Promise<Target> {
    const spec = this.parse(raw);
    return this.factories.get(spec.scheme)!.factory(spec, context);
  }
}

/** node, browser, manual, webdriver+http(s), ssh; each target module is imported only when used. */
export function createDefaultRegistry(): TargetRegistry {
  return new TargetRegistry()
    .register('node', async (spec, context) => new (await import('./targets/node.js')).NodeTarget(context), 'node')
    .register('browser', async (spec, context) => new (await import('./targets/browser.js')).BrowserTarget(context), 'browser')
    .register(
      'webdriver+http',
      async (spec, context) => new (await import('./targets/webdriver.js')).WebDriverTarget(spec, context),
      'webdriver+http://HOST:PORT',
    )
    .register(
      'webdriver+https',
      async (spec, context) => new (await import('./targets/webdriver.js')).WebDriverTarget(spec, context),
      'webdriver+https://HOST:PORT',
    )
    .register('manual', async (spec, context) => new (await import('./targets/manual.js')).ManualTarget(context), 'manual')
    .register('ssh', async (spec, context) => new (await import('./targets/ssh.js')).SshTarget(spec, context), 'ssh://USER@HOST[:PORT]');
}
