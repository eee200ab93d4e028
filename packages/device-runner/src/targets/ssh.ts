import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { bundlePayload } from '../bundle.js';
import { DeviceError } from '../errors.js';
import { payloadFailure, readPayloadOutput } from '../payload-output.js';
import { PYTHON_PAYLOAD } from '../payload/python-main.js';
import { quoteShell } from '../remote-shell.js';
import { SshConnection, type SshConnectOptions, type UploadFile } from '../ssh-connection.js';
import type { Target, TargetContext, TargetSpec } from '../target.js';
import type { Measurement, NodePayloadConfig, PayloadConfig } from '../types.js';

/** What the probe learns about the board. */
export interface BoardFacts {
  /** `uname -m`: x86_64, aarch64, armv7l. */
  machine: string;
  /** `uname -s`: Linux, Darwin. */
  kernel: string;
  /** PRETTY_NAME of /etc/os-release, or empty. */
  osName: string;
  /** `node --version`, or undefined when the board has no node on PATH. */
  nodeVersion?: string;
}

const MIN_NODE_MAJOR = 18;
const STEP_TIMEOUT_MS = 30_000;

/** Board architecture (uname -m) to onnxruntime-node's bin folder name. */
const ARCH_FOLDERS: Record<string, string> = { x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64' };
const OS_FOLDERS: Record<string, string> = { Linux: 'linux', Darwin: 'darwin' };

/**
 * A board reached over SSH: uploads the model and the bundled payload to a fresh temp folder, runs it with
 * the board's node (bringing onnxruntime-node for the board's arch when it lacks one) or python3, and
 * removes the folder on success, failure and abort. Peak memory: the payload process's VmHWM.
 */
export class SshTarget implements Target {
  private readonly connectOptions: SshConnectOptions;
  private readonly deadline: number;
  private connection: SshConnection | undefined;
  private board: BoardFacts | undefined;
  /** The fresh remote temp folder (absolute path on the board). */
  private dir: string | undefined;
  private command: string | undefined;

  constructor(
    spec: TargetSpec,
    private readonly context: TargetContext,
  ) {
    const url = spec.url!;
    const username = decodeURIComponent(url.username);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!username || !host) throw new DeviceError(`--target ${spec.raw} names no user or host; write it like ssh://pi@raspberrypi.local or ssh://pi@192.168.1.7:2222.`);
    const port = url.port ? Number(url.port) : 22;
    const home = context.env.HOME ?? '';
    const key = this.readKey(home);
    this.connectOptions = {
      host,
      port,
      username,
      label: `ssh://${username}@${url.host}`,
      knownHostsFile: context.knownHosts ?? path.join(home, '.ssh', 'known_hosts'),
      acceptNewHostKey: context.acceptNewHostKey === true,
      connectTimeoutMs: Math.min(20_000, context.timeoutMs),
      ...key,
    };
    this.deadline = Date.now() + context.timeoutMs;
  }

  private readKey(home: string): Pick<SshConnectOptions, 'privateKey' | 'agent' | 'keyLabel'> {
    const { sshKey, env } = this.context;
    if (sshKey) {
      try {
        return { privateKey: readFileSync(sshKey), keyLabel: `the key ${sshKey}` };
      } catch {
        throw new DeviceError(`--ssh-key ${sshKey} cannot be read; pass the path of a private key file.`);
      }
    }
    if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK, keyLabel: 'the keys of your ssh-agent' };
    for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
      const file = path.join(home, '.ssh', name);
      if (existsSync(file)) return { privateKey: readFileSync(file), keyLabel: `the key ${file}` };
    }
    throw new DeviceError('No SSH key to log in with: pass --ssh-key FILE, or start ssh-agent and add your key (ssh-add).');
  }

  private get label(): string {
    return this.connectOptions.label;
  }

  private remainingMs(): number {
    return Math.max(1000, this.deadline - Date.now());
  }

  async init(): Promise<void> {
    this.connection = await SshConnection.connect(this.connectOptions);
    const probe = await this.connection.exec(
      [
        'echo "machine=$(uname -m)"',
        'echo "kernel=$(uname -s)"',
        'echo "os=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null)"',
        'echo "node=$(node --version 2>/dev/null)"',
        'echo "dir=$(mktemp -d "${TMPDIR:-/tmp}/specprune-bench.XXXXXX")"',
      ].join('; '),
      { timeoutMs: Math.min(STEP_TIMEOUT_MS, this.remainingMs()), signal: this.context.signal, what: 'Probing the board' },
    );
    const facts = Object.fromEntries(probe.stdout.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    if (!facts.dir?.startsWith('/')) throw new DeviceError(`Cannot create a temp folder on ${this.label} (${probe.stderr.trim() || 'mktemp failed'}); check free space in its /tmp.`);
    this.dir = facts.dir;
    this.board = { machine: facts.machine ?? '', kernel: facts.kernel ?? '', osName: facts.os ?? '', nodeVersion: facts.node || undefined };
    this.context.log(`${this.label}: ${this.board.machine}, ${this.board.osName || this.board.kernel}, node ${this.board.nodeVersion ?? 'missing'}; working in ${this.dir}`);
  }

  async createSession(config: PayloadConfig): Promise<void> {
    const dir = this.dir!;
    const modelName = path.basename(this.context.modelPath);
    const runtime = await this.chooseRuntime();
    const files: UploadFile[] = [{ local: this.context.modelPath, remote: `${dir}/${modelName}` }];
    const payloadConfig: NodePayloadConfig = { ...config, model: modelName, runtimeModule: null, cleanupDir: dir };
    if (runtime === 'python') {
      files.push({ data: PYTHON_PAYLOAD, remote: `${dir}/payload.py` });
      this.command = `cd ${quoteShell(dir)} && exec python3 payload.py config.json`;
    } else {
      files.push({ data: await bundlePayload('node'), remote: `${dir}/payload.cjs` });
      if (runtime === 'upload') {
        const runtimeFiles = this.localRuntimeFiles();
        const bytes = runtimeFiles.reduce((sum, f) => sum + statSync(f.local).size, 0);
        this.context.log(`${this.label} has no onnxruntime-node: uploading ${runtimeFiles[0]!.version} for ${runtimeFiles[0]!.platform} (${(bytes / 1e6).toFixed(1)} MB)`);
        // The runtime goes under a root of its own so a cache folder on the board can take its place later.
        const runtimeRoot = `${dir}/runtime`;
        for (const f of runtimeFiles) files.push({ local: f.local, remote: `${runtimeRoot}/${f.relative}` });
        payloadConfig.runtimeModule = `${runtimeRoot}/node_modules/onnxruntime-node`;
      }
      this.command = `cd ${quoteShell(dir)} && exec node payload.cjs config.json`;
    }
    files.push({ data: JSON.stringify(payloadConfig), remote: `${dir}/config.json` });
    const limitMs = this.remainingMs();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.connection?.close(); // stops the transfer; dispose reconnects to remove the folder
        reject(new DeviceError(`Uploading to ${this.label} did not finish within --timeout ${this.context.timeoutMs / 1000} s; raise --timeout or check the network.`));
      }, limitMs);
    });
    try {
      await Promise.race([this.connection!.upload(files, this.context.signal), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** node with the board's onnxruntime-node, node with an uploaded one, or python3's onnxruntime. */
  private async chooseRuntime(): Promise<'board' | 'upload' | 'python'> {
    const mode = this.context.remoteRuntime ?? 'auto';
    const node = this.board!.nodeVersion;
    if (mode === 'python' || (mode === 'auto' && !node && (await this.hasPythonRuntime()))) {
      if (mode === 'python' && !(await this.hasPythonRuntime())) {
        throw new DeviceError(
          `${this.label} has no python3 with onnxruntime and numpy; install them there (pip3 install onnxruntime numpy) or use --remote-runtime node.`,
        );
      }
      return 'python';
    }
    if (!node) {
      throw new DeviceError(
        `${this.label} has no node on PATH; install Node.js ${MIN_NODE_MAJOR} or later there (sudo apt install nodejs) or use --remote-runtime python.`,
      );
    }
    const major = Number(/^v(\d+)/.exec(node)?.[1] ?? 0);
    if (major < MIN_NODE_MAJOR) {
      throw new DeviceError(`The node on ${this.label} is ${node}, too old; install Node.js ${MIN_NODE_MAJOR} or later there (sudo apt install nodejs).`);
    }
    const found = await this.run1(`cd ${quoteShell(this.dir!)} && node -e "require.resolve('onnxruntime-node')"`, 'Looking for onnxruntime-node');
    return found.code === 0 ? 'board' : 'upload';
  }

  private async hasPythonRuntime(): Promise<boolean> {
    return (await this.run1(`python3 -c 'import onnxruntime, numpy'`, 'Looking for python3 onnxruntime')).code === 0;
  }

  private run1(command: string, what: string) {
    return this.connection!.exec(command, { timeoutMs: Math.min(STEP_TIMEOUT_MS, this.remainingMs()), signal: this.context.signal, what });
  }

  /** onnxruntime-node (JS + the board's native binary) and onnxruntime-common from the local install. */
  private localRuntimeFiles(): { local: string; relative: string; version: string; platform: string }[] {
    const { machine, kernel } = this.board!;
    const require = createRequire(import.meta.url);
    const nodeRoot = path.dirname(path.dirname(require.resolve('onnxruntime-node')));
    const commonEntry = createRequire(path.join(nodeRoot, 'package.json')).resolve('onnxruntime-common');
    const commonRoot = path.resolve(path.dirname(commonEntry), '..', '..');
    const version = (JSON.parse(readFileSync(path.join(nodeRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const platform = `${OS_FOLDERS[kernel] ?? kernel.toLowerCase()}/${ARCH_FOLDERS[machine] ?? machine}`;
    const binFolder = path.join(nodeRoot, 'bin', 'napi-v6', ...platform.split('/'));
    if (!existsSync(binFolder)) {
      throw new DeviceError(
        `onnxruntime-node ${version} has no binary for ${kernel} ${machine} (${this.label}); install onnxruntime on the board (pip3 install onnxruntime) and use --remote-runtime python.`,
      );
    }
    const tag = { version: `onnxruntime-node ${version}`, platform: platform.replace('/', '-') };
    const listed: { local: string; relative: string }[] = [
      ...[path.join(nodeRoot, 'package.json'), ...jsFiles(path.join(nodeRoot, 'dist')), ...readdirSync(binFolder).map((n) => path.join(binFolder, n))].map((local) => ({
        local,
        relative: `node_modules/onnxruntime-node/${path.relative(nodeRoot, local).split(path.sep).join('/')}`,
      })),
      ...[path.join(commonRoot, 'package.json'), ...jsFiles(path.join(commonRoot, 'dist', 'cjs'))].map((local) => ({
        local,
        relative: `node_modules/onnxruntime-common/${path.relative(commonRoot, local).split(path.sep).join('/')}`,
      })),
    ];
    // Binary first: the progress line names its platform, and the big file shows up early if it fails.
    return listed.sort((a, b) => Number(b.relative.includes('/bin/')) - Number(a.relative.includes('/bin/'))).map((f) => ({ ...f, ...tag }));
  }

  async run(): Promise<Measurement> {
    const { context } = this;
    const result = await this.connection!.exec(this.command!, {
      timeoutMs: this.remainingMs(),
      signal: context.signal,
      what: `The benchmark of ${context.modelLabel}`,
      limitLabel: `--timeout ${context.timeoutMs / 1000} s`,
      onStderrLine: (line) => context.log(`${this.label}: ${line}`),
    });
    const measurement = readPayloadOutput(result.stdout, context.modelLabel, this.label);
    if (measurement) return measurement;
    if (result.code === 127) throw payloadFailure('runtime', 'the runtime command was not found', context.modelLabel, this.label);
    throw new Error(`The payload on ${this.label} exited with code ${result.code} without a result: ${result.stderr.slice(-2000)}`);
  }

  async dispose(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    try {
      if (dir) await this.removeRemoteDir(dir);
    } finally {
      this.connection?.close();
      this.connection = undefined;
    }
  }

  /** Removes the temp folder, reconnecting once if the connection died mid-run. */
  private async removeRemoteDir(dir: string): Promise<void> {
    let command = `rm -rf -- ${quoteShell(dir)}`;
    try {
      if (!this.connection?.isOpen) {
        // The old session may still be finishing queued writes (an upload cut short): remove twice.
        command = `${command}; sleep 1; ${command}`;
        this.connection?.close();
        this.connection = await SshConnection.connect({ ...this.connectOptions, acceptNewHostKey: false, connectTimeoutMs: 10_000 });
      }
      const removed = await this.connection.exec(command, { timeoutMs: 15_000, what: 'Removing the temp folder' });
      if (removed.code !== 0) throw new Error(removed.stderr.trim());
    } catch (error) {
      this.context.log(`could not remove ${dir} on ${this.label} (${(error as Error).message}); remove it by hand.`);
    }
  }
}

function jsFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return jsFiles(full);
    return entry.name.endsWith('.js') || entry.name === 'package.json' ? [full] : [];
  });
}
