/**
 * The user's input is wrong (not an ONNX model, truncated, unsafe external data path, ...).
 * `exitCode` 2 tells the CLI to print the message as one sentence, without a stack trace.
 */
export class OnnxInputError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OnnxInputError';
  }
}
