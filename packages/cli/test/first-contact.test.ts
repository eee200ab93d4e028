import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import yargs, { type Argv } from 'yargs';
import { commands } from '../src/commands/index.js';
import { closestFlag, editDistance } from '../src/did-you-mean.js';
import { renderExamples } from '../src/help-examples.js';
import { invocationFolder } from '../src/invocation-folder.js';
import { TOP_LEVEL_EXAMPLES } from '../src/run.js';
import { declaredOptions } from '../src/yargs-options.js';
import { MODELS, ROOT, runCli, tempDir } from './helpers.js';

const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const BIN = path.join(ROOT, 'packages/cli/src/bin.ts');

/** The examples a command's builder declares (its own `.example()` calls), `$0` as the user sees it. */
function declaredExamples(build: (y: Argv) => Argv): string[] {
  const y = yargs([]);
  const found: string[] = [];
  (y as unknown as Record<string, unknown>).example = (command: string) => {
    found.push(command.replace(/\$0/g, 'specprune'));
    return y;
  };
  build(y);
  return found;
}

/** Values that get a command's positionals past yargs (the run fails later, or never starts). */
function positionalsOf(command: string): string[] {
  return [...command.matchAll(/<(\w+)>/g)].map(([, name]) => (name === 'action' ? 'check' : name === 'target' ? 'ssh://pi@board' : 'm.onnx'));
}

function flagsOf(build: (y: Argv) => Argv): string[] {
  const options = declaredOptions(build(yargs([])));
  return Object.keys(options.key).filter((key) => key.length > 1 && !options.hiddenOptions.includes(key));
}

describe('--help examples: every command on one line', () => {
  const cases = [{ name: '(top level)', argv: ['--help'], examples: TOP_LEVEL_EXAMPLES.map(([c]) => c.replace(/\$0/g, 'specprune')) }].concat(
    commands.map((command) => ({ name: command.command.split(' ')[0]!, argv: [command.command.split(' ')[0]!, '--help'], examples: declaredExamples(command.builder) })),
  );

  it.each(cases)('$name at 160 columns', async ({ argv, examples }) => {
    const result = await runCli(argv, { columns: 160 });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    const section = lines.slice(lines.indexOf('Examples:') + 1);
    for (const example of examples) {
      // Copying the line gives the whole command: it is the line itself, or the line's first column.
      expect(section.some((line) => line === `  ${example}` || line.startsWith(`  ${example}  `)), example).toBe(true);
    }
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(110);
  });

  it('the top-level help shows the path from inspect to check, with a realistic --shape', async () => {
    const { stdout } = await runCli(['--help'], { columns: 160 });
    for (const command of ['inspect', 'prune', 'eval', 'bench', 'check']) expect(stdout).toMatch(new RegExp(`^  specprune ${command}\\b`, 'm'));
    expect(stdout).toMatch(/^ {2}specprune prune model\.onnx -o \S+ --shape x=1x3x224x224$/m);
  });

  it.each(['eval', 'bench', 'prune'])('%s: every generated-input example can be copied with a realistic --shape', (name) => {
    const examples = declaredExamples(commands.find((c) => c.command.startsWith(`${name} `))!.builder);
    const generated = examples.filter((e) => !/--inputs|--calibration/.test(e));
    expect(generated.length).toBeGreaterThan(0);
    for (const example of generated) expect(example, example).toMatch(/--shape \w+=1x\d+(x\d+)*/);
  });

  it('lays examples side by side when they all fit, else each description under its command', () => {
    const examples = [
      ['$0 inspect m.onnx', 'weights'],
      ['$0 check', 'budgets'],
    ] as const;
    expect(renderExamples(examples, 80).split('\n')).toEqual(['Examples:', '  specprune inspect m.onnx  weights', '  specprune check           budgets', '']);
    expect(renderExamples(examples, 30).split('\n')).toEqual(['Examples:', '  specprune inspect m.onnx', '      weights', '  specprune check', '      budgets', '']);
  });
});

