import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneSentence as expectRefused, runBin } from './hostile-helpers.js';
import { MODELS, ROOT, runCli, tempDir, type CliResult } from './helpers.js';

/**
 * Files: lose nothing, read nothing outside (issue 17). Every hostile case is generated in a fresh temp
 * folder; each asserts exit 2 with one sentence naming the path, the input bytes unchanged and nothing
 * left behind (the folder holds exactly what it held before).
 */

const PYTHON = '/usr/bin/python3';
const FIXTURES = path.join(ROOT, 'packages/cli/test/fixtures/file_models.py');
const BIN = path.join(ROOT, 'packages/cli/src/bin.ts');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const FAST = ['--method', 'magnitude', '--allocation', 'uniform'];

/** Every entry of a folder (hidden temp files included) with its bytes, to compare before/after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const stats = lstatSync(file);
    out[name] = stats.isFile() ? readFileSync(file).toString('base64') : stats.isSymbolicLink() ? 'link' : stats.isDirectory() ? 'dir' : 'special';
  }
  return out;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** An external-data model: `m.onnx` whose tensor W lives at `location`, bytes in `datafile`. */
function externalModel(dir: string, location = 'weights.bin', datafile = path.join(dir, location)): string {
  const model = path.join(dir, 'm.onnx');
  spawnSync(PYTHON, [FIXTURES, 'external', model, location, datafile], { stdio: 'pipe' });
  expect(existsSync(model)).toBe(true);
  return model;
}

describe('the input is never overwritten (files compared as files, not strings)', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(dir, 'm.onnx'));
    symlinkSync(dir, path.join(dir, 'same'));
  });

  it('-o naming the input through a symlinked folder', async () => {
    const before = snapshot(dir);
    const result = await runCli(['prune', 'm.onnx', '-o', 'same/m.onnx', ...FAST], { cwd: dir });
    expectRefused(result, /-o same\/m\.onnx is the input model m\.onnx \(the same file under another path\).*--in-place/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('-o naming the input through a hard link (same inode)', async () => {
    const linked = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(linked, 'm.onnx'));
    spawnSync('ln', [path.join(linked, 'm.onnx'), path.join(linked, 'hard.onnx')]);
    const before = snapshot(linked);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'hard.onnx', ...FAST], { cwd: linked }), /-o hard\.onnx is the input model m\.onnx/);
    expect(snapshot(linked)).toEqual(before);
  });

  it('--report naming the input (a link to it, and a model named .html)', async () => {
    const own = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(own, 'm.html'));
    symlinkSync('m.html', path.join(own, 'r.html'));
    const before = snapshot(own);
    expectRefused(await runCli(['prune', 'm.html', '-o', 'out.onnx', '--report', 'm.html', ...FAST], { cwd: own }), /--report m\.html is the input model m\.html/);
    expectRefused(await runCli(['prune', 'm.html', '-o', 'out.onnx', '--report', 'r.html', ...FAST], { cwd: own }), /--report r\.html is the input model m\.html \(the same file under another path\)/);
    expect(snapshot(own)).toEqual(before);
  });

  it("-o whose external data file is the input's external data file, or is the input itself", async () => {
    const ext = tempDir();
    // m.onnx keeps W in "out.onnx.data": writing -o out.onnx would put its data over it.
    externalModel(ext, 'out.onnx.data');
    const before = snapshot(ext);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'out.onnx', ...FAST], { cwd: ext }), /its external data file out\.onnx\.data\) is the external data file .*out\.onnx\.data of the input model/);
    // -o naming the data file itself.
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'out.onnx.data', ...FAST], { cwd: ext }), /-o out\.onnx\.data is the external data file/);
    // The input is named like another output's data file: -o m writes m.data.
    copyFileSync(MODELS.paddleCls, path.join(ext, 'n.data'));
    const withN = snapshot(ext);
    expectRefused(await runCli(['prune', 'n.data', '-o', 'n', ...FAST], { cwd: ext }), /-o n \(its external data file n\.data\) is the input model n\.data/);
    expect(snapshot(ext)).toEqual(withN);
    expect(Object.keys(before).every((k) => withN[k] === before[k])).toBe(true);
  });

  it('a calibration sample or the budget file as -o or --report', async () => {
    const own = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(own, 'm.onnx'));
    writeFileSync(path.join(own, 'budget.json'), JSON.stringify({ budgets: [{ model: 'out.onnx', maxBytes: 10_000_000 }] }));
    const before = snapshot(own);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'budget.json', '--budget', 'budget.json', ...FAST], { cwd: own }), /-o budget\.json is the budget file budget\.json/);
    expect(snapshot(own)).toEqual(before);
  });

  it('--in-place still allows -o = input (only that), and the result is a pruned model', async () => {
    const own = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(own, 'm.onnx'));
    const result = await runCli(['prune', 'm.onnx', '-o', 'm.onnx', '--in-place', '--json', ...FAST], { cwd: own });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(path.join(own, 'm.onnx')).equals(readFileSync(MODELS.paddleCls))).toBe(false);
    expect(readdirSync(own)).toEqual(['m.onnx']);
    // --in-place does not extend to the report.
    symlinkSync('m.onnx', path.join(own, 'r.html'));
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'm.onnx', '--in-place', '--report', 'r.html', ...FAST], { cwd: own }), /--report r\.html is the input model/);
  });
});

