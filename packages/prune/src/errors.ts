/**
 * The caller's input is wrong (a model the runtime refuses, inputs that cannot be generated, samples that do
 * not fit). `exitCode` 2 tells the CLI to print the message as one sentence without a stack trace.
 */
export class PruneInputError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PruneInputError';
  }
}

/**
 * An option's value is wrong or conflicts with another. The message names options as the caller spells them:
 * `options.sparsity` for the library, `--sparsity` in the CLI (which re-renders it with `render`).
 */
export class PruneOptionError extends PruneInputError {
  constructor(
    /** The option, camelCase as in PruneOptions. */
    readonly option: string,
    /** The message for a given way of naming options. */
    readonly render: (name: (option: string) => string) => string,
  ) {
    super(render(libraryName));
    this.name = 'PruneOptionError';
  }
}

function libraryName(option: string): string {
  return `options.${option}`;
}

/** Thrown when the context's AbortSignal fires: the work stops and nothing is returned. */
export class PruneAbortedError extends Error {
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : 'aborted');
    this.name = 'AbortError';
  }
}

/** True for any error (from any package) that declares itself the caller's fault with exitCode 2. */
export function isInputError(error: unknown): error is Error & { exitCode: 2 } {
  return error instanceof Error && (error as { exitCode?: unknown }).exitCode === 2;
}

/** Once `signal` has fired, throws its reason (an Error the caller chose), else a PruneAbortedError. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw signal.reason instanceof Error ? signal.reason : new PruneAbortedError(signal.reason);
}
