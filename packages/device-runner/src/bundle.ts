import { fileURLToPath } from 'node:url';

/** Which payload to bundle: the node one (child process, ssh boards) or the browser page script. */
export type PayloadKind = 'node' | 'browser';

const cache = new Map<PayloadKind, Promise<string>>();

/**
 * Bundles the payload entry with esbuild into one file (CommonJS for node >= 18, ESM for browsers) and
 * returns its text; bundled once per process. esbuild is imported here, lazily.
 */
export function bundlePayload(kind: PayloadKind): Promise<string> {
  let bundle = cache.get(kind);
  if (!bundle) {
    bundle = build(kind);
    cache.set(kind, bundle);
    bundle.catch(() => cache.delete(kind));
  }
  return bundle;
}

async function build(kind: PayloadKind): Promise<string> {
  const esbuild = await import('esbuild');
  const fromSource = import.meta.url.endsWith('.ts');
  const extension = fromSource ? '.ts' : '.js';
  const entry = fileURLToPath(new URL(`./payload/${kind}-main${extension}`, import.meta.url));
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    // Run from the checkout's sources, the payload bundles the workspace packages it imports (core's PRNG) from theirs too.
    ...(fromSource ? { conditions: ['specprune-source'] } : {}),
    ...(kind === 'node'
      ? { platform: 'node', format: 'cjs', target: 'node18' }
      : { platform: 'browser', format: 'esm', target: 'es2020' }),
  } as const);
  return result.outputFiles[0]!.text;
}
