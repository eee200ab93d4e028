import { quoteShell } from '../remote-shell.js';

/**
 * Where uploaded runtimes live on a board: `${XDG_CACHE_HOME:-$HOME/.cache}/specprune/runtime/<version>-<platform>/`
 * (e.g. `~/.cache/specprune/runtime/1.30.0-linux-arm64/`). A folder counts only when its marker file, written
 * last, lists every file with its size and the sizes on the board still match; uploads go to a staging folder
 * beside it and are renamed into place, so an interrupted upload is never taken for a good one.
 */
export const RUNTIME_CACHE_SHELL_ROOT = '${XDG_CACHE_HOME:-$HOME/.cache}/specprune/runtime';

/** The marker file name inside a cache folder. */
export const CACHE_MARKER = '.specprune-complete';

/** One file of the runtime: path relative to the cache folder, size in bytes. */
export interface CachedFile {
  relative: string;
  bytes: number;
}

/** The marker's text: one `<bytes> <relative path>` line per file, sorted, so two uploads of one runtime agree. */
export function cacheManifest(files: readonly CachedFile[]): string {
  return files
    .map((f) => `${f.bytes} ${f.relative}`)
    .sort()
    .join('\n')
    .concat('\n');
}

/**
 * A shell script for the board that prints `root=<absolute cache root>` and `valid=yes|no` for the folder `key`
 * (its marker is there and every size it lists matches); when not valid and `stage` is on (the default), it also creates a staging folder
 * beside it and prints `stage=<absolute path>` (nothing when the cache cannot be created). The marker's lines
 * follow, prefixed with `m `.
 */
export function probeCacheScript(key: string, { stage = true }: { stage?: boolean } = {}): string {
  const dir = `"$root"/${quoteShell(key)}`;
  return [
    `root="${RUNTIME_CACHE_SHELL_ROOT}"`,
    'echo "root=$root"',
    'valid=no',
    `if [ -f ${dir}/${CACHE_MARKER} ]; then`,
    '  valid=yes',
    `  while read -r size file; do [ "$(wc -c < ${dir}/"$file" 2>/dev/null | tr -d ' ')" = "$size" ] || valid=no; done < ${dir}/${CACHE_MARKER}`,
    `  sed 's/^/m /' ${dir}/${CACHE_MARKER}`,
    'fi',
    'echo "valid=$valid"',
    ...(stage
      ? [
          'if [ "$valid" = no ] && mkdir -p "$root"; then echo "stage=$(mktemp -d "$root/.staging.XXXXXX")"; fi',
          // A runner killed outright (SIGKILL, power cut) cannot remove its staging folder; a later run does, after a day.
          `find "$root" -maxdepth 1 -name '.staging.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true`,
        ]
      : []),
  ].join('\n');
}

/** What probeCacheScript printed; `valid` only when the marker lists exactly `expected`. */
export function readCacheProbe(stdout: string, expected: string): { root?: string; valid: boolean; stage?: string } {
  const lines = stdout.split('\n');
  const value = (name: string) => {
    const found = lines.find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1);
    return found?.startsWith('/') ? found : undefined;
  };
  const marker = lines
    .filter((l) => l.startsWith('m '))
    .map((l) => `${l.slice(2)}\n`)
    .join('');
  return { root: value('root'), valid: lines.includes('valid=yes') && marker === expected, stage: value('stage') };
}

/** Writes the marker into the complete staging folder, then renames it into place (one file system). */
export function promoteStagingScript(stage: string, final: string, manifest: string): string {
  const s = quoteShell(stage);
  const f = quoteShell(final);
  return `printf '%s' ${quoteShell(manifest)} > ${s}/${CACHE_MARKER} && rm -rf -- ${f} && mv -- ${s} ${f}`;
}
