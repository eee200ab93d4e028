import yargs, { type Argv } from 'yargs';
import { ExitError, isUserError } from './errors.js';
import type { Io } from './io.js';
import { commands } from './commands/index.js';
import { closestFlag, dashed } from './did-you-mean.js';
import { buildWithExamples, type Example } from './help-examples.js';
import { VERSION } from './version.js';
import { helpWidth } from './fast-path.js';
import { declaredOptions } from './yargs-options.js';


/** The top-level `specprune --help` examples: the usual path from a model to a release gate. */
export const TOP_LEVEL_EXAMPLES: readonly Example[] = [
  ['$0 inspect model.onnx', "inputs (with the --shape their open dims need) and every weight"],
  ['$0 prune model.onnx -o model.pruned.onnx --shape x=1x3x224x224', 'prune to 50% sparsity, the input x run at 1x3x224x224'],
  ['$0 eval model.onnx model.pruned.onnx --shape x=1x3x224x224', "how closely the pruned model's outputs follow the original's"],
  ['$0 bench model.pruned.onnx --shape x=1x3x224x224 --target browser', 'latency and memory in headless Chromium (onnxruntime-web)'],
  ['$0 check', 'size, latency and fidelity budgets of specprune.budget.json; exit 1 when one fails'],
];

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
  const helpRequested = argv.includes('--help') || argv.includes('-h') || argv.length === 0;
  const width = helpWidth(io.stdout.columns);
  // Flags of the command being parsed (yargs runs only the matched command's builder), for "did you mean".
  let knownFlags: string[] = [];

  const parser = yargs([...argv])
    .scriptName('specprune')
    .usage('$0 <command> [options]\n\nPrune ONNX models by preserving their spectrum; measure, benchmark and gate them.')
    .version(VERSION)
    // Messages are parsed below (unknown arguments) and the rest of specprune speaks English.
    .locale('en')
    .option('verbose', { type: 'boolean', describe: 'print stack traces of internal errors' })
    .strict()
    .demandCommand(1, 'Name a command; `specprune --help` lists them.')
    .recommendCommands()
    // Line wrapping measures every help string: only worth it when help is printed.
    .wrap(helpRequested ? width : null)
    .alias('help', 'h')
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new ExitError(2, usageFailure(message, knownFlags, argv));
    });
  buildWithExamples(
    parser,
    (y) =>
      y
        .example([...TOP_LEVEL_EXAMPLES] as [string, string][])
        .epilogue('Exit codes: 0 success, 1 a budget is violated, 2 bad input (message names the file or flag), 130/143 interrupted (SIGINT/SIGTERM), 70 internal error (a bug). Reference: docs/cli.md.'),
    width,
  );
  knownFlags = flagNames(parser);

  for (const command of commands) {
    const builder = (y: Argv) => {
      buildWithExamples(y, command.builder, width);
      knownFlags = flagNames(y);
      return y;
    };
    parser.command(command.command, command.describe, builder, async (args) => {
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

/** Every flag name and alias the parser knows (without dashes). */
function flagNames(y: Argv): string[] {
  const options = declaredOptions(y);
  return [...new Set([...Object.keys(options.key), ...Object.values(options.alias).flat()])].filter((name) => name !== '$0');
}

/**
 * The one sentence for a yargs usage failure: an unknown argument close to a known flag gets
 * "Did you mean --sparsity?", a misspelt command yargs' own suggestion; anything else points at --help.
 */
function usageFailure(message: string, flags: readonly string[], argv: readonly string[]): string {
  const command = /^Did you mean (.+)\?$/.exec(message);
  if (command) return `${argv.find((arg) => !arg.startsWith('-'))} is not a command. Did you mean ${command[1]}? (\`specprune --help\` lists the commands.)`;
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown) {
    // yargs lists a hyphenated name twice (`acept-new-host-key, aceptNewHostKey`): keep what was typed.
    const listed = unknown[1]!.split(', ');
    const names = listed.filter((name) => !listed.some((other) => other !== name && other.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) === name));
    const sentence = `Unknown argument${names.length > 1 ? 's' : ''}: ${names.join(', ')}`;
    const suggestions = [...new Set(names.map((name) => closestFlag(name, flags)).filter((s): s is string => s !== undefined))];
    if (suggestions.length) return `${sentence}. Did you mean ${suggestions.map(dashed).join(', ')}?`;
    return `${sentence}. Run \`specprune --help\` (or \`specprune <command> --help\`) for usage.`;
  }
  return `${message.replace(/\.$/, '')}. Run \`specprune --help\` (or \`specprune <command> --help\`) for usage.`;
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