describe('external data outside the model folder through symbolic links is refused, naming the tensor', () => {
  const cases: Array<[string, (dir: string, outside: string) => void]> = [
    ['a symlinked file', (dir, outside) => symlinkSync(path.join(outside, 'secret.bin'), path.join(dir, 'weights.bin'))],
    ['a relative symlink that climbs out', (dir, outside) => symlinkSync(path.relative(dir, path.join(outside, 'secret.bin')), path.join(dir, 'weights.bin'))],
    ['a symlinked folder', (dir, outside) => symlinkSync(outside, path.join(dir, 'sub'))],
  ];
  for (const [what, link] of cases) {
    it(what, async () => {
      const outside = tempDir();
      const dir = tempDir();
      const location = what === 'a symlinked folder' ? 'sub/secret.bin' : 'weights.bin';
      externalModel(dir, location, path.join(outside, 'secret.bin'));
      link(dir, outside);
      const before = snapshot(dir);
      for (const argv of [['inspect', 'm.onnx'], ['prune', 'm.onnx', '-o', 'out.onnx', ...FAST]]) {
        expectRefused(await runCli(argv, { cwd: dir }), new RegExp(`tensor "W" has external data location "${escape(location)}", which leads \\(through a symbolic link\\) to .*secret\\.bin, outside the model's folder`));
      }
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it('a link inside the folder is fine', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'data'));
    externalModel(dir, 'weights.bin', path.join(dir, 'data', 'real.bin'));
    symlinkSync('data/real.bin', path.join(dir, 'weights.bin'));
    const result = await runCli(['inspect', 'm.onnx', '--json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.json<{ weights: Array<{ nnz: number }> }>().weights[0]!.nnz).toBe(512);
  });
});

describe('special files are refused before they are opened', () => {
  it('a FIFO as the model, for every command that reads a model', () => {
    const dir = tempDir();
    spawnSync('mkfifo', [path.join(dir, 'pipe.onnx')]);
    copyFileSync(MODELS.paddleCls, path.join(dir, 'm.onnx'));
    for (const argv of [['inspect', 'pipe.onnx'], ['prune', 'pipe.onnx', '-o', 'out.onnx'], ['spectrum', 'pipe.onnx', 'm.onnx'], ['eval', 'm.onnx', 'pipe.onnx'], ['bench', 'pipe.onnx']]) {
      const result = runBin(argv, dir);
      expect(result.timedOut, argv.join(' ')).toBe(false);
      expectRefused(result, /pipe\.onnx (is a named pipe \(FIFO\), not a regular file|does not exist or is not a file)/);
    }
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'pipe.onnx']);
  });

  it('a FIFO as external data', () => {
    const dir = tempDir();
    externalModel(dir, 'weights.bin', path.join(tempDir(), 'unused.bin'));
    spawnSync('mkfifo', [path.join(dir, 'weights.bin')]);
    for (const argv of [['inspect', 'm.onnx'], ['prune', 'm.onnx', '-o', 'out.onnx', ...FAST]]) {
      const result = runBin(argv, dir);
      expect(result.timedOut, argv.join(' ')).toBe(false);
      expectRefused(result, /tensor "W" is stored in external file "weights\.bin", which is a named pipe \(FIFO\)/);
    }
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'weights.bin']);
  });

  it('-o a character device is not replaced by a regular file', async () => {
    const dir = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(dir, 'm.onnx'));
    expectRefused(await runCli(['prune', 'm.onnx', '-o', '/dev/null', ...FAST], { cwd: dir }), /-o \/dev\/null is a character device, not a regular file/);
    expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(readdirSync(dir)).toEqual(['m.onnx']);
  });
});

