import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Last word of a package script that runs specprune itself (the checkout's tsx entry or the installed bin). */
const BIN_NAMES = new Set(['bin.ts', 'bin.js', 'specprune', 'specprune.js']);

/**
 * The folder the user's relative paths are relative to. A package manager runs a script in the
 * package's folder (`pnpm specprune inspect rel.onnx` from a subfolder runs at the workspace root) and
 * sets INIT_CWD to the folder the user ran it from. That folder is the right one when every argument
 * came from the user: the script (`npm_lifecycle_event` names it in package.json) ends with specprune's
 * bin and passes no arguments of its own. A script that does (`"gate": "specprune check --budget ci/b.json"`)
 * wrote its paths relative to the package folder, so it keeps the process's folder, as does a run
 * outside any package script.
 */
export function invocationFolder(env: Record<string, string | undefined>, cwd: string): string {
  const initCwd = env.INIT_CWD;
  const event = env.npm_lifecycle_event;
  if (!initCwd || !event || path.resolve(initCwd) === path.resolve(cwd)) return cwd;
  const script = packageScript(path.join(cwd, 'package.json'), event);
  if (script === undefined) return cwd;
  const words = script.trim().split(/\s+/);
  return BIN_NAMES.has(path.basename(words[words.length - 1] ?? '')) ? path.resolve(initCwd) : cwd;
}

function packageScript(file: string, name: string): string | undefined {
  try {
    const scripts = (JSON.parse(readFileSync(file, 'utf8')) as { scripts?: Record<string, unknown> }).scripts;
    const script = scripts?.[name];
    return typeof script === 'string' ? script : undefined;
  } catch {
    return undefined; // not a package folder: the process's folder stays the reference
  }
}
