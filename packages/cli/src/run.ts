import yargs from 'yargs';
import { ExitError, isUserError } from './errors.js';
import type { Io } from './io.js';
import { commands } from './commands/index.js';
import { VERSION } from './version.js';

export interface RunOptions {
  argv: readonly string[];
  io: Io;
}

/**
 * Runs one specprune invocation and returns its exit code; never calls process.exit and never throws
 * for user errors (they print one sentence on stderr and return 2). Internal errors return 70 and
 * print the stack only with --verbose.
 */
export async function run({ argv, io }: RunOptions): Promise<number> {
  const verbose = argv.includes('--verbose');
  let exitCode = 0;
  let failure: unknown;
  let handled = false;

  const parser = yargs([...argv])
    .scriptName('specprune')
    .usage('$0 <command> [options]\n\nPrune ONNX models by preserving their spectrum; measure, benchmark and gate them.')
    .version(VERSION)
    .option('verbose', { type: 'boolean', describe: 'print stack traces of internal errors' })
    .strict()
    .demandCommand(1, 'Name a command; `specprune --help` lists them.')
    .recommendCommands()
    // Line wrapping measures every help string: only worth it when help is printed.
    .wrap(argv.includes('--help') || argv.includes('-h') || argv.length === 0 ? Math.min(110, process.stdout.columns ?? 100) : null)
    .epilogue('Exit codes: 0 success, 1 a budget is violated, 2 bad input (message names the file or flag).')
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new ExitError(2, `${message.replace(/\.$/, '')}. Run \`specprune --help\` (or \`specprune <command> --help\`) for usage.`);
    });

  for (const command of commands) {
    parser.command(command.command, command.describe, command.builder, async (args) => {
      handled = true;
      try {
        exitCode = await command.run(args as never, io);
      } catch (error) {
        failure = error;
      }
    });
  }

  let helpOutput = '';
  try {
    await parser.parseAsync([...argv], {}, (_err, _args, output) => {
      helpOutput = output;
    });
  } catch (error) {
    failure = error;
  }
  if (helpOutput && failure === undefined && !handled) {
    io.stdout.write(helpOutput.endsWith('\n') ? helpOutput : `${helpOutput}\n`);
    return 0;
  }
  if (failure === undefined) return exitCode;
  return reportFailure(failure, io, verbose);
}

function reportFailure(error: unknown, io: Io, verbose: boolean): number {
  if (error instanceof ExitError || isUserError(error)) {
    const code = (error as { exitCode: number }).exitCode;
    io.stderr.write(`specprune: ${(error as Error).message}\n`);
    if (verbose && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return code;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`specprune: internal error: ${message}\n`);
  if (verbose && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
  else io.stderr.write('Run again with --verbose to see the stack trace, and please report it.\n');
  return 70;
}
