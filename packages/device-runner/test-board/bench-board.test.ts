import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, expectBenchSchema, expectUserError, runCli, tempDir, writeBrokenModel } from '../../cli/test/bench-helpers.js';
import { BOARD_ROOT, OLD_NODE_VERSION, boardUnavailableReason, ensureBoardRoot, startEmulatedBoard, type EmulatedBoard } from './emulated-board.js';

const unavailable = boardUnavailableReason();
if (unavailable) process.stderr.write(`test:board: skipping the emulated ARM64 board: ${unavailable}\n`);

// In CI the lane must run: a machine that cannot host the board fails it instead of skipping.
describe.runIf(unavailable !== undefined && process.env.CI)('emulated ARM64 board in CI', () => {
  it('can run here', () => {
    throw new Error(`test:board cannot run: ${unavailable}`);
  });
});

describe.skipIf(unavailable !== undefined)(`specprune bench ssh:// on an emulated ARM64 board (Debian bookworm, node 18, root ${BOARD_ROOT})`, () => {
  let board: EmulatedBoard;
  /** The board's /tmp before the lane: every bench must leave it as it was. */
  let tmpBefore: Set<string>;
  const env = { HOME: '/nonexistent-home' };
  const cacheKey = '1.30.0-linux-arm64';
  const target = (port = board.port) => `ssh://root@127.0.0.1:${port}`;
  const sshArgs = (port?: number) => ['--target', target(port), '--ssh-key', board.userKey, '--known-hosts', board.knownHosts];
  const log = (line: string) => process.stderr.write(`${line}\n`);

  beforeAll(async () => {
    const { root, builtMs } = await ensureBoardRoot(log);
    if (builtMs !== undefined) log(`test:board: cold board build took ${(builtMs / 1000).toFixed(0)} s`);
    // Start like a freshly flashed board: no runtime cached from an earlier lane.
    rmSync(path.join(root, 'root/.cache/specprune'), { recursive: true, force: true });
    board = await startEmulatedBoard(root);
    tmpBefore = new Set(readdirSync(board.boardTmp));
  });
  afterAll(() => board?.stop());

  const expectBoardClean = async () => {
    // The payload removes its folder itself when the connection dies; under emulation give it a while.
    const leftovers = () => [
      ...readdirSync(board.boardTmp).filter((name) => !tmpBefore.has(name)),
      ...(existsSync(board.cacheHere) ? readdirSync(board.cacheHere).filter((name) => name.startsWith('.staging')) : []),
    ];
    for (let i = 0; i < 150 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(leftovers()).toEqual([]);
  };

  it('uploads the arm64 runtime into the board cache, runs on node 18, returns the full schema, and cleans up', async () => {
    const outcome = await runCli(['bench', MODELS.gemm, ...sshArgs(), '--runs', '5', '--warmup', '1', '--json'], { env });
    expect(outcome.code, outcome.stderr).toBe(0);
    const result = outcome.json();
    expectBenchSchema(result, target(), 5);
    expect(result.device).toMatchObject({ arch: 'arm64', runtime: 'onnxruntime-node', runtimeVersion: '1.30.0', engine: 'node v18.20.4' });
    expect(result.device.os).toMatch(/Debian GNU\/Linux 12 \(bookworm\)/);
    expect(result.peakMemorySource).toBe('VmHWM');
    expect(outcome.stderr).toMatch(/: aarch64, Debian GNU\/Linux 12 \(bookworm\), node v18\.20\.4;/);
    expect(outcome.stderr).toContain(`has no onnxruntime-node: uploading onnxruntime-node 1.30.0 for linux-arm64 (`);
    expect(outcome.stderr).toContain(`into its cache ${board.cacheOnBoard}/${cacheKey}`);
    expect(outcome.stderr).toContain(`clear it with: ssh -p ${board.port} root@127.0.0.1 rm -rf '${board.cacheOnBoard}'`);
    expect(existsSync(path.join(board.cacheHere, cacheKey, '.specprune-complete'))).toBe(true);
    expect(existsSync(path.join(board.cacheHere, cacheKey, 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64'))).toBe(true);
    await expectBoardClean();
  });

  it('reuses the cached runtime the second time (a CNN with a fixed --shape)', async () => {
    const outcome = await runCli(['bench', MODELS.cnn, ...sshArgs(), '--shape', 'x=1x3x48x192', '--runs', '3', '--warmup', '1', '--json'], { env });
    expect(outcome.code, outcome.stderr).toBe(0);
    const result = outcome.json();
    expectBenchSchema(result, target(), 3);
    expect(result.device).toMatchObject({ arch: 'arm64', runtimeVersion: '1.30.0', engine: 'node v18.20.4' });
    expect(outcome.stderr).toContain(`using onnxruntime-node 1.30.0 for linux-arm64 cached on the board in ${board.cacheOnBoard}/${cacheKey}`);
    expect(outcome.stderr).not.toMatch(/uploading onnxruntime-node/);
    await expectBoardClean();
  });

  it('runs what prune writes: a structurally pruned CNN (channels removed) and bitmask storage (its decode folded by the board runtime)', async () => {
    // Pruned here, benchmarked there: the written models must load and run on ARM64 under node 18 too.
    const dir = tempDir('board-pruned');
    const structured = path.join(dir, 'cls-channels.onnx');
    const pruned = await runCli(['prune', MODELS.cnn, '-o', structured, '--structure', 'channels', '--flops', '0.75', '--shape', 'x=1x3x48x192', '--json'], { env });
    expect(pruned.code, pruned.stderr).toBe(0);
    const report = pruned.json();
    expect(report.structure.macs.after).toBeLessThan(report.structure.macs.before);
    const bitmask = path.join(dir, 'gemm-bitmask.onnx');
    const encoded = await runCli(['prune', MODELS.gemm, '-o', bitmask, '--storage', 'bitmask', '--sparsity', '0.5', '--json'], { env });
    expect(encoded.code, encoded.stderr).toBe(0);
    expect(encoded.json().weights.map((w: { storage: string }) => w.storage)).toContain('bitmask');
    // Valid ONNX, as every model the CLI tests write (throws with the checker's message otherwise).
    for (const file of [structured, bitmask]) execFileSync('/usr/bin/python3', ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { stdio: 'pipe' });
    for (const [model, extra] of [[structured, ['--shape', 'x=1x3x48x192']], [bitmask, []]] as const) {
      const outcome = await runCli(['bench', model, ...sshArgs(), ...extra, '--runs', '3', '--warmup', '1', '--json'], { env });
      expect(outcome.code, outcome.stderr).toBe(0);
      expectBenchSchema(outcome.json(), target(), 3);
      expect(outcome.json().device).toMatchObject({ arch: 'arm64', engine: 'node v18.20.4' });
    }
    await expectBoardClean();
  });

  it('board check: reports arch, OS, node, free disk and memory, and the cached runtime', async () => {
    const outcome = await runCli(['board', 'check', target(), '--ssh-key', board.userKey, '--known-hosts', board.knownHosts, '--json'], { env });
    expect(outcome.code, outcome.stderr).toBe(0);
    const report = outcome.json();
    expect(report).toMatchObject({
      target: target(),
      arch: 'arm64',
      machine: 'aarch64',
      node: { version: 'v18.20.4', ok: true },
      runtime: { version: '1.30.0', platform: 'linux-arm64', supported: true, onBoard: false, cached: true, cacheDir: `${board.cacheOnBoard}/${cacheKey}` },
      problems: [],
      ready: true,
    });
    expect(report.os).toMatch(/bookworm/);
    for (const value of [report.freeDiskBytes.tmp, report.freeDiskBytes.cache, report.memoryBytes.available, report.memoryBytes.total]) expect(value).toBeGreaterThan(0);
    const human = await runCli(['board', 'check', target(board.noNodePort), '--ssh-key', board.userKey, '--known-hosts', board.knownHosts], { env });
    expect(human.code, human.stderr).toBe(1);
    expect(human.stdout).toMatch(/arch: +arm64 \(aarch64\)/);
    expect(human.stdout).toMatch(/problem: .* has no node on PATH; install Node\.js 18 or later there \(sudo apt install nodejs\)/);
    await expectBoardClean();
  });

  it('says which model the board could not load, and leaves nothing behind', async () => {
    const model = writeBrokenModel(tempDir('board-broken'));
    expectUserError(await runCli(['bench', model, ...sshArgs(), '--runs', '1'], { env }), /onnxruntime on ssh:\/\/root@127\.0\.0\.1:\d+ could not load the model .*broken\.onnx: /);
    await expectBoardClean();
  });

  it('reports a connection killed mid-run, and leaves nothing behind', async () => {
    let dropped = false;
    const outcome = await runCli(['bench', MODELS.cnn, ...sshArgs(), '--shape', 'x=1x3x48x192', '--runs', '1000000', '--warmup', '0'], {
      env,
      onStderr: (text) => {
        if (!dropped && /repetition 1\/1/.test(text)) {
          dropped = true;
          setTimeout(() => board.dropConnections(), 500);
        }
      },
    });
    expect(dropped).toBe(true);
    expectUserError(outcome, /The connection to ssh:\/\/root@127\.0\.0\.1:\d+ was lost during the benchmark of .*; check the board's network and power/);
    await expectBoardClean();
  });

  it('stops at --timeout, and leaves nothing behind', async () => {
    expectUserError(
      await runCli(['bench', MODELS.cnn, ...sshArgs(), '--shape', 'x=1x3x48x192', '--runs', '1000000', '--timeout', '40'], { env }),
      /The benchmark of .* on ssh:\/\/root@127\.0\.0\.1:\d+ did not finish within --timeout 40 s; raise --timeout/,
    );
    await expectBoardClean();
  });

  it('says how to install node when the board has none on PATH', async () => {
    expectUserError(
      await runCli(['bench', MODELS.gemm, ...sshArgs(board.noNodePort)], { env }),
      /ssh:\/\/root@127\.0\.0\.1:\d+ has no node on PATH; install Node\.js 18 or later there \(sudo apt install nodejs\)/,
    );
    await expectBoardClean();
  });

  it('says when the board node is too old', async () => {
    expectUserError(
      await runCli(['bench', MODELS.gemm, ...sshArgs(board.oldNodePort)], { env }),
      new RegExp(`The node on ssh://root@127\\.0\\.0\\.1:\\d+ is ${OLD_NODE_VERSION.replace(/\./g, '\\.')}, too old; install Node\\.js 18 or later there \\(sudo apt install nodejs\\)`),
    );
    await expectBoardClean();
  });

  it('says when the board has no python3 onnxruntime for --remote-runtime python', async () => {
    expectUserError(
      await runCli(['bench', MODELS.gemm, ...sshArgs(), '--remote-runtime', 'python'], { env }),
      /has no python3 with onnxruntime and numpy; install them there \(pip3 install onnxruntime numpy\)/,
    );
    await expectBoardClean();
  });
});
