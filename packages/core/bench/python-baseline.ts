import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Runs a Python snippet that prints one JSON line; undefined (with the reason) when numpy is unavailable. */
export function runPython<T>(code: string): T | { unavailable: string } {
  try {
    const out = execFileSync(PYTHON, ['-c', code], { encoding: 'utf8', maxBuffer: 1 << 20 });
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as T;
  } catch (error) {
    return { unavailable: (error as Error).message.split('\n')[0] };
  }
}

export function hasScipy(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import scipy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
