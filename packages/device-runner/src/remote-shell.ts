/** Quotes one word for a POSIX shell: nothing inside (spaces, quotes, $(...), backticks) is interpreted. */
export function quoteShell(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
