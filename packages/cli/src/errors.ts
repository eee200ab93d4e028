/**
 * Errors the CLI maps to exit codes. Libraries signal "the user's input is wrong" by throwing an error
 * whose `exitCode` is 2 (see `isUserError`); they never exit or print themselves.
 */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

/** Wrong flags, missing files, corrupt models, unreachable devices: exit 2. */
export class UsageError extends ExitError {
  constructor(message: string) {
    super(2, message);
    this.name = 'UsageError';
  }
}

/** True for any error (from any package) that declares itself the user's fault with exitCode 2. */
export function isUserError(error: unknown): error is Error & { exitCode: 2 } {
  return error instanceof Error && (error as { exitCode?: unknown }).exitCode === 2;
}
