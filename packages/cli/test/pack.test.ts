import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { MODELS, ROOT, runCli, tempDir } from './helpers.js';
import { readmeExample } from './readme-examples.js';

/** The packages users install, in dependency order. */
const PACKAGES = ['core', 'onnx-io', 'device-runner', 'prune', 'cli'];

/** Runs a command without blocking the test worker (npm install takes a minute; vitest's RPC must stay alive). */
function sh(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** An environment like a user's shell: no workspace conditions, no pnpm script context. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of Object.keys(env)) if (key.startsWith('npm_') || key === 'INIT_CWD' || key === 'NODE_OPTIONS' || key.startsWith('VITEST')) delete env[key];
  return env;
}

describe('the packages as users get them: packed, installed with npm into an empty folder, run', () => {
  it('npx specprune prunes a real model, import { prune } from "specprune" works, and the browser entry bundles without Node', async () => {
    // Build every package to dist/ (declarations included), then pack them as they would be published.
    const build = await sh('pnpm', ['-s', 'build'], { cwd: ROOT });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const packs = tempDir('specprune-packs-');
    for (const pkg of PACKAGES) expect((await sh('pnpm', ['pack', '--pack-destination', packs], { cwd: path.join(ROOT, 'packages', pkg) })).status).toBe(0);
    const tarballs = readdirSync(packs).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(PACKAGES.length);
    for (const tarball of tarballs) {
      const manifest = JSON.parse((await sh('tar', ['-xzOf', path.join(packs, tarball), 'package/package.json'], { cwd: packs })).stdout) as { exports: Record<string, { default?: string } | string>; dependencies?: Record<string, string> };
      // Exports point at compiled JavaScript; workspace: versions are replaced by real ones.
      for (const target of Object.values(manifest.exports)) if (typeof target !== 'string') expect(target.default).toMatch(/^\.\/dist\/.*\.js$/);
      for (const version of Object.values(manifest.dependencies ?? {})) expect(version).not.toMatch(/workspace:/);
    }

    const project = tempDir('specprune-user-');
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
    // The README's advice for npm users: skip onnxruntime-node's install script (its CPU binaries ship inside).
    const install = await sh('npm', ['install', '--no-audit', '--no-fund', ...tarballs.map((t) => path.join(packs, t))], { cwd: project, env: userEnv({ ONNXRUNTIME_NODE_INSTALL: 'skip' }) });
    expect(install.status, install.stderr).toBe(0);
    expect(existsSync(path.join(project, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node'))).toBe(true);

    copyFileSync(MODELS.paddleCls, path.join(project, 'cls.onnx'));
    const version = await sh('npx', ['specprune', '--version'], { cwd: project, env: userEnv() });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(ROOT, 'packages/cli/package.json'), 'utf8')).version);

    const cli = await sh('npx', ['specprune', 'prune', 'cls.onnx', '-o', 'out/cls.pruned.onnx', '--shape', 'x=1x3x48x192', '--sparsity', '0.5', '--json'], { cwd: project, env: userEnv() });
    // The output folder does not exist: a clear error first, then the real run.
    expect(cli.status).toBe(2);
    expect(cli.stderr).toMatch(/out/);
    mkdirSync(path.join(project, 'out'));
    const pruned = await sh('npx', ['specprune', 'prune', 'cls.onnx', '-o', 'out/cls.pruned.onnx', '--shape', 'x=1x3x48x192', '--sparsity', '0.5', '--json'], { cwd: project, env: userEnv() });
    expect(pruned.status, pruned.stderr).toBe(0);
    const report = JSON.parse(pruned.stdout) as { sparsity: number; allocationBasis: string; fidelity: { measured: boolean } };
    expect(report.sparsity).toBeCloseTo(0.5, 2);
    expect(report.allocationBasis).toBe('sensitivity-scan');
    expect(report.fidelity.measured).toBe(true);
    // spectrum on the installed package's worker threads gives what it computes in place.
    const spectra = await Promise.all(['1', '2'].map((threads) => sh('npx', ['specprune', 'spectrum', 'cls.onnx', 'out/cls.pruned.onnx', '--json', '--threads', threads], { cwd: project, env: userEnv() })));
    expect(spectra[1]!.status, spectra[1]!.stderr).toBe(0);
    expect(spectra[1]!.stdout).toBe(spectra[0]!.stdout);
    expect((JSON.parse(spectra[1]!.stdout) as { weights: unknown[] }).weights.length).toBeGreaterThan(1);

    writeFileSync(
      path.join(project, 'api.mjs'),
      `import { readFileSync } from 'node:fs';
import { prune } from 'specprune';
const { model, report } = await prune(new Uint8Array(readFileSync('cls.onnx')), { sparsity: 0.3, shape: { x: [1, 3, 48, 192] } });
process.stdout.write(JSON.stringify({ bytes: model.byteLength, sparsity: report.sparsity, method: report.method, measured: report.fidelity.measured }));
`,
    );
    const api = await sh(process.execPath, ['api.mjs'], { cwd: project, env: userEnv() });
    expect(api.status, api.stderr).toBe(0);
    const result = JSON.parse(api.stdout) as { bytes: number; sparsity: number; method: string; measured: boolean };
    expect(result).toMatchObject({ method: 'spectral', measured: true });
    expect(result.sparsity).toBeCloseTo(0.3, 2);
    expect(result.bytes).toBeGreaterThan(100_000);

    // The README's Node example, as a user copies it, against the installed package.
    writeFileSync(path.join(project, 'readme.mjs'), readmeExample('node'));
    const example = await sh(process.execPath, ['readme.mjs'], { cwd: project, env: userEnv() });
    expect(example.status, example.stderr).toBe(0);
    expect(example.stdout).toMatch(/^\d+ bytes, 50\.0% sparse, min cosine 0\.\d+/);
    expect(existsSync(path.join(project, 'cls.pruned.onnx'))).toBe(true);

    // The installed browser entry bundles for the browser (any Node import would fail the build).
    const bundle = await sh(
      process.execPath,
      ['-e', `require('esbuild').build({ entryPoints: [${JSON.stringify(path.join(project, 'node_modules/specprune/dist/browser.js'))}], bundle: true, platform: 'browser', format: 'esm', external: ['onnxruntime-web'], write: false, logLevel: 'error' }).then((r) => console.log(r.outputFiles[0].text.length))`],
      { cwd: path.join(project, 'node_modules/@specprune/device-runner'), env: userEnv() },
    );
    expect(bundle.status, bundle.stderr).toBe(0);
    expect(Number(bundle.stdout)).toBeGreaterThan(10_000);
  }, 600_000);

  it('the pruned file written by the installed CLI loads in onnxruntime-node', async () => {
    // Kept apart so a failure says which half broke; reuses nothing from the first test but the build.
    const project = tempDir('specprune-user2-');
    expect(existsSync(path.join(ROOT, 'packages/cli/dist/bin.js'))).toBe(true);
    const out = path.join(project, 'kws.onnx');
    const run = await sh(process.execPath, [path.join(ROOT, 'packages/cli/bin/specprune.js'), 'prune', MODELS.wakeword, '-o', out, '--method', 'magnitude', '--allocation', 'global'], { cwd: project, env: userEnv() });
    // The declared bin runs from the checkout too, once built (no tsx, no .ts files).
    expect(run.status, run.stderr).toBe(0);
    const session = await ort.InferenceSession.create(out);
    expect(session.inputNames.length).toBe(1);
    await session.release();
  });

  it('the built bin answers --version and --help without loading the CLI, with the very text the CLI prints', async () => {
    const bin = path.join(ROOT, 'packages/cli/bin/specprune.js');
    expect(existsSync(path.join(ROOT, 'packages/cli/dist/help.json'))).toBe(true);
    for (const argv of [['--help'], ['prune', '--help'], ['bench', '-h'], ['--version']]) {
      const fast = await sh(process.execPath, [bin, ...argv], { cwd: ROOT, env: userEnv() });
      const live = await runCli(argv);
      expect(fast.status).toBe(0);
      expect(fast.stdout, argv.join(' ')).toBe(live.stdout);
      expect(fast.stdout.length).toBeGreaterThan(5);
    }
  });
});
