import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

it('`specprune bench --help` and the device-runner entry load no runtime, browser driver or ssh library', () => {
  const script = `
    await import('./packages/device-runner/src/index.ts');
    const { run } = await import('./packages/cli/src/run.ts');
    await run({ argv: ['bench', '--help'], io: { stdout: { write() {} }, stderr: { write() {} }, cwd: process.cwd(), env: {} } });
    const require = (await import('node:module')).createRequire(import.meta.url);
    process.stdout.write(JSON.stringify(Object.keys(require.cache)));
  `;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--conditions=specprune-source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })) as string[];
  expect(loaded.length).toBeGreaterThan(0);
  expect(loaded.filter((file) => /[\\/](ssh2|playwright-core|onnxruntime-node|onnxruntime-web|qrcode)[\\/]/.test(file))).toEqual([]);
});
