import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';

/**
 * The code block that follows `<!-- example:NAME ... -->` in the README, so the tests run the examples users
 * copy (they cannot rot).
 */
export function readmeExample(name: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- example:${name}(?=[\\s>])[^>]*-->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match) throw new Error(`README.md has no example:${name} block`);
  return match[1]!;
}
