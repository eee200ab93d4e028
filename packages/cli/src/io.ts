/** What a command may touch of the outside world; tests pass fakes. */
export interface Io {
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  cwd: string;
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C; long-running work should stop and clean up. */
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
