import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** The specprune version, recorded in the provenance of every model it writes. */
export const VERSION: string = pkg.version;
