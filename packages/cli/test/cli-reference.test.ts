import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { commands } from '../src/commands/index.js';
import { declaredOptions } from '../src/yargs-options.js';
import { ROOT, runCli } from './helpers.js';

/** docs/cli.md is checked against the yargs definitions both ways, so neither can drift from the other. */
const REFERENCE = readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const lines = REFERENCE.split('\n');
  const start = lines.indexOf(heading);
  if (start === -1) throw new Error(`docs/cli.md has no heading "${heading}"`);
  const level = /^#+/.exec(heading)![0].length;
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && /^#+/.exec(line)![0].length <= level);
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** Flags named in the first cell of the table rows of a text: `-o, --output OUT` gives o and output. */
function documentedFlags(text: string): string[] {
  const flags = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `-')) continue;
    const firstCell = line.split(' | ')[0]!;
    for (const [, name] of firstCell.matchAll(/(?:^|[\s`,|])--?([a-zA-Z][\w-]*)/g)) flags.add(name!);
  }
  return [...flags];
}

interface CodeFlags {
  /** Long names and their one-letter aliases, as typed after the dashes. */
  names: string[];
  booleans: string[];
  choices: Record<string, unknown[]>;
}

/** What a command's builder declares, minus its positionals and yargs' own --help/--version. */
function codeFlags(command: (typeof commands)[number]): CodeFlags {
  const options = declaredOptions(command.builder(yargs([])));
  const positionals = new Set([...command.command.matchAll(/[<[](\w+)[>\]]/g)].map(([, name]) => name!));
  const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const longs = Object.keys(options.key).filter((key) => !positionals.has(key) && key !== 'help' && key !== 'version');
  // yargs also records camelCase spellings as aliases; only the ones a builder declared count.
  const aliases = longs.flatMap((key) => (options.alias[key] ?? []).filter((alias) => alias !== camel(key)));
  return { names: [...longs, ...aliases], booleans: options.boolean, choices: options.choices };
}

describe('docs/cli.md documents every flag in code, and only those', () => {
  it.each(commands.map((command) => ({ name: command.command.split(' ')[0]!, command })))('specprune $name', ({ name, command }) => {
    const text = section(`### specprune ${name}`);
    const code = codeFlags(command);
    const documented = documentedFlags(text).map((flag) => {
      // `--no-sizes` documents the negation of the boolean `--sizes`.
      const negated = flag.startsWith('no-') ? flag.slice(3) : undefined;
      return negated && code.booleans.includes(negated) ? negated : flag;
    });
    const missing = code.names.filter((flag) => !documented.includes(flag));
    const unknown = documented.filter((flag) => !code.names.includes(flag));
    expect(missing, `flags of ${name} in code but not in its section of docs/cli.md`).toEqual([]);
    expect(unknown, `flags in the ${name} section of docs/cli.md that ${name} does not have`).toEqual([]);
    // Every documented choice list is the code's: a row "`--ep EP` | `wasm`, `webgpu` |".
    for (const [flag, choices] of Object.entries(code.choices).filter(([flag]) => code.names.includes(flag))) {
      const row = text.split('\n').find((line) => line.startsWith(`| \`--${flag} `) || line.startsWith(`| \`--${flag}\``));
      expect(row, `--${flag} row`).toBeDefined();
      const typeCell = row!.split(' | ')[1]!;
      expect(typeCell.split(', ').map((c) => c.replace(/`/g, '').trim()).sort(), `choices of ${name} --${flag}`).toEqual(choices.map(String).sort());
    }
  });

  it('every command in code has a section, and every section a command', () => {
    const sections = [...REFERENCE.matchAll(/^### specprune (\w+)$/gm)].map(([, name]) => name);
    expect(sections.sort()).toEqual(commands.map((c) => c.command.split(' ')[0]).sort());
  });

  it('the global options are the ones `specprune --help` lists', async () => {
    const { stdout } = await runCli(['--help'], { columns: 160 });
    const options = stdout.slice(stdout.indexOf('Options:'), stdout.indexOf('Examples:'));
    const listed = [...options.matchAll(/^\s+(?:-\w, )?--(\w[\w-]*)/gm)].map(([, name]) => name);
    expect(documentedFlags(section('## Global options')).sort()).toEqual(listed.sort());
  });

  it('the contract additions listed as not implemented are indeed absent from the code', () => {
    const rows = section('## Contract additions not implemented yet')
      .split('\n')
      .filter((line) => line.startsWith('| `prune --'));
    // An empty list says so in words (every addition implemented).
    if (rows.length === 0) expect(section('## Contract additions not implemented yet')).toMatch(/^None/m);
    const prune = codeFlags(commands.find((c) => c.command.startsWith('prune '))!);
    for (const row of rows) {
      const [, flag, value] = /^\| `prune --([\w-]+)(?: (\w+))?/.exec(row)!;
      // `--storage bitmask`: the flag exists, the value must not yet; others: the flag must not.
      if (value && prune.names.includes(flag!)) expect(prune.choices[flag!] ?? [], row).not.toContain(value);
      else expect(prune.names, row).not.toContain(flag);
    }
  });

  it('names every exit code the CLI uses', () => {
    const codes = [...section('## Exit codes').matchAll(/^\| (\d+) \|/gm)].map(([, code]) => Number(code));
    expect(codes.sort((a, b) => a - b)).toEqual([0, 1, 2, 70, 130, 143]);
  });

  it('the README links to it', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('](docs/cli.md)');
    expect(readme).not.toContain('../shared/CLI.md');
  });
});