describe('a misspelt flag: "Did you mean"', () => {
  it('prune --sparsty 0.5 is exit 2 naming --sparsity', async () => {
    const result = await runCli(['prune', 'model.onnx', '-o', 'out.onnx', '--sparsty', '0.5']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('specprune: Unknown argument: sparsty. Did you mean --sparsity?\n');
  });

  // Every flag of every command, one letter dropped: the suggestion is that flag.
  const cases = commands.flatMap((command) =>
    flagsOf(command.builder)
      .filter((flag) => flag.length >= 5)
      .map((flag) => ({ command: command.command.split(' ')[0]!, positionals: positionalsOf(command.command), flag, typo: flag.slice(0, 2) + flag.slice(3) })),
  );
  it.each(cases)('$command --$typo suggests --$flag', async ({ command, positionals, flag, typo }) => {
    const result = await runCli([command, ...positionals, `--${typo}`, '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`specprune: Unknown argument: ${typo}. Did you mean --${flag}?\n`);
  });

  it('several misspelt flags: one suggestion each', async () => {
    const result = await runCli(['prune', 'model.onnx', '--sparsty', '0.5', '--methd', 'l1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('specprune: Unknown arguments: sparsty, methd. Did you mean --sparsity, --method?\n');
  });

  it('a flag like none of them: exit 2 pointing at --help, no guess', async () => {
    const result = await runCli(['eval', 'a.onnx', 'b.onnx', '--zzzzzzz', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^specprune: Unknown argument: zzzzzzz\. Run `specprune --help`/);
    expect(result.stderr).not.toContain('Did you mean');
  });

  it('a misspelt command gets the command', async () => {
    const result = await runCli(['prnue', 'model.onnx']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('specprune: prnue is not a command. Did you mean prune? (`specprune --help` lists the commands.)\n');
  });

  it('edit distance counts a swap of neighbours as one edit; short names get no guess', () => {
    expect(editDistance('sparsity', 'spasrity')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closestFlag('spasrity', ['seed', 'sparsity', 'storage'])).toBe('sparsity');
    expect(closestFlag('x', ['o', 'json'])).toBeUndefined();
    expect(closestFlag('sparsity', ['sparsity'])).toBeUndefined();
  });
});

describe('paths relative to where the user ran the command', () => {
  function packageFolder(script: string): { root: string; sub: string } {
    const root = tempDir('specprune-initcwd-');
    const sub = path.join(root, 'models', 'kws');
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'user-project', private: true, scripts: { specprune: script, gate: `${script} inspect kws.onnx` } }));
    copyFileSync(MODELS.wakeword, path.join(sub, 'rel.onnx'));
    return { root, sub };
  }
  const runBin = `node --conditions=specprune-source --import ${TSX} ${BIN}`;

  it('the bin resolves against INIT_CWD when a package script ran it with the user\'s arguments', () => {
    const { root, sub } = packageFolder(runBin);
    const env = { ...process.env, INIT_CWD: sub, npm_lifecycle_event: 'specprune' };
    const result = spawnSync(process.execPath, ['--conditions=specprune-source', '--import', TSX, BIN, 'inspect', 'rel.onnx', '--json'], { cwd: root, env, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).model.path).toBe('rel.onnx');
    // Without the package manager's variables the same call looks in the process's folder.
    const plain = spawnSync(process.execPath, ['--conditions=specprune-source', '--import', TSX, BIN, 'inspect', 'rel.onnx'], { cwd: root, env: { ...process.env, INIT_CWD: '', npm_lifecycle_event: '' }, encoding: 'utf8' });
    expect(plain.status).toBe(2);
    expect(plain.stderr).toMatch(/rel\.onnx/);
  });

  it('`pnpm specprune inspect rel.onnx` from a subfolder finds the file there', () => {
    const { sub } = packageFolder(runBin);
    const result = spawnSync('pnpm', ['-s', 'specprune', 'inspect', 'rel.onnx', '--json'], { cwd: sub, encoding: 'utf8', env: { ...process.env, npm_lifecycle_event: '', INIT_CWD: '' } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).model.path).toBe('rel.onnx');
  });

  it.each([
    ['no package manager', {}, 'cwd'],
    ['INIT_CWD without a script', { INIT_CWD: 'SUB' }, 'cwd'],
    ['a script that ends with the bin', { INIT_CWD: 'SUB', npm_lifecycle_event: 'specprune' }, 'sub'],
    ['a script with arguments of its own (relative to the package)', { INIT_CWD: 'SUB', npm_lifecycle_event: 'gate' }, 'cwd'],
    ['a script package.json does not have', { INIT_CWD: 'SUB', npm_lifecycle_event: 'npx' }, 'cwd'],
  ] as const)('%s', (_name, env, expected) => {
    const { root, sub } = packageFolder('tsx packages/cli/src/bin.ts');
    const resolved = invocationFolder(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === 'SUB' ? sub : v])), root);
    expect(resolved).toBe(expected === 'sub' ? sub : root);
  });
});
