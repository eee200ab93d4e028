import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';
import { pruneCommand } from './prune.js';
import { spectrumCommand } from './spectrum.js';
import { evalCommand } from './eval.js';
import { benchCommand } from './bench.js';
import { checkCommand } from './check.js';
import { demoCommand } from './demo.js';
import { boardCommand } from './board.js';

/** Every subcommand, in the order `--help` lists them. */
export const commands: readonly Command<never>[] = [
  inspectCommand as Command<never>,
  pruneCommand as Command<never>,
  spectrumCommand as Command<never>,
  evalCommand as Command<never>,
  benchCommand as Command<never>,
  checkCommand as Command<never>,
  demoCommand as Command<never>,
  boardCommand as Command<never>,
];
