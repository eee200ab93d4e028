import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { bundlePayload } from '../bundle.js';
import { DeviceError } from '../errors.js';
import { readPayloadOutput } from '../payload-output.js';
import type { Target, TargetContext } from '../target.js';
import type { Measurement, NodePayloadConfig, PayloadConfig } from '../types.js';

/**
 * onnxruntime-node in a child process of this node, so the CLI's own heap does not count in the
 * memory figure. Peak memory: the child's VmHWM.
 */
export class NodeTarget implements Target {
  private dir: string | undefined;

  constructor(private readonly context: TargetContext) {}

  async init(): Promise<void> {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'specprune-node-'));
  }

  async createSession(config: PayloadConfig): Promise<void> {
    const { context } = this;
    writeFileSync(path.join(this.dir!, 'payload.cjs'), await bundlePayload('node'));
    const payloadConfig: NodePayloadConfig = {
      ...config,
      model: path.resolve(context.modelPath),
      runtimeModule: createRequire(import.meta.url).resolve('onnxruntime-node'),
    };
    writeFileSync(path.join(this.dir!, 'config.json'), JSON.stringify(payloadConfig));
  }

  async run(): Promise<Measurement> {
    const { context } = this;
    const configFile = path.join(this.dir!, 'config.json');
    const { stdout, stderr, code, reason } = await runChild(process.execPath, [path.join(this.dir!, 'payload.cjs'), configFile], {
      cwd: this.dir!,
      timeoutMs: context.timeoutMs,
      signal: context.signal,
      onStderrLine: (line) => context.log(line),
    });
    if (reason === 'timeout') {
      throw new DeviceError(`The node benchmark of ${context.modelLabel} did not finish within ${context.timeoutMs / 1000} s; raise --timeout or lower --runs.`);
    }
    if (reason === 'abort') throw new DeviceError('The benchmark was interrupted.');
    const measurement = readPayloadOutput(stdout, context.modelLabel, 'this machine');
    if (!measurement) throw new Error(`The node payload exited with code ${code} without a result: ${stderr.slice(-2000)}`);
    return measurement;
  }

  async dispose(): Promise<void> {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

interface ChildOutcome {
  stdout: string;
  stderr: string;
  code: number | null;
  reason: 'exit' | 'timeout' | 'abort';
}

/** Runs a child with stdin held open (the payload stops when it closes), a timeout and an abort signal. */
function runChild(
  command: string,
  args: string[],
  options: { cwd: string; timeoutMs: number; signal?: AbortSignal; onStderrLine: (line: string) => void },
): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    // onnxruntime writes telemetry files (.ses, mat-debug-PID.log) into TMPDIR: keep them in our folder,
    // which dispose() removes.
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, TMPDIR: options.cwd }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let reason: ChildOutcome['reason'] = 'exit';
    const stop = (why: ChildOutcome['reason']) => {
      reason = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
    const onAbort = () => stop('abort');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line) options.onStderrLine(line);
    });
    child.stdin.on('error', () => {});
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ stdout, stderr, code, reason });
    });
  });
}
