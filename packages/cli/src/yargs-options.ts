import type { Argv } from 'yargs';

/** What a yargs parser knows of its options: `getOptions()`, which @types/yargs does not declare. */
export interface DeclaredOptions {
  /** Every option name as declared (`target-bytes`), positionals included. */
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  boolean: string[];
  string: string[];
  number: string[];
  array: string[];
  choices: Record<string, unknown[]>;
  default: Record<string, unknown>;
  hiddenOptions: string[];
}

export function declaredOptions(yargs: Argv): DeclaredOptions {
  return (yargs as unknown as { getOptions(): DeclaredOptions }).getOptions();
}
