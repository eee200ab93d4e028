import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { bundlePayload } from '../bundle.js';
import { DeviceError } from '../errors.js';
import { payloadFailure, readPayloadOutput } from '../payload-output.js';
import { PYTHON_PAYLOAD } from '../payload/python-main.js';
import { quoteShell } from '../remote-shell.js';
import { cacheManifest, probeCacheScript, promoteStagingScript, readCacheProbe } from './ssh-runtime-cache.js';
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

/** One file of onnxruntime-node or onnxruntime-common to bring to the board. */
interface RuntimeFile {
  local: string;
  /** Path under the runtime root: node_modules/onnxruntime-node/... */
  relative: string;
  bytes: number;
  /** "onnxruntime-node 1.30.0", for messages. */
  version: string;
  ortVersion: string;
  /** linux-arm64, linux-x64. */
  platform: string;
}

type CacheProbe = ReturnType<typeof readCacheProbe>;

/** What `specprune board check` reports about a board; nothing on the board is changed to learn it. */
export interface BoardCheck {
  target: string;
  /** process.arch naming (arm64, x64) when known, else `uname -m`. */
  arch: string;
  machine: string;
  os: string;
  node: { version: string | null; ok: boolean };
  /** Free bytes in the board's temp folder and in the file system of its runtime cache. */
  freeDiskBytes: { tmp: number | null; cache: number | null };
  memoryBytes: { available: number | null; total: number | null };
  runtime: {
    /** onnxruntime-node the runner would bring, and for which platform. */
    version: string;
    platform: string;
    /** onnxruntime-node has a binary for the board. */
    supported: boolean;
    /** The board has its own onnxruntime-node (then nothing is uploaded). */
    onBoard: boolean;
    cached: boolean;
    cacheDir: string | null;
  };
  /** Sentences saying what to fix before `bench` can run; empty when the board is ready. */
  problems: string[];
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
  /** The runtime for the board from the local install, and what the board's cache holds of it. */
  private runtimeCache: { files: RuntimeFile[]; key: string; manifest: string; probe: CacheProbe } | undefined;
  /** An upload into the board's runtime cache, promoted once every file is there. */
  private pendingCache: { stage: string; final: string; manifest: string } | undefined;

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

