/**
 * A failure the user can fix (unreachable host, wrong key, model that does not load, browser that does not
 * start, timeout). `exitCode` 2 tells the CLI to print the message as one sentence and exit 2.
 */
export class DeviceError extends Error {
  readonly exitCode = 2;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeviceError';
  }
}

/** Message of any thrown value, for wrapping into a DeviceError sentence. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().replace(/\s+/g, ' ').replace(/\.$/, '');
}
