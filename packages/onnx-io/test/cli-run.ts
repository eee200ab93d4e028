import { run } from '../../cli/src/run.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the specprune CLI as a function with a fake process (as packages/cli/test/helpers.ts does). */
export async function runCli(argv: string[], cwd: string): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const started = performance.now();
  const code = await run({
    argv,
    io: {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      cwd,
      env: {},
    },
  });
  return { code, stdout, stderr, ms: performance.now() - started };
}