  /** Connects and reads the board's facts, free space and memory, and whether the runtime is cached; changes nothing. */
  async checkBoard(): Promise<BoardCheck> {
    this.connection = await SshConnection.connect(this.connectOptions);
    try {
      const kib = (value: string | undefined) => (value && /^\d+$/.test(value) ? Number(value) * 1024 : null);
      const cacheRoot = `"${'$'}{XDG_CACHE_HOME:-$HOME/.cache}"`;
      const probe = await this.run1(
        [
          'echo "machine=$(uname -m)"',
          'echo "kernel=$(uname -s)"',
          'echo "os=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null)"',
          'echo "node=$(node --version 2>/dev/null)"',
          `echo "ortOnBoard=$(cd && node -e "require.resolve('onnxruntime-node')" 2>/dev/null && echo yes)"`,
          `echo "tmpFree=$(df -Pk "\${TMPDIR:-/tmp}" 2>/dev/null | awk 'NR==2 {print $4}')"`,
          `c=${cacheRoot}; while [ ! -d "$c" ]; do c=$(dirname "$c"); done; echo "cacheFree=$(df -Pk "$c" 2>/dev/null | awk 'NR==2 {print $4}')"`,
          `echo "memAvailable=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null)"`,
          `echo "memTotal=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null)"`,
        ].join('; '),
        'Probing the board',
      );
      const facts = Object.fromEntries(probe.stdout.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
      this.board = { machine: facts.machine ?? '', kernel: facts.kernel ?? '', osName: facts.os ?? '', nodeVersion: facts.node || undefined };
      const problems: string[] = [];
      const node = this.board.nodeVersion;
      const nodeOk = node !== undefined && Number(/^v(\d+)/.exec(node)?.[1] ?? 0) >= MIN_NODE_MAJOR;
      if (!node) problems.push(`${this.label} has no node on PATH; install Node.js ${MIN_NODE_MAJOR} or later there (sudo apt install nodejs).`);
      else if (!nodeOk) problems.push(`The node on ${this.label} is ${node}, too old; install Node.js ${MIN_NODE_MAJOR} or later there (sudo apt install nodejs).`);
      const onBoard = facts.ortOnBoard === 'yes';
      let files: RuntimeFile[] | undefined;
      try {
        files = this.localRuntimeFiles();
      } catch (error) {
        if (!(error instanceof DeviceError)) throw error;
        if (!onBoard) problems.push(error.message);
      }
      const require = createRequire(import.meta.url);
      const localVersion = (JSON.parse(readFileSync(path.join(path.dirname(path.dirname(require.resolve('onnxruntime-node'))), 'package.json'), 'utf8')) as { version: string }).version;
      let cache: CacheProbe | undefined;
      const key = files && `${files[0]!.ortVersion}-${files[0]!.platform}`;
      if (files && key) cache = readCacheProbe((await this.run1(probeCacheScript(key, { stage: false }), 'Looking for a cached runtime')).stdout, cacheManifest(files));
      return {
        target: this.label,
        arch: ARCH_FOLDERS[this.board.machine] ?? this.board.machine,
        machine: this.board.machine,
        os: this.board.osName || this.board.kernel,
        node: { version: node ?? null, ok: nodeOk },
        freeDiskBytes: { tmp: kib(facts.tmpFree), cache: kib(facts.cacheFree) },
        memoryBytes: { available: kib(facts.memAvailable), total: kib(facts.memTotal) },
        runtime: {
          version: localVersion,
          platform: files?.[0]!.platform ?? `${(OS_FOLDERS[this.board.kernel] ?? this.board.kernel.toLowerCase())}-${ARCH_FOLDERS[this.board.machine] ?? this.board.machine}`,
          supported: files !== undefined,
          onBoard,
          cached: cache?.valid === true,
          cacheDir: cache?.root && key ? `${cache.root}/${key}` : null,
        },
        problems,
      };
    } finally {
      this.connection.close();
      this.connection = undefined;
    }
  }

  async createSession(config: PayloadConfig): Promise<void> {
    const dir = this.dir!;
    const modelName = path.basename(this.context.modelPath);
    const runtime = await this.chooseRuntime();
    const files: UploadFile[] = [{ local: this.context.modelPath, remote: `${dir}/${modelName}` }];
    const payloadConfig: NodePayloadConfig = { ...config, model: modelName, runtimeModule: null, cleanupDir: dir };
    if (runtime === 'python') {
      files.push({ data: PYTHON_PAYLOAD, remote: `${dir}/payload.py` });
      this.command = `cd ${quoteShell(dir)} && TMPDIR=${quoteShell(dir)} exec python3 payload.py config.json`;
    } else {
      files.push({ data: await bundlePayload('node'), remote: `${dir}/payload.cjs` });
      if (runtime === 'upload') payloadConfig.runtimeModule = this.provideRuntime(files);
      // TMPDIR: onnxruntime's Linux builds leave telemetry files (.ses, mat-debug-PID.log) in the temp
      // folder; pointed at ours, they go when it goes.
      this.command = `cd ${quoteShell(dir)} && TMPDIR=${quoteShell(dir)} exec node payload.cjs config.json`;
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
      if (this.pendingCache) await Promise.race([this.promoteRuntime(this.pendingCache), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Returns the onnxruntime-node module path the payload requires: the board's runtime cache when its folder
   * for this version and platform is complete; otherwise queues the runtime's files in `files` for a staging
   * folder of the cache (promoted after the upload), or for the run's temp folder when the cache cannot be made.
   */
  private provideRuntime(files: UploadFile[]): string {
    const { files: runtimeFiles, key, manifest, probe } = this.runtimeCache!;
    const { version, platform } = runtimeFiles[0]!;
    const megabytes = (runtimeFiles.reduce((sum, f) => sum + f.bytes, 0) / 1e6).toFixed(1);
    if (probe.root) {
      const final = `${probe.root}/${key}`;
      const module = `${final}/node_modules/onnxruntime-node`;
      if (probe.valid) {
        this.context.log(`${this.label}: using ${version} for ${platform} cached on the board in ${final}`);
        this.logCacheHint(probe.root);
        return module;
      }
      if (probe.stage) {
        this.pendingCache = { stage: probe.stage, final, manifest };
        this.context.log(`${this.label} has no onnxruntime-node: uploading ${version} for ${platform} (${megabytes} MB) into its cache ${final}`);
        for (const f of runtimeFiles) files.push({ local: f.local, remote: `${probe.stage}/${f.relative}` });
        return module;
      }
      this.context.log(`${this.label}: cannot create the runtime cache ${probe.root} (check its permissions and free space); uploading the runtime for this run only.`);
    }
    this.context.log(`${this.label} has no onnxruntime-node: uploading ${version} for ${platform} (${megabytes} MB) for this run only`);
    // Laid out like a cache folder, under a root of its own in the temp folder.
    const runtimeRoot = `${this.dir!}/runtime`;
    for (const f of runtimeFiles) files.push({ local: f.local, remote: `${runtimeRoot}/${f.relative}` });
    return `${runtimeRoot}/node_modules/onnxruntime-node`;
  }

  /** Writes the marker last, then renames the staging folder into the cache. */
  private async promoteRuntime(pending: { stage: string; final: string; manifest: string }): Promise<void> {
    const promoted = await this.run1(promoteStagingScript(pending.stage, pending.final, pending.manifest), 'Filling the runtime cache');
    if (promoted.code !== 0) {
      throw new DeviceError(`Cannot move the uploaded runtime into ${pending.final} on ${this.label} (${promoted.stderr.trim()}); check free space and permissions there.`);
    }
    this.pendingCache = undefined;
    this.logCacheHint(pending.final.slice(0, pending.final.lastIndexOf('/')));
  }

  private logCacheHint(root: string): void {
    const { username, host, port } = this.connectOptions;
    const ssh = `ssh ${port === 22 ? '' : `-p ${port} `}${username}@${host.includes(':') ? `[${host}]` : host}`;
    this.context.log(`${this.label}: the runtime stays cached in ${root} for later runs; clear it with: ${ssh} rm -rf ${quoteShell(root)}`);
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
    // One round trip: the board's own onnxruntime-node, else the runtime cache (and a staging folder when it lacks one).
    let files: RuntimeFile[] | undefined;
    try {
      files = this.localRuntimeFiles();
    } catch (error) {
      if (!(error instanceof DeviceError)) throw error; // no binary for this board: only its own runtime can do
    }
    const cached = files && { files, key: `${files[0]!.ortVersion}-${files[0]!.platform}`, manifest: cacheManifest(files) };
    const found = await this.run1(
      `cd ${quoteShell(this.dir!)} && if node -e "require.resolve('onnxruntime-node')" 2>/dev/null; then echo found=yes; else echo found=no${cached ? `; (${probeCacheScript(cached.key)})` : ''}; fi`,
      'Looking for onnxruntime-node',
    );
    if (found.code === 0 && found.stdout.includes('found=yes')) return 'board';
    if (!cached) this.localRuntimeFiles(); // throws the sentence about the missing binary
    this.runtimeCache = { ...cached!, probe: readCacheProbe(found.stdout, cached!.manifest) };
    return 'upload';
  }

  private async hasPythonRuntime(): Promise<boolean> {
    return (await this.run1(`python3 -c 'import onnxruntime, numpy'`, 'Looking for python3 onnxruntime')).code === 0;
  }

  private run1(command: string, what: string) {
    const remaining = this.remainingMs();
    // When the whole-run limit is what cuts the step short, the message names --timeout, the knob to turn.
    const limitLabel = remaining < STEP_TIMEOUT_MS ? `--timeout ${this.context.timeoutMs / 1000} s` : undefined;
    return this.connection!.exec(command, { timeoutMs: Math.min(STEP_TIMEOUT_MS, remaining), signal: this.context.signal, what, limitLabel });
  }

  /** onnxruntime-node (JS + the board's native binary) and onnxruntime-common from the local install. */
  private localRuntimeFiles(): RuntimeFile[] {
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
    const tag = { version: `onnxruntime-node ${version}`, ortVersion: version, platform: platform.replace('/', '-') };
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
    return listed.sort((a, b) => Number(b.relative.includes('/bin/')) - Number(a.relative.includes('/bin/'))).map((f) => ({ ...f, ...tag, bytes: statSync(f.local).size }));
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
    const dirs = [this.dir, this.pendingCache?.stage].filter((d): d is string => d !== undefined);
    this.dir = undefined;
    this.pendingCache = undefined;
    try {
      if (dirs.length > 0) await this.removeRemoteDirs(dirs);
    } finally {
      this.connection?.close();
      this.connection = undefined;
    }
  }

  /** Removes the temp folder (and an unfinished cache upload), reconnecting once if the connection died mid-run. */
  private async removeRemoteDirs(dirs: string[]): Promise<void> {
    let command = `rm -rf -- ${dirs.map(quoteShell).join(' ')}`;
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
      this.context.log(`could not remove ${dirs.join(' and ')} on ${this.label} (${(error as Error).message}); remove it by hand.`);
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
