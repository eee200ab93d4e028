/**
 * Entry of the node payload: bundled to one CommonJS file for node >= 18, run as a child process on this
 * machine (target `node`) or on a board (target `ssh`). Reads a NodePayloadConfig from the JSON file named
 * by argv[2], prints one result or error line on stdout, progress on stderr.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ERROR_MARKER, RESULT_MARKER, type Measurement, type MemorySource, type NodePayloadConfig } from '../types.js';
import { ProtocolError, runProtocol, type OrtLike } from './protocol.js';

function report(marker: string, value: unknown): void {
  process.stdout.write(`${marker}${JSON.stringify(value)}\n`);
}

function fail(stage: string, message: string): never {
  report(ERROR_MARKER, { stage, message });
  process.exit(3);
}

// The host keeps our stdin open for as long as it listens; when it goes away (Ctrl-C, killed ssh
// connection) there is nobody to report to, so stop instead of running on.
let cleanupDir: string | undefined;
function hangUp(): never {
  if (cleanupDir) rmSync(cleanupDir, { recursive: true, force: true });
  process.exit(4);
}
process.stdin.on('end', hangUp);
process.stdin.on('error', hangUp);
process.stdin.resume();

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as NodePayloadConfig;
  cleanupDir = config.cleanupDir;
  const requireHere = createRequire(path.join(process.cwd(), 'payload.cjs'));
  let ort: OrtLike & { env?: { versions?: Record<string, string> } };
  try {
    ort = requireHere(config.runtimeModule ?? 'onnxruntime-node') as typeof ort;
  } catch (error) {
    fail('runtime', `onnxruntime-node could not be loaded (${(error as Error).message.split('\n')[0]})`);
  }
  const sessionOptions: Record<string, unknown> = { executionProviders: ['cpu'] };
  if (config.threads > 0) sessionOptions.intraOpNumThreads = config.threads;
  const output = await runProtocol(ort, config.model, config, sessionOptions, () => performance.now(), (line) =>
    process.stderr.write(`${line}\n`),
  );
  const memory = readPeakMemory();
  const measurement: Measurement = {
    device: {
      arch: process.arch,
      os: describeOs(),
      runtime: 'onnxruntime-node',
      runtimeVersion: ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown',
      engine: `node ${process.version}`,
    },
    repetitions: output.repetitions,
    inputs: output.inputs,
    peakMemoryBytes: memory.bytes,
    peakMemorySource: memory.source,
  };
  report(RESULT_MARKER, measurement);
  process.exit(0);
}

/** Peak resident set of this process: VmHWM where /proc exists, else the kernel's maxrss. */
function readPeakMemory(): { bytes: number; source: MemorySource } {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return { bytes: Number(match[1]) * 1024, source: 'VmHWM' };
  } catch {
    // not Linux
  }
  return { bytes: process.resourceUsage().maxRSS * 1024, source: 'maxRSS' };
}

function describeOs(): string {
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (pretty) return `${pretty[1]} (${os.type()} ${os.release()})`;
  } catch {
    // no os-release
  }
  return `${os.type()} ${os.release()}`;
}

main().catch((error: unknown) => {
  if (error instanceof ProtocolError) fail(error.stage, error.message);
  fail('internal', error instanceof Error ? (error.stack ?? error.message) : String(error));
});
