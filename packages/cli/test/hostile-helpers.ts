import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { ROOT, type CliResult } from './helpers.js';

/**
 * Runs the real bin in a child process with a hard timeout: a hostile file that makes the CLI block
 * (a FIFO opened for reading) must fail the test, not hang the test worker. `timedOut` says it was killed.
 */
export function runBin(argv: string[], cwd: string, timeoutMs = 20_000): CliResult & { timedOut: boolean; ms: number } {
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--conditions=specprune-source', '--import', pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href, path.join(ROOT, 'packages/cli/src/bin.ts'), ...argv], {
    cwd,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  const stdout = child.stdout ?? '';
  return {
    code: child.status ?? -1,
    stdout,
    stderr: child.stderr ?? '',
    timedOut: child.signal === 'SIGKILL',
    ms: Date.now() - started,
    json: <T>() => JSON.parse(stdout) as T,
  };
}

export function mkfifo(file: string): void {
  execFileSync('mkfifo', [file]);
}

/**
 * Exit 2 with one line on stderr (one sentence: "specprune: ...", ending in a full stop) that matches
 * `names`, nothing on stdout, no stack trace, no "internal error".
 */
export function expectOneSentence(result: CliResult, names: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^specprune: .+\.$/);
  expect(lines[0]).toMatch(names);
  expect(result.stderr).not.toMatch(/internal error|\n\s+at |Error:/);
}
