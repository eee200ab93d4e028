import { readFileSync } from 'node:fs';
import { VERSION } from './version.js';

/**
 * `--version` and `--help` without loading the CLI: the version from package.json, help text rendered at
 * build time (scripts/render-help.mjs writes dist/help.json for the widths help is laid out at). Node imports
 * hundreds of modules for the full CLI; these two answers need none of them. Returns the text to print, or
 * undefined when the full CLI must answer (any other argv, a terminal width with no rendered text, a checkout
 * running the TypeScript sources).
 */
export function fastAnswer(argv: readonly string[], columns: number | undefined): string | undefined {
  if (argv.length === 1 && argv[0] === '--version') return `${VERSION}\n`;
  const help = argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h') ? '' : argv.length === 2 && (argv[1] === '--help' || argv[1] === '-h') && /^[a-z]+$/.test(argv[0]!) ? argv[0]! : undefined;
  if (help === undefined) return undefined;
  let rendered: Record<string, Record<string, string>>;
  try {
    rendered = JSON.parse(readFileSync(new URL('./help.json', import.meta.url), 'utf8')) as Record<string, Record<string, string>>;
  } catch {
    return undefined;
  }
  return rendered[String(helpWidth(columns))]?.[help];
}

/** Help is laid out for the terminal's width, at most 110 columns; 100 when stdout is not a terminal. */
export function helpWidth(columns: number | undefined): number {
  return Math.min(HELP_MAX_COLUMNS, columns ?? HELP_DEFAULT_COLUMNS);
}

/** Help is laid out for the terminal's width, at most this many columns (longer lines read badly). */
export const HELP_MAX_COLUMNS = 110;
/** Help width when stdout is not a terminal (piped to a file or a pager). */
export const HELP_DEFAULT_COLUMNS = 100;
/** The widths build time renders help for. */
export const RENDERED_HELP_WIDTHS = [80, 100, 110] as const;
