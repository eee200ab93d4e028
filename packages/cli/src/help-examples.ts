import type { Argv } from 'yargs';

/** An example as a command declares it with yargs' `.example(command, description)`. */
export type Example = readonly [command: string, description: string];

/** The name `$0` stands for in examples. */
const SCRIPT_NAME = 'specprune';
/** Left margin of an example's command, and of its description when it goes on the next line. */
const COMMAND_INDENT = '  ';
const DESCRIPTION_INDENT = '      ';

/**
 * Renders an "Examples:" section in which no command is ever broken across lines, so copying a line
 * gives a whole command. yargs lays examples out in two columns, the command column capped at half the
 * help width, and wraps longer commands mid-command. Here, when every command and its description fit
 * side by side within `width` columns they are laid out like yargs does; otherwise each command gets
 * a line of its own with its description indented on the next.
 */
export function renderExamples(examples: readonly Example[], width: number): string {
  const rows = examples.map(([command, description]) => [command.replace(/\$0/g, SCRIPT_NAME), description] as const);
  const commandWidth = Math.max(...rows.map(([command]) => command.length));
  const sideBySide = rows.every(([, description]) => COMMAND_INDENT.length + commandWidth + 2 + description.length <= width);
  const lines = rows.flatMap(([command, description]) => {
    if (!description) return [`${COMMAND_INDENT}${command}`];
    if (sideBySide) return [`${COMMAND_INDENT}${command.padEnd(commandWidth)}  ${description}`];
    return [`${COMMAND_INDENT}${command}`, `${DESCRIPTION_INDENT}${description}`];
  });
  // The blank line ends the section (yargs joins epilogues with single newlines).
  return ['Examples:', ...lines, ''].join('\n');
}

/**
 * Runs a command's yargs builder, taking over its `.example()` and `.epilogue()` calls: the examples are
 * rendered by renderExamples (for help printed `width` columns wide) and given to yargs as the first
 * epilogue, followed by the builder's own epilogues.
 */
export function buildWithExamples(yargs: Argv, build: (yargs: Argv) => Argv, width: number): void {
  const examples: Example[] = [];
  const epilogues: string[] = [];
  // The builder chains calls on this same instance (every yargs method returns `this`), so own
  // properties shadow yargs' methods for exactly the builder's run.
  const target = yargs as unknown as Record<string, unknown>;
  const addExample = (command: string | Example[], description?: string): Argv => {
    if (Array.isArray(command)) examples.push(...command.map(([c, d]) => [c, d ?? ''] as const));
    else examples.push([command, description ?? '']);
    return yargs;
  };
  const addEpilogue = (text: string): Argv => {
    epilogues.push(text);
    return yargs;
  };
  target.example = addExample;
  target.epilogue = addEpilogue;
  target.epilog = addEpilogue;
  try {
    build(yargs);
  } finally {
    delete target.example;
    delete target.epilogue;
    delete target.epilog;
  }
  if (examples.length) yargs.epilogue(renderExamples(examples, width));
  for (const text of epilogues) yargs.epilogue(text);
}
