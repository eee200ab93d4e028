import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, expectBenchSchema, expectUserError, runCli, tempDir, writeBrokenModel } from './bench-helpers.js';
import { freePort, startTestBoard, type TestBoard } from './bench-sshd.js';

describe('specprune bench --target ssh:// (OpenSSH on loopback playing the board)', () => {
  let board: TestBoard;
  let target: string;
  const env = { HOME: '/nonexistent-home' };

  beforeAll(async () => {
    board = await startTestBoard();
    target = `ssh://root@127.0.0.1:${board.port}`;
  });
  afterAll(() => board?.stop());

  const sshArgs = () => ['--target', target, '--ssh-key', board.userKey, '--known-hosts', board.knownHosts];
  const expectBoardClean = async () => {
    // The payload removes its folder itself when the connection dies; give it a moment.
    const leftovers = () => readdirSync(board.boardTmp).filter((name) => name.startsWith('specprune'));
    for (let i = 0; i < 50 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(leftovers()).toEqual([]);
    const cacheRoot = path.join(board.boardCache, 'specprune', 'runtime');
    const staging = existsSync(cacheRoot) ? readdirSync(cacheRoot).filter((name) => name.startsWith('.staging')) : [];
    expect(staging).toEqual([]);
  };

  it('uploads the runtime and a model whose name is hostile to shells, runs it, and cleans up', async () => {
    const dir = tempDir('ssh-model');
    const model = path.join(dir, `it's a "model" $(touch pwned) \`touch pwned2\`.onnx`);
    copyFileSync(MODELS.gemm, model);
    const outcome = await runCli(['bench', model, ...sshArgs(), '--runs', '5', '--warmup', '1', '--json'], { env });
    expect(outcome.code, outcome.stderr).toBe(0);
    const result = outcome.json();
    expectBenchSchema(result, target, 5);
    expect(result.device).toMatchObject({ arch: 'x64', runtime: 'onnxruntime-node', runtimeVersion: '1.30.0', engine: `node ${process.version}` });
    expect(result.peakMemorySource).toBe('VmHWM');
    const cacheDir = path.join(board.boardCache, 'specprune', 'runtime', '1.30.0-linux-x64');
    expect(outcome.stderr).toContain(`has no onnxruntime-node: uploading onnxruntime-node 1.30.0 for linux-x64 (`);
    expect(outcome.stderr).toContain(`into its cache ${cacheDir}`);
    expect(outcome.stderr).toContain(`clear it with: ssh -p ${board.port} root@127.0.0.1 rm -rf '${path.dirname(cacheDir)}'`);
    expect(existsSync(path.join(cacheDir, '.specprune-complete'))).toBe(true);
    for (const where of [dir, board.boardTmp, '/root', process.cwd()]) {
      expect(existsSync(path.join(where, 'pwned')), where).toBe(false);
      expect(existsSync(path.join(where, 'pwned2')), where).toBe(false);
    }
    await expectBoardClean();
  });

  it('reuses the runtime cached on the board', async () => {
    const cacheDir = path.join(board.boardCache, 'specprune', 'runtime', '1.30.0-linux-x64');
    const args = ['bench', MODELS.gemm, ...sshArgs(), '--runs', '2', '--warmup', '0', '--json'];
    const warm = await runCli(args, { env });
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stderr).toContain(`using onnxruntime-node 1.30.0 for linux-x64 cached on the board in ${cacheDir}`);
    expect(warm.stderr).not.toMatch(/uploading onnxruntime-node/);
    expect(warm.json().device.runtimeVersion).toBe('1.30.0');
    await expectBoardClean();
  });

  it('uploads the runtime again when a cached file was damaged, and removes stale staging folders', async () => {
    const cacheDir = path.join(board.boardCache, 'specprune', 'runtime', '1.30.0-linux-x64');
    const args = ['bench', MODELS.gemm, ...sshArgs(), '--runs', '2', '--warmup', '0', '--json'];
    // A file cut short (a full disk, a reset mid-copy) no longer matches the marker: the cache is refilled.
    truncateSync(path.join(cacheDir, 'node_modules/onnxruntime-common/package.json'), 3);
    // A staging folder a killed runner left two days ago goes with the next upload.
    const stale = path.join(path.dirname(cacheDir), '.staging.stale1');
    mkdirSync(stale);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(stale, twoDaysAgo, twoDaysAgo);
    const refilled = await runCli(args, { env });
    expect(refilled.code, refilled.stderr).toBe(0);
    expect(refilled.stderr).toContain(`uploading onnxruntime-node 1.30.0 for linux-x64`);
    expect(existsSync(stale)).toBe(false);
    const again = await runCli(args, { env });
    expect(again.stderr).toContain('cached on the board');
    await expectBoardClean();
  });

  it('refuses an unknown host key, then records it with --accept-new-host-key', async () => {
    const knownHosts = path.join(tempDir('known'), 'known_hosts');
    writeFileSync(knownHosts, '# empty\n');
    const args = ['bench', MODELS.gemm, '--target', target, '--ssh-key', board.userKey, '--known-hosts', knownHosts, '--runs', '1', '--warmup', '0'];
    expectUserError(await runCli(args, { env }), /The host key of ssh:\/\/root@127\.0\.0\.1:\d+ \(ssh-ed25519\) is not in .*known_hosts; .*--accept-new-host-key/);
    // Any later failure proves the connection got past the host key check.
    expectUserError(await runCli([...args, '--accept-new-host-key', '--remote-runtime', 'python'], { env }), /has no python3 with onnxruntime/);
    expect(readFileSync(knownHosts, 'utf8')).toContain(board.knownHostsLine);
    await expectBoardClean();
  });

  it('refuses a host key that differs from known_hosts, even with --accept-new-host-key', async () => {
    const knownHosts = path.join(tempDir('known'), 'known_hosts');
    const otherKey = readFileSync(`${board.otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(knownHosts, `[127.0.0.1]:${board.port} ${otherKey}\n`);
    expectUserError(
      await runCli(['bench', MODELS.gemm, '--target', target, '--ssh-key', board.userKey, '--known-hosts', knownHosts, '--accept-new-host-key'], { env }),
      /does not match the one recorded in .*known_hosts/,
    );
  });

  it('says the board refused a wrong key', async () => {
    expectUserError(
      await runCli(['bench', MODELS.gemm, '--target', target, '--ssh-key', board.otherKey, '--known-hosts', board.knownHosts], { env }),
      /ssh:\/\/root@127\.0\.0\.1:\d+ refused the key .*other_key \(authentication failed\)/,
    );
  });

  it('says an unreachable host cannot be reached', async () => {
    const port = await freePort();
    expectUserError(
      await runCli(['bench', MODELS.gemm, '--target', `ssh://root@127.0.0.1:${port}`, '--ssh-key', board.userKey, '--known-hosts', board.knownHosts], { env }),
      new RegExp(`Cannot reach ssh://root@127\\.0\\.0\\.1:${port}: connection refused`),
    );
  });

  it('says which model the board could not load, and leaves nothing behind', async () => {
    const model = writeBrokenModel(tempDir('ssh-broken'));
    expectUserError(
      await runCli(['bench', model, ...sshArgs(), '--runs', '1'], { env }),
      /onnxruntime on ssh:\/\/root@127\.0\.0\.1:\d+ could not load the model .*broken\.onnx: /,
    );
    await expectBoardClean();
  });

  it('reports a connection killed mid-run, and leaves nothing behind', async () => {
    let dropped = false;
    const outcome = await runCli(['bench', MODELS.cnn, ...sshArgs(), '--shape', 'x=1x3x48x192', '--runs', '1000000', '--warmup', '0'], {
      env,
      onStderr: (text) => {
        if (!dropped && /repetition 1\/1/.test(text)) {
          dropped = true;
          setTimeout(() => board.dropConnections(), 300);
        }
      },
    });
    expect(dropped).toBe(true);
    expectUserError(outcome, /The connection to ssh:\/\/root@127\.0\.0\.1:\d+ was lost during the benchmark of .*; check the board's network and power/);
    await expectBoardClean();
  });

  it('stops on Ctrl-C (Io.signal) mid-run, and leaves nothing behind', async () => {
    const controller = new AbortController();
    const outcome = await runCli(['bench', MODELS.gemm, ...sshArgs(), '--runs', '100000000', '--warmup', '0'], {
      env,
      signal: controller.signal,
      onStderr: (text) => {
        if (/repetition 1\/1/.test(text)) setTimeout(() => controller.abort(), 300);
      },
    });
    expect(controller.signal.aborted).toBe(true);
    expectUserError(outcome, /The benchmark was interrupted\./);
    await expectBoardClean();
  });

  it('stops at --timeout, and leaves nothing behind', async () => {
    expectUserError(
      await runCli(['bench', MODELS.cnn, ...sshArgs(), '--shape', 'x=1x3x48x192', '--runs', '1000000', '--timeout', '10'], { env }),
      /The benchmark of .* on ssh:\/\/root@127\.0\.0\.1:\d+ did not finish within --timeout 10 s; raise --timeout/,
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

  it('stops an upload that outlasts --timeout, and leaves nothing behind', async () => {
    // An 8 GB sparse file: costs nothing here, and cannot cross loopback SFTP within the 12 s limit. The limit
    // leaves the connect and probe steps seconds to spare on a loaded CI machine, so the upload is what it cuts.
    const huge = path.join(tempDir('ssh-huge'), 'huge.onnx');
    writeFileSync(huge, '');
    truncateSync(huge, 8 * 1024 ** 3);
    expectUserError(
      await runCli(['bench', huge, ...sshArgs(), '--timeout', '12'], { env }),
      /Uploading to ssh:\/\/root@127\.0\.0\.1:\d+ did not finish within --timeout 12 s; raise --timeout/,
    );
    await expectBoardClean();
  });
});
