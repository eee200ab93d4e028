#!/usr/bin/env node
import { fastAnswer } from './fast-path.js';
import { interruptedError, SIGNAL_EXIT_CODES, type Io } from './io.js';
import { invocationFolder } from './invocation-folder.js';

// `--version` and `--help` answer before the CLI's modules load (they are what makes a command start slowly).
const quick = fastAnswer(process.argv.slice(2), process.stdout.isTTY ? process.stdout.columns : undefined);
if (quick !== undefined) {
  process.stdout.write(quick);
  process.exit(0);
}
const [{ removeTempFiles }, { run }] = await Promise.all([import('@specprune/onnx-io/node'), import('./run.js')]);

/**
 * How long an interrupted run may take to unwind (stop at its next check, kill its children, remove its
 * temporary files) before the process stops anyway.
 */
const GRACE_MS = 1500;

const argv = process.argv.slice(2);
const verbose = argv.includes('--verbose');
const controller = new AbortController();
let interrupted: { signal: keyof typeof SIGNAL_EXIT_CODES; code: number } | undefined;

// Whatever ends the process, no temporary file of ours outlives it.
process.on('exit', () => removeTempFiles());

function stopInterrupted(): never {
  removeTempFiles();
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  writeQuietly(process.stderr, `specprune: interrupted by ${interrupted!.signal}; stopped without writing the output.\n`);
  process.exit(interrupted!.code);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) stopInterrupted(); // a second signal: stop now
    interrupted = { signal, code: SIGNAL_EXIT_CODES[signal] };
    controller.abort(interruptedError(signal));
    setTimeout(stopInterrupted, GRACE_MS).unref();
  });
}

/**
 * stdout/stderr as a command sees them: once the reader went away (`specprune inspect m.onnx | head -1`)
 * the rest of the output is dropped quietly and the command ends as it would have; after an interrupt,
 * stderr carries only the bin's one line (the unwinding run's messages are noise), unless --verbose.
 */
function stream(target: NodeJS.WriteStream, isStderr: boolean): Io['stdout'] {
  let closed = false;
  target.on('error', (error: NodeJS.ErrnoException) => {
    closed = true;
    if (error.code !== 'EPIPE' && !isStderr) writeQuietly(process.stderr, `specprune: cannot write to stdout (${error.code ?? error.message}).\n`);
  });
  return {
    isTTY: target.isTTY,
    columns: target.columns,
    write(chunk: string) {
      if (closed || (isStderr && interrupted && !verbose)) return true;
      return target.write(chunk);
    },
  };
}

function writeQuietly(target: NodeJS.WriteStream, text: string): void {
  try {
    target.write(text);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

const code = await run({
  argv,
  io: { stdout: stream(process.stdout, false), stderr: stream(process.stderr, true), cwd: invocationFolder(process.env, process.cwd()), env: process.env, signal: controller.signal },
});
if (interrupted) stopInterrupted();
process.exitCode = code;
