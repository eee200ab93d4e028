/**
 * The repository's plain JavaScript scripts (benchmarks, build helpers) are not type-checked by `pnpm lint`:
 * each must at least parse, or `pnpm bench` fails only when someone runs it.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

describe('plain JavaScript scripts', () => {
  const scripts = ['bench', 'scripts', '.ci'].flatMap((dir) =>
    readdirSync(path.join(ROOT, dir))
      .filter((name) => name.endsWith('.mjs') || name.endsWith('.js'))
      .map((name) => path.join(dir, name)),
  );

  it('there are some (bench/run.mjs among them)', () => {
    expect(scripts).toContain(path.join('bench', 'run.mjs'));
  });

  it.each(scripts)('%s parses (node --check)', (script) => {
    expect(() => execFileSync(process.execPath, ['--check', path.join(ROOT, script)], { stdio: 'pipe' })).not.toThrow();
  });
});
