import type { Argv } from 'yargs';
import type { Io } from './io.js';

/** One `specprune` subcommand. `run` returns the exit code (0 or 1) or throws (see errors.ts). */
export interface Command<A = Record<string, unknown>> {
  /** yargs command string, e.g. 'inspect <model>'. */
  command: string;
  describe: string;
  builder: (yargs: Argv) => Argv;
  run: (args: A, io: Io) => Promise<number>;
}

/** Helps commands declare typed args without repeating yargs' inference. */
export function defineCommand<A>(command: Command<A>): Command<A> {
  return command;
}