describe('output folders: exit 2 with the path, nothing left behind', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    copyFileSync(MODELS.paddleCls, path.join(dir, 'm.onnx'));
    mkdirSync(path.join(dir, 'folder'));
  });

  it('a missing folder for -o and for --report', async () => {
    const before = snapshot(dir);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'nope/out.onnx', ...FAST], { cwd: dir }), /-o nope\/out\.onnx: folder .*nope does not exist; create it first/);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'out.onnx', '--report', 'nope/r.html', ...FAST], { cwd: dir }), /--report nope\/r\.html: folder .*nope does not exist/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('an output path that is a folder', async () => {
    const before = snapshot(dir);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'folder', ...FAST], { cwd: dir }), /-o folder is a folder; name a file to write/);
    mkdirSync(path.join(dir, 'folder.html'));
    expectRefused(await runCli(['prune', 'm.onnx', '-o', 'out.onnx', '--report', 'folder.html', ...FAST], { cwd: dir }), /--report folder\.html is a folder/);
    expect(readdirSync(path.join(dir, 'folder'))).toEqual([]);
    expect(Object.keys(snapshot(dir)).sort()).toEqual([...Object.keys(before), 'folder.html'].sort());
  });

  it('a read-only folder (for -o and --report)', async () => {
    // Root ignores permission bits: sysfs refuses new files to everyone.
    const readOnly = process.getuid?.() === 0 ? '/sys' : path.join(dir, 'ro');
    if (readOnly !== '/sys') {
      mkdirSync(readOnly);
      chmodSync(readOnly, 0o555);
    }
    const before = snapshot(dir);
    expectRefused(await runCli(['prune', 'm.onnx', '-o', path.join(readOnly, 'out.onnx'), ...FAST], { cwd: dir }), new RegExp(`cannot write into folder ${escape(readOnly)}`));
    expectRefused(
      await runCli(['prune', 'm.onnx', '-o', 'out.onnx', '--report', path.join(readOnly, 'r.html'), ...FAST], { cwd: dir }),
      new RegExp(`--report ${escape(readOnly)}/r\\.html: cannot write into folder`),
    );
    expect(snapshot(dir)).toEqual(before);
    expect(existsSync(path.join(readOnly, 'out.onnx'))).toBe(false);
  });
});

describe('a model that cannot be read is exit 2 in every command', () => {
  const dir = tempDir();
  copyFileSync(MODELS.paddleCls, path.join(dir, 'm.onnx'));
  mkdirSync(path.join(dir, 'folder'));
  const commands: Array<[string, (model: string) => string[]]> = [
    ['inspect', (m) => ['inspect', m]],
    ['prune', (m) => ['prune', m, '-o', 'out.onnx']],
    ['spectrum', (m) => ['spectrum', m, 'm.onnx']],
    ['spectrum (pruned)', (m) => ['spectrum', 'm.onnx', m]],
    ['eval', (m) => ['eval', 'm.onnx', m]],
    ['bench', (m) => ['bench', m]],
  ];
  for (const [name, argv] of commands) {
    it(`${name}: a missing file and a folder`, async () => {
      expectRefused(await runCli(argv('nope.onnx'), { cwd: dir }), /nope\.onnx does not exist.*(check the path of the model|pass the path of an \.onnx model)/);
      expectRefused(await runCli(argv('folder'), { cwd: dir }), /folder (is a folder|does not exist or is not a file)/);
      expect(readdirSync(dir).sort()).toEqual(['folder', 'm.onnx']);
    });
  }

  it('check: a budget whose model is missing', async () => {
    writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ budgets: [{ model: 'nope.onnx', maxBytes: 1000 }] }));
    const result = await runCli(['check', '--budget', 'b.json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/nope\.onnx does not exist/);
    expect(result.stderr).not.toMatch(/internal error/);
  });
});

describe('stdout closed by the reader', () => {
  it('`specprune inspect MODEL | head -1`: exits 0 quietly', async () => {
    const child = spawn(process.execPath, ['--conditions=specprune-source', '--import', TSX, BIN, 'inspect', MODELS.paddleCls], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The reader went away before the first line (as `| head -0` would): every write meets a closed pipe.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
