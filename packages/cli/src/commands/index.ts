import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';
import { benchCommand } from './bench.js';

/** Every subcommand, in the order `--help` lists them. */
export const commands: readonly Command<never>[] = [inspectCommand as Command<never>, benchCommand as Command<never>];
