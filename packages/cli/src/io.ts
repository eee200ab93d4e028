import { ExitError } from './errors.js';

/** What a command may touch of the outside world; tests pass fakes. */
export interface Io {
  /** `columns`: the terminal's width, when stdout is one (help is laid out for it). */
  stdout: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  cwd: string;
  env: Record<string, string | undefined>;
  /**
   * Aborted on SIGINT/SIGTERM (its reason is the ExitError to exit with, see interruptedError): long
   * work stops at its next check (throwIfInterrupted, every progress tick), kills what it started and
   * writes nothing.
   */
  signal?: AbortSignal;
}

/** Writes one line to stderr; progress and logs never go to stdout. */
export function log(io: Io, line: string): void {
  io.stderr.write(`${line}\n`);
}

/** Prints exactly one JSON document on stdout (the --json contract). */
export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Exit codes of a run stopped by a signal: 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** The error an interrupted run ends with (the abort reason the bin gives io.signal). */
export function interruptedError(signal: keyof typeof SIGNAL_EXIT_CODES): ExitError {
  return new ExitError(SIGNAL_EXIT_CODES[signal], `interrupted by ${signal}; stopped without writing the output.`);
}

/** Throws the run's interrupt error (an ExitError 130/143) when io.signal was aborted; call it between long steps. */
export function throwIfInterrupted(io: Io): void {
  const signal = io.signal;
  if (!signal?.aborted) return;
  throw signal.reason instanceof ExitError ? signal.reason : interruptedError('SIGINT');
}

/**
 * Lets a pending signal be delivered (a signal that arrived during synchronous work is handled only when
 * the event loop turns), then throws if it interrupted the run. Call it right before a step that cannot
 * be undone, such as renaming the output into place.
 */
export async function checkInterrupted(io: Io): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  throwIfInterrupted(io);
}
