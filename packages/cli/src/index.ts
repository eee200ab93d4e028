export { run, type RunOptions } from './run.js';
export type { Io } from './io.js';
export { ExitError, UsageError, isUserError } from './errors.js';
